"""Every page of the app under Streamlit's AppTest, on real and hand-made run folders: what
is shown must match the run folders' files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from tsssm.app.views.forecasting import step_errors

from .conftest import charts, open_page, read_metrics, texts


def frame_of(element: object) -> pl.DataFrame:
    return pl.from_pandas(element.value)  # type: ignore[attr-defined]


def test_overview_lists_every_run_with_its_headline_metrics(runs_dir: Path,
                                                            forecasting_dir: Path) -> None:
    app = open_page(runs_dir)
    assert texts(app.title)[0] == "Runs"
    assert not app.error and not app.warning
    table = frame_of(app.dataframe[0])
    assert sorted(table["run"]) == sorted(p.name for p in runs_dir.iterdir())
    assert set(table["status"]) == {"finished"}
    row = table.filter(pl.col("run") == forecasting_dir.name).row(0, named=True)
    test = read_metrics(forecasting_dir)["smamba"]["test"]
    assert row["test mse"] == pytest.approx(test["mse"])
    assert row["test mae"] == pytest.approx(test["mae"])
    assert row["models"] == "smamba, dlinear, itransformer" and row["task"] == "forecasting"
    assert table.filter(pl.col("task") == "phase")["test accuracy"][0] == pytest.approx(
        read_metrics(runs_dir / "handmade-phase")["main_model"]["test"]["accuracy"])


def test_overview_filters_and_sorts(runs_dir: Path) -> None:
    app = open_page(runs_dir)
    app.multiselect(key="filter_task").set_value(["eeg", "anomaly"])
    app.selectbox(key="sort_by").set_value("run")
    app.toggle(key="sort_descending").set_value(False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUNS_DIR", str(runs_dir))
        app.run()
    assert frame_of(app.dataframe[0])["run"].to_list() == ["handmade-anomaly", "handmade-eeg"]


def test_forecasting_run_page(forecasting_dir: Path, runs_dir: Path) -> None:
    app = open_page(runs_dir, run=forecasting_dir.name)
    assert texts(app.title)[0] == forecasting_dir.name
    assert not app.error and not app.warning  # the lookback came from the data file
    assert "Forecasts" in texts(app.header)
    metrics = read_metrics(forecasting_dir)
    table = frame_of(app.dataframe[0])
    assert table["model"].to_list() == ["smamba", "dlinear", "itransformer"]
    for row in table.iter_rows(named=True):
        entry = metrics[row["model"]]
        assert row["role"] == entry["role"]
        assert row["test mse"] == pytest.approx(entry["test"]["mse"])
        assert row["val_loss"] == pytest.approx(entry["val_loss"])
    # forecast, MSE and MAE by step, training curves
    assert len(charts(app)) == 4
    assert "Training curves" in texts(app.subheader)
    assert set(app.multiselect(key="curves").value) == {"train_loss_epoch", "val_loss"}


def test_error_by_step_matches_metrics_json(forecasting_dir: Path) -> None:
    errors = step_errors(pl.read_parquet(forecasting_dir / "predictions.parquet"))
    for model, entry in read_metrics(forecasting_dir).items():
        mine = errors.filter(pl.col("model") == model).sort("step")
        np.testing.assert_allclose(mine["mse"], entry["test"]["mse_per_step"], rtol=1e-4)
        np.testing.assert_allclose(mine["mae"], entry["test"]["mae_per_step"], rtol=1e-4)


def test_forecasting_without_its_data_file(forecasting_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "runs" / forecasting_dir.name
    shutil.copytree(forecasting_dir, copy, ignore=shutil.ignore_patterns("checkpoints"))
    config = copy / "config.toml"
    config.write_text(config.read_text().replace('dataset = "', 'dataset = "/moved/'))
    app = open_page(tmp_path / "runs", run=copy.name)
    (warning,) = texts(app.warning)
    assert warning.startswith("Lookback not shown") and "/moved/" in warning
    assert len(charts(app)) == 4  # the forecast window is still drawn


def test_phase_page(runs_dir: Path) -> None:
    app = open_page(runs_dir, run="handmade-phase", sequence="video42")
    assert "Phases" in texts(app.header) and not app.error
    assert app.selectbox(key="sequence").value == "video42"
    predictions = pl.read_parquet(runs_dir / "handmade-phase" / "predictions.parquet").filter(
        (pl.col("sequence") == "video42") & (pl.col("model") == "baseline_model"))
    truth, predicted = predictions["truth"] == "Preparation", (
        predictions["prediction"] == "Preparation")
    jaccard = frame_of(app.dataframe[1])
    assert jaccard["phase"][0] == "Preparation"  # Cholec80's order, not alphabetical
    assert jaccard["baseline_model"][0] == pytest.approx(
        (truth & predicted).sum() / (truth | predicted).sum())
    per_sequence = frame_of(app.dataframe[2])
    expected = read_metrics(runs_dir / "handmade-phase")["main_model"]["per_sequence"][1]
    assert per_sequence.row(0, named=True)["accuracy"] == pytest.approx(expected["accuracy"])
    assert len(charts(app)) == 2  # ribbons, progress (no training logs)


def test_eeg_page(runs_dir: Path) -> None:
    app = open_page(runs_dir, run="handmade-eeg", model="baseline_model")
    assert "EEG windows" in texts(app.header) and not app.error
    frame = pl.read_parquet(runs_dir / "handmade-eeg" / "predictions.parquet").filter(
        pl.col("model") == "baseline_model")
    auc = roc_auc_score(frame["label"] == "seizure", frame["probability"])
    assert f"ROC (AUC {auc:.3f})" in texts(app.subheader)
    subjects = frame_of(app.dataframe[1])
    assert subjects["windows"].to_list() == [80, 80]
    s01 = frame.filter(pl.col("subject") == "s01")
    assert subjects["accuracy"][0] == pytest.approx((s01["label"] == s01["prediction"]).mean())
    # timeline ribbons, probability, confusion matrix, ROC, precision-recall
    assert len(charts(app)) == 5


def test_anomaly_page(runs_dir: Path) -> None:
    app = open_page(runs_dir, run="handmade-anomaly", series="machine-2")
    assert "Anomalies" in texts(app.header) and not app.error
    detection = frame_of(app.dataframe[1])
    frame = pl.read_parquet(runs_dir / "handmade-anomaly" / "predictions.parquet").filter(
        pl.col("model") == "main_model")
    flagged, truth = frame["score"] > frame["threshold"], frame["label"] == 1
    row = detection.filter(pl.col("model") == "main_model").row(0, named=True)
    assert row["anomalies"] == truth.sum() and row["flagged"] == flagged.sum()
    assert row["recall"] == pytest.approx((flagged & truth).sum() / truth.sum())
    assert len(charts(app)) == 2


def test_compare_page(runs_dir: Path, forecasting_dir: Path) -> None:
    app = open_page(runs_dir, page="compare", compare=f"{forecasting_dir.name},handmade-phase")
    assert texts(app.title)[0] == "Compare runs"
    table = frame_of(app.dataframe[0])
    assert set(table["run"]) == {forecasting_dir.name, "handmade-phase"}
    assert table.height == 5  # 3 forecasting models, 2 phase models
    smamba = table.filter(pl.col("model") == "smamba").row(0, named=True)
    assert smamba["test mse"] == pytest.approx(read_metrics(forecasting_dir)["smamba"]["test"][
        "mse"])
    assert len(charts(app)) == 1  # overlaid curves


def test_compare_needs_two_runs(runs_dir: Path) -> None:
    app = open_page(runs_dir, page="compare", compare="handmade-eeg")
    assert texts(app.info) == ["Pick two or more runs to compare."]


def test_empty_and_missing_runs_folders(tmp_path: Path) -> None:
    app = open_page(tmp_path)
    assert texts(app.warning)[0].startswith(f"No runs in {tmp_path} yet")
    app = open_page(tmp_path / "nowhere")
    assert texts(app.error)[0].startswith("No runs folder")


def test_troubled_run_folders(troubled_dir: Path) -> None:
    overview = open_page(troubled_dir)
    table = frame_of(overview.dataframe[0])
    status = dict(zip(table["run"], table["status"], strict=True))
    assert status == {"bad-json": "corrupt", "bad-parquet": "finished", "no-config": "corrupt",
                      "running": "running", "interrupted": "interrupted"}
    assert "bad-json: metrics.json cannot be read" in texts(overview.warning)[0]

    app = open_page(troubled_dir, run="bad-json")
    assert "metrics.json cannot be read" in texts(app.error)[0]
    app = open_page(troubled_dir, run="bad-parquet")
    assert any("predictions.parquet cannot be read" in e for e in texts(app.error))
    app = open_page(troubled_dir, run="no-config")
    assert "config.toml is missing" in texts(app.error)[0]
    app = open_page(troubled_dir, run="running")
    assert any("still running" in w for w in texts(app.warning))
    assert any(i.startswith("No metrics yet") for i in texts(app.info))
    assert "Resumed: this run took 2 attempts." in texts(app.info)
    app = open_page(troubled_dir, run="interrupted")
    assert any("interrupted" in w and "--resume" in w for w in texts(app.warning))
