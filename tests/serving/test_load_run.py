"""``tsssm.load_run`` and ``tsssm predict``: a finished run's models predict new data with
the run's own preprocessing, and reproduce the run's predictions.parquet on its test data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import tsssm
from tsssm.cli import main
from tsssm.data import DataError, load_series
from tsssm.recipes import Recipe, from_dict
from tsssm.runs import RunFileError
from tsssm.tasks import TASKS

from ..recipes.conftest import HORIZON, LOOKBACK, tiny_recipe

TINY_TRAIN = {"max_epochs": 1, "batch_size": 16, "lr": 3e-3, "seed": 5, "threads": 1,
              "progress_bar": False, "checkpoint_every_n_steps": 5}


def start(recipe: dict[str, Any], root: Path) -> Path:
    run = Recipe.start(from_dict(recipe, source="test"), root)
    run.run()
    return run.folder.path


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> Path:
    recipe = tiny_recipe(tiny_csv, run={"name": "tiny", "baselines": ["dlinear"]},
                         train=TINY_TRAIN)
    return start(recipe, tmp_path_factory.mktemp("runs"))


def assert_same_rows(ours: pl.DataFrame, recorded: pl.DataFrame, keys: list[str]) -> None:
    """``recorded``'s rows are in ``ours`` with the same values (floats to 1e-5)."""
    joined = recorded.join(ours, on=keys, how="left", suffix="_ours")
    assert joined.height == recorded.height
    for column in recorded.columns:
        if column in keys:
            continue
        mine = joined[f"{column}_ours"]
        assert mine.null_count() == joined[column].null_count(), column
        if recorded[column].dtype.is_float():
            np.testing.assert_allclose(mine.to_numpy(), joined[column].to_numpy(),
                                       rtol=1e-5, atol=1e-5, err_msg=column)
        else:
            assert mine.to_list() == joined[column].to_list(), column


def test_forecasts_reproduce_the_run_predictions(forecast_run: Path, tiny_csv: Path) -> None:
    recorded = pl.read_parquet(forecast_run / "predictions.parquet")
    run = tsssm.load_run(forecast_run)
    assert run.model == "smamba" and list(run.models) == ["smamba", "dlinear"]
    for name, predictor in run.models.items():
        ours = predictor.predict(tiny_csv)
        assert ours.columns == list(TASKS["forecasting"].prediction_columns)
        assert_same_rows(ours, recorded.filter(pl.col("model") == name),
                         ["model", "window", "step", "variate"])


def test_forecast_from_a_frame_reaches_past_its_end(forecast_run: Path, tiny_csv: Path
                                                    ) -> None:
    frame = load_series(tiny_csv).tail(LOOKBACK + 5)
    forecasts = tsssm.load_run(forecast_run, model="dlinear").predict(frame.to_pandas())
    last = forecasts.filter(pl.col("window") == forecasts["window"].max())
    assert last["window"][0] == 5 and last.height == HORIZON * 3
    assert last["truth"].null_count() == last.height  # all past the end of the frame
    step = frame["date"][-1] - frame["date"][-2]
    assert last["timestamp"].max() == frame["date"][-1] + HORIZON * step
    assert last["prediction_raw"].is_finite().all()


def test_forecast_errors(forecast_run: Path, tiny_csv: Path) -> None:
    run = tsssm.load_run(forecast_run)
    text_dates = pl.read_csv(tiny_csv)  # the date column stays text
    with pytest.raises(DataError, match="not datetimes: parse it first"):
        run.predict(text_dates)
    with pytest.raises(DataError, match=r"lacks the columns \['b'\]"):
        run.predict(load_series(tiny_csv).drop("b"))
    with pytest.raises(DataError, match="lookback 24"):
        run.predict(load_series(tiny_csv).head(10))
    with pytest.raises(RunFileError, match=r"no model 'chimera'.*smamba, dlinear"):
        tsssm.load_run(forecast_run, model="chimera")
    with pytest.raises(RunFileError, match="not a finished run folder"):
        tsssm.load_run(forecast_run / "checkpoints")


def test_preprocessing_json_records_the_train_statistics(forecast_run: Path,
                                                         tiny_csv: Path) -> None:
    recorded = json.loads((forecast_run / "preprocessing.json").read_text())
    train = load_series(tiny_csv).drop("date").head(420).to_numpy()  # 70 % of 600 rows
    np.testing.assert_allclose(recorded["scaler"]["mean"], train.mean(axis=0))
    np.testing.assert_allclose(recorded["scaler"]["std"], train.std(axis=0))
    assert recorded["variates"] == ["a", "b", "c"] and recorded["freq"] == "h"


def test_predict_command_writes_the_file(forecast_run: Path, tiny_csv: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "forecasts.csv"
    assert main(["predict", str(forecast_run), str(tiny_csv), "--model", "dlinear",
                 "--out", str(out)]) == 0
    written = pl.read_csv(out)
    assert set(written["model"]) == {"dlinear"}
    assert written.height == (600 - LOOKBACK + 1) * HORIZON * 3
    assert "written to" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        main(["predict", str(forecast_run), str(tiny_csv), "--out", "x.json"])
    assert caught.value.code == 2


def test_series_classifier_reproduces_the_run(tmp_path: Path) -> None:
    recipe = {
        "run": {"name": "ecg", "task": "series_classification"},
        "data": {"dataset": "ECG200"},
        "model": {"name": "smamba_classifier", "d_model": 16, "d_ff": 16, "n_layers": 1,
                  "d_state": 2},
        "train": TINY_TRAIN,
    }
    run_dir = start(recipe, tmp_path)
    ours = tsssm.load_run(run_dir).predict("ECG200")
    assert_same_rows(ours, pl.read_parquet(run_dir / "predictions.parquet"), ["model", "case"])
    from tsssm.data import load_ucr

    unlabelled = tsssm.load_run(run_dir).predict(load_ucr("ECG200", "test").X[:5])
    assert unlabelled.height == 5 and unlabelled["label"].null_count() == 5
    with pytest.raises(DataError, match=r"trained on \[1, 96\]"):
        tsssm.load_run(run_dir).predict(np.zeros((2, 1, 50)))


def test_phase_recogniser_reproduces_the_run(tmp_path: Path) -> None:
    recipe = {
        "run": {"name": "phase", "task": "phase"},
        "data": {"dataset": "cholec80", "train": [1], "val": [2], "test": [41]},
        "model": {"name": "phase_mlp", "d_model": 8, "n_layers": 1},
        "train": {**TINY_TRAIN, "batch_size": 1},
    }
    run_dir = start(recipe, tmp_path)
    ours = tsssm.load_run(run_dir).predict("cholec80", recordings=[41])
    assert_same_rows(ours, pl.read_parquet(run_dir / "predictions.parquet"),
                     ["model", "sequence", "second"])


def test_tasks_without_a_predictor_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[run]\nname = "x"\ntask = "eeg_pretraining"\n')
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(RunFileError, match=r"'eeg_pretraining' has no predictor.*forecasting"):
        tsssm.load_run(tmp_path)


@pytest.mark.slow  # ~45 s on a shared 2-core CPU: Bonn's 200 Z and S segments, read twice
def test_eeg_classifier_reproduces_the_run(tmp_path: Path) -> None:
    def segments(letter: str, numbers: range) -> list[str]:
        return [f"{letter}{n:03d}" for n in numbers]

    test = segments("Z", range(5, 7)) + segments("S", range(5, 7))
    recipe = {
        "run": {"name": "bonn", "task": "eeg_classification"},
        "data": {"dataset": "bonn", "window_s": 5.0, "label_map": {"Z": 0, "S": 1},
                 "preprocessing": [{"step": "robust_scale"}],
                 "train": segments("Z", range(1, 4)) + segments("S", range(1, 4)),
                 "val": segments("Z", range(4, 5)) + segments("S", range(4, 5)),
                 "test": test},
        "model": {"name": "femba", "embed_dim": 8, "n_blocks": 1, "patch_chans": 1,
                  "patch_times": 16, "d_state": 4, "expand": 2},
        "train": TINY_TRAIN,
    }
    run_dir = start(recipe, tmp_path)
    ours = tsssm.load_run(run_dir).predict("bonn", subjects=test)
    assert_same_rows(ours, pl.read_parquet(run_dir / "predictions.parquet"),
                     ["model", "recording", "start_s"])
    with pytest.raises(DataError, match=r"subjects \['Q001'\] have no recording"):
        tsssm.load_run(run_dir).predict("bonn", subjects=["Q001"])


def test_quantile_forecaster_reproduces_its_quantiles(tmp_path: Path, tiny_csv: Path) -> None:
    recipe = tiny_recipe(tiny_csv, run={"name": "q", "baselines": []}, train=TINY_TRAIN,
                         model={"name": "smamba", "d_model": 16, "d_ff": 16, "n_layers": 1,
                                "quantiles": [0.1, 0.5, 0.9]})
    run_dir = start(recipe, tmp_path)
    recorded = pl.read_parquet(run_dir / "predictions.parquet")
    assert "q0.9_raw" in recorded.columns
    ours = tsssm.load_run(run_dir).predict(tiny_csv)
    assert_same_rows(ours, recorded, ["model", "window", "step", "variate"])
