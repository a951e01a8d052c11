"""Build the optional CPU kernel libraries (the fused selective scans, dropout), and carry the
recipes, the bundled data sets and the kernel benchmark into the package.

Each library is plain C++ with no torch headers, so building it needs only a C++ compiler,
never torch itself (a build environment that imported torch would pull a CUDA build).
If it cannot be built, installation still succeeds and tsssm falls back to its pure-PyTorch
backend with a message that says how to get the fast path.

The top-level ``recipes/``, ``datasets/`` and ``benchmarks/kernels/`` stay where people run and
read them (DESIGN.md); a built package (wheel, ``pip install .``) gets copies under
``tsssm/_data/``, where ``tsssm.resources`` finds them. An editable install reads the
checkout's folders directly and copies nothing.
"""

import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# folder of the checkout -> its place under tsssm/_data/ (see tsssm/resources.py)
PACKAGE_DATA_FOLDERS = {
    "recipes": "recipes",
    "datasets": "datasets",
    "benchmarks/kernels": "benchmarks/kernels",
}
# Not shipped: bundle-building scripts of datasets/, recorded benchmark results, caches.
LEFT_OUT = shutil.ignore_patterns("__pycache__", ".*", "make_bundle.py", "results")


class BuildPyWithResources(build_py):
    """``build_py`` that also copies :data:`PACKAGE_DATA_FOLDERS` into ``tsssm/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "tsssm" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # nothing left over from an earlier build
        for source, destination in PACKAGE_DATA_FOLDERS.items():
            if (HERE / source).is_dir():  # an sdist without them builds a package without them
                shutil.copytree(HERE / source, target / destination, ignore=LEFT_OUT,
                                dirs_exist_ok=True)

if sys.platform == "win32":
    compile_args = ["/O2", "/std:c++17", "/fp:fast"]
else:
    compile_args = [
        "-O3", "-std=c++17", "-pthread",
        # No -ffast-math: exp2 in the kernel relies on IEEE evaluation of (x + m) - m.
        "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
    ]

# Vector maths, tiles, instruction sets and the worker pool that every kernel includes.
SHARED_HEADER = "tsssm/kernels/csrc/vector_kernels.h"


def kernel_extension(module: str, source: str) -> Extension:
    """An optional C++ kernel library (installation goes on without it)."""
    return Extension(
        module,
        sources=[source],
        depends=[SHARED_HEADER],
        extra_compile_args=compile_args,
        extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
        language="c++",
        optional=True,
    )


setup(
    cmdclass={"build_py": BuildPyWithResources},
    ext_modules=[
        kernel_extension("tsssm.kernels.selective_scan._cpu_scan",
                         "tsssm/kernels/selective_scan/csrc/cpu_scan.cpp"),
        kernel_extension("tsssm.kernels.scan2d._cpu_scan2d",
                         "tsssm/kernels/scan2d/csrc/cpu_scan2d.cpp"),
        kernel_extension("tsssm.kernels.dropout._cpu_dropout",
                         "tsssm/kernels/dropout/csrc/cpu_dropout.cpp"),
    ],
)
