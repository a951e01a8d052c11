"""Run folders for the app tests, made once per test session, and a way to open a page.

The forecasting run is a REAL tiny run of the forecasting recipe (see tests/recipes); the
phase, EEG and anomaly runs are hand-made stand-ins until their recipes exist (see
``handmade_runs``).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tsssm.app import RUNS_DIR_ENV
from tsssm.cli import main

from ..recipes.conftest import tiny_csv, tiny_recipe, write_recipe
from . import handmade_runs

__all__ = ["tiny_csv"]  # a session fixture of tests/recipes, used here through runs_dir

SCRIPT = Path(__file__).resolve().parents[2] / "app" / "tsssm_app.py"
TIMEOUT = 60  # seconds for one script run; the first one imports torch and lightning


def real_forecasting_run(runs_dir: Path, recipe_dir: Path, dataset: Path) -> Path:
    """One tiny forecasting run (S-Mamba, DLinear, iTransformer; a few seconds)."""
    recipe = write_recipe(recipe_dir / "tiny.toml", tiny_recipe(
        dataset, train={"max_epochs": 2, "limit_train_batches": 8}))
    threads = torch.get_num_threads()
    before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("TSSSM_RUN_DIR", "")
        assert main(["run", str(recipe), "--output-dir", str(runs_dir)]) == 0
    torch.set_num_threads(threads)
    (run_dir,) = set(runs_dir.iterdir()) - before
    return run_dir


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> Path:
    """A runs folder with a real forecasting run and hand-made phase, EEG, anomaly runs."""
    root = tmp_path_factory.mktemp("app")
    runs = root / "runs"
    real_forecasting_run(runs, root, tiny_csv)
    handmade_runs.phase_run(runs)
    handmade_runs.eeg_run(runs)
    handmade_runs.anomaly_run(runs)
    return runs


@pytest.fixture(scope="session")
def forecasting_dir(runs_dir: Path) -> Path:
    (path,) = [p for p in runs_dir.iterdir() if p.name.startswith("tiny-")]
    return path


@pytest.fixture(scope="session")
def troubled_dir(tmp_path_factory: pytest.TempPathFactory, forecasting_dir: Path) -> Path:
    runs = tmp_path_factory.mktemp("troubled") / "runs"
    handmade_runs.troubled_runs(runs, forecasting_dir)
    return runs


def open_page(runs: Path, **query: str) -> AppTest:
    """The app on ``runs`` with the URL query ``query`` (``run="NAME"``), run once; fails the
    test on any exception shown."""
    app = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT)
    app.query_params.update(query)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(RUNS_DIR_ENV, str(runs))
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(elements: Any) -> list[str]:
    return [str(element.value) for element in elements]


def charts(app: AppTest) -> list[Any]:
    return list(app.get("vega_lite_chart"))


def read_metrics(path: Path) -> dict[str, Any]:
    return json.loads((path / "metrics.json").read_text())
