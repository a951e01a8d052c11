"""The study page on a real tiny study of ``tsssm tune`` (in a runs folder of its own)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import polars as pl
import pytest

from tsssm.app.views.study import parallel_frame
from tsssm.cli import main
from tsssm.runs.study import read_study

from ..tuning.conftest import tiny_study_recipe
from .conftest import charts, curve_charts, open_page, texts


@pytest.fixture(scope="module")
def study_runs(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> Path:
    root = tmp_path_factory.mktemp("study_page")
    recipe = tiny_study_recipe(root / "tiny.toml", tiny_csv, pruner="none")
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("TSSSM_RUN_DIR", "")
        assert main(["tune", str(recipe), "--trials", "3", "--output-dir",
                     str(root / "runs")]) == 0
    return root / "runs"


def test_study_page_shows_trials_charts_and_each_trial(study_runs: Path) -> None:
    (folder,) = study_runs.iterdir()
    summary = json.loads((folder / "study.json").read_text())
    app = open_page(study_runs, page="study")
    assert folder.name in texts(app.title) and not app.error
    subheaders = texts(app.subheader)
    for part in ("Trials", "Objective over trials", "Parameter importances",
                 "Parallel coordinates", "A trial's run", "Training curves"):
        assert part in subheaders
    tested = pl.from_pandas(app.dataframe[0].value)
    assert set(tested["model"]) == {"smamba", "smamba_default"}
    trials = pl.from_pandas(app.dataframe[1].value)
    assert trials["number"].to_list() == [0, 1, 2]
    assert {"train.lr", "model.d_model", "run"} <= set(trials.columns)
    assert f"Best: trial {summary['best']['number']}" in texts(app.success)[0]
    assert "best.toml" in texts(app.success)[0]
    # objective dots + best line, per-epoch curves, importances, parallel coordinates, and
    # a chart per training curve
    assert len(charts(app)) == 4 + curve_charts(app, key="trial_curves")
    trial = open_page(study_runs, page="study", trial="1")
    assert any("trials/trial-0001" in c for c in texts(trial.caption))


def test_parallel_coordinates_place_values_on_their_ranges(study_runs: Path) -> None:
    (folder,) = study_runs.iterdir()
    study = read_study(folder)
    frame = parallel_frame(study)
    assert set(frame["axis"]) == {"train.lr", "model.d_model", "val_loss"}
    lr = frame.filter(pl.col("axis") == "train.lr")
    assert lr["position"].is_between(0, 1).all()
    width = frame.filter(pl.col("axis") == "model.d_model")
    assert set(width["position"]) <= {0.0, 1.0}  # choices [8, 16] at the two ends


def test_the_run_page_of_a_study_points_to_the_study_page(study_runs: Path) -> None:
    (folder,) = study_runs.iterdir()
    app = open_page(study_runs, run=folder.name)
    assert any("Study page" in t for t in texts(app.info))
