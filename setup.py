"""Build the optional fused CPU selective-scan library.

The extension is plain C++ with no torch headers, so building it needs only a C++ compiler,
never torch itself (a build environment that imported torch would pull a CUDA build).
If it cannot be built, installation still succeeds and tsssm falls back to its pure-PyTorch
backend with a message that says how to get the fast path.
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args = ["/O2", "/std:c++17", "/fp:fast"]
else:
    compile_args = [
        "-O3", "-std=c++17", "-pthread",
        # No -ffast-math: exp2 in the kernel relies on IEEE evaluation of (x + m) - m.
        "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
    ]

setup(
    ext_modules=[
        Extension(
            "tsssm.kernels.selective_scan._cpu_scan",
            sources=["tsssm/kernels/selective_scan/csrc/cpu_scan.cpp"],
            extra_compile_args=compile_args,
            extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
            language="c++",
            optional=True,
        ),
        Extension(
            "tsssm.kernels.scan2d._cpu_scan2d",
            sources=["tsssm/kernels/scan2d/csrc/cpu_scan2d.cpp"],
            extra_compile_args=compile_args,
            extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
            language="c++",
            optional=True,
        ),
    ]
)
