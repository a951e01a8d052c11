"""Run folders for the app tests, made once per test session, and a way to open a page.

Every run is a REAL tiny run of its recipe (``real_runs``); only the damaged and unfinished
run folders the app must explain are made by hand (``troubled_runs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tsssm.app import RUNS_DIR_ENV

from ..recipes.conftest import tiny_csv
from . import real_runs, troubled_runs

__all__ = ["tiny_csv"]  # a session fixture of tests/recipes, used here through runs

SCRIPT = Path(__file__).resolve().parents[2] / "app" / "tsssm_app.py"
TIMEOUT = 60  # seconds for one script run; the first one imports torch and lightning


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> dict[str, Path]:
    """A real run of every recipe, all in one runs folder, by key (see
    ``real_runs.every_run``)."""
    root = tmp_path_factory.mktemp("app")
    return real_runs.every_run(root / "runs", root, tiny_csv)


@pytest.fixture(scope="session")
def runs_dir(runs: dict[str, Path]) -> Path:
    return runs["forecasting"].parent


@pytest.fixture(scope="session")
def forecasting_dir(runs: dict[str, Path]) -> Path:
    return runs["forecasting"]


@pytest.fixture(scope="session")
def troubled_dir(tmp_path_factory: pytest.TempPathFactory, forecasting_dir: Path) -> Path:
    runs = tmp_path_factory.mktemp("troubled") / "runs"
    troubled_runs.troubled_runs(runs, forecasting_dir)
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


def curve_charts(app: AppTest, key: str = "curves") -> int:
    """How many training-curve charts the page draws: one per chosen metric."""
    return len(app.multiselect(key=key).value)


def read_metrics(path: Path) -> dict[str, Any]:
    return json.loads((path / "metrics.json").read_text())
