"""The built wheel works where a user puts it: installed (not editable) into a fresh venv and
run from a folder outside the checkout, it finds its shipped recipes by name, its bundled data
and its compiled kernels, and trains a recipe."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_MB = 40  # the bundled data sets are ~43 MB on disk, ~31 MB compressed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, a venv's python with only the wheel installed in its own site-packages).

    The venv sees this environment's packages (torch, Lightning, ...) through a ``.pth``
    line, appended after its own site-packages, so that nothing is downloaded; the path line
    does not run this environment's editable-install hook, so ``import tsssm`` in the venv
    finds the wheel's copy only.
    """
    root = tmp_path_factory.mktemp("wheel")
    # In the checkout, as a user would (setuptools reuses build/ for the compiled kernels).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(root / "dist"), str(REPO)], check=True, timeout=600)
    (wheel,) = (root / "dist").glob("tsssm-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "-q", str(wheel)], check=True, timeout=300, env=clean_env())
    # After installing: pip would otherwise take this environment's tsssm for the wheel's.
    (Path(purelib) / "_tsssm_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return wheel, python


def clean_env() -> dict[str, str]:
    """This process's environment without what points at the checkout (``PYTHONPATH``: its
    ``tsssm.egg-info`` would pass for an installed tsssm) or at other runs and data."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TSSSM_DATA_DIR",
                                                             "TSSSM_RUN_DIR")}
    return {**env, "PYTHONWARNINGS": "ignore"}


def outside(python: Path, *args: str, cwd: Path, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """``args`` run by the venv (a console script of it, or its python) from ``cwd``."""
    command = [str(python.parent / args[0]), *args[1:]] if args[0] == "tsssm" else [
        str(python), *args]
    return subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_wheel_contents(venv: tuple[Path, Path]) -> None:
    wheel, _ = venv
    size_mb = wheel.stat().st_size / 1e6
    assert size_mb < MAX_WHEEL_MB, f"the wheel is {size_mb:.1f} MB"
    names = zipfile.ZipFile(wheel).namelist()
    for recipe in (REPO / "recipes").glob("*.toml"):
        assert f"tsssm/_data/recipes/{recipe.name}" in names
    assert "tsssm/_data/datasets/ETTh1.csv" in names
    assert "tsssm/_data/datasets/cholec80/SHA256SUMS" in names
    assert "tsssm/_data/benchmarks/kernels/bench.py" in names
    for library in ("selective_scan/_cpu_scan", "scan2d/_cpu_scan2d", "dropout/_cpu_dropout"):
        assert [n for n in names if n.startswith(f"tsssm/kernels/{library}.")], library
    assert not [n for n in names if n.startswith(("tests/", "docs/"))
                or "/results/" in n or n.endswith("make_bundle.py")]


def test_installed_wheel_outside_the_checkout(venv: tuple[Path, Path], tmp_path: Path) -> None:
    _, python = venv
    shown = outside(python, "tsssm", "--help", cwd=tmp_path)
    assert shown.returncode == 0 and "predict" in shown.stdout
    probe = outside(python, "-c", """
import tsssm
from tsssm.cli import bench_script
from tsssm.data import bundled_dataset, bundled_folder, load_ucr
from tsssm.kernels import available_backends
from tsssm.recipes import load_config
from tsssm.resources import recipe_path
print(tsssm.__file__)
print(recipe_path("etth1_smamba"))
print(load_config(recipe_path("cholec80_phase")).data.dataset)
print(bundled_dataset("ETTh1"))
print(bundled_folder("sleep_edf").root)
print(load_ucr("ECG200", "test").X.shape)
print(bench_script())
print(available_backends())
""", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    package, recipe, dataset, etth1, sleep, shape, bench, backends = probe.stdout.splitlines()
    site = Path(package).parent
    assert not site.is_relative_to(REPO) and site.is_relative_to(python.parents[1])
    for path in (recipe, etth1, sleep, bench):
        assert Path(path).is_relative_to(site / "_data"), path
    assert dataset == "cholec80" and shape == "(100, 1, 96)"
    assert "'cpu'" in backends  # the wheel's compiled kernel


def test_installed_wheel_runs_a_recipe_by_name(venv: tuple[Path, Path], tmp_path: Path) -> None:
    _, python = venv
    result = outside(python, "tsssm", "run", "etth1_smamba", "--set", "run.baselines=[]",
                     "--set", "model.d_model=16", "--set", "model.d_ff=16", "--set",
                     "train.max_epochs=1", "--set", "train.limit_train_batches=2", "--set",
                     "train.limit_val_batches=2", "--set",
                     "train.progress_bar=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "predictions.parquet").is_file()
    assert not (REPO / "runs" / run_dir.name).exists()
