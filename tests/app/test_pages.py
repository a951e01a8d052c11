"""Every page of the app under Streamlit's AppTest, on real tiny runs of every recipe (and
hand-made damaged folders): what is shown must match the run folders' files."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from tsssm.app.views.forecasting import interval_bands, step_errors
from tsssm.data import CHOLEC80_PHASES, SLEEP_STAGES
from tsssm.tasks import TASKS

from .conftest import charts, curve_charts, open_page, read_metrics, texts


def frame_of(element: object) -> pl.DataFrame:
    return pl.from_pandas(element.value)  # type: ignore[attr-defined]


def test_overview_lists_every_run_with_its_headline_metrics(runs_dir: Path,
                                                            runs: dict[str, Path]) -> None:
    app = open_page(runs_dir)
    assert texts(app.title)[0] == "Runs"
    assert not app.error and not app.warning
    table = frame_of(app.dataframe[0])
    assert sorted(table["run"]) == sorted(p.name for p in runs.values())
    assert set(table["status"]) == {"finished"}  # pre-training writes no predictions: no fault
    forecasting = table.filter(pl.col("run") == runs["forecasting"].name).row(0, named=True)
    assert forecasting["models"] == "smamba, dlinear, itransformer"
    for path in runs.values():
        row = table.filter(pl.col("run") == path.name).row(0, named=True)
        config = tomllib.loads((path / "config.toml").read_text())
        assert row["task"] == config["run"]["task"]
        main = config["model"]["name"]
        assert row["models"].split(", ")[0] == main
        test = read_metrics(path)[main]["test"]
        for metric in TASKS[row["task"]].headline_metrics:
            assert row[f"test {metric}"] == pytest.approx(test[metric], nan_ok=True), path.name


def test_overview_filters_and_sorts(runs_dir: Path, runs: dict[str, Path]) -> None:
    app = open_page(runs_dir)
    app.multiselect(key="filter_task").set_value(["eeg_classification", "anomaly_detection"])
    app.selectbox(key="sort_by").set_value("run")
    app.toggle(key="sort_descending").set_value(False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUNS_DIR", str(runs_dir))
        app.run()
    assert frame_of(app.dataframe[0])["run"].to_list() == sorted(
        [runs["anomaly"].name, runs["eeg"].name])


def test_forecasting_run_page(forecasting_dir: Path, runs_dir: Path) -> None:
    app = open_page(runs_dir, run=forecasting_dir.name)
    assert texts(app.title)[0] == forecasting_dir.name
    # The lookback came from the run's inputs.parquet.
    assert not app.error and not app.warning and not app.info
    assert "Forecasts" in texts(app.header)
    metrics = read_metrics(forecasting_dir)
    table = frame_of(app.dataframe[0])
    assert table["model"].to_list() == ["smamba", "dlinear", "itransformer"]
    for row in table.iter_rows(named=True):
        entry = metrics[row["model"]]
        assert row["role"] == entry["role"]
        assert row["test mse"] == pytest.approx(entry["test"]["mse"])
        assert row["val_loss"] == pytest.approx(entry["val_loss"])
    # forecast, error of every window, MSE and MAE by step, a chart per training curve
    assert curve_charts(app) == 2
    assert len(charts(app)) == 4 + curve_charts(app)
    assert "Training curves" in texts(app.subheader)
    assert set(app.multiselect(key="curves").value) == {"train_loss_epoch", "val_loss"}


def test_error_by_step_matches_metrics_json(forecasting_dir: Path) -> None:
    errors = step_errors(pl.scan_parquet(forecasting_dir / "predictions.parquet")).collect()
    for model, entry in read_metrics(forecasting_dir).items():
        mine = errors.filter(pl.col("model") == model).sort("step")
        np.testing.assert_allclose(mine["mse"], entry["test"]["mse_per_step"], rtol=1e-4)
        np.testing.assert_allclose(mine["mae"], entry["test"]["mae_per_step"], rtol=1e-4)


def test_forecast_plot_draws_the_quantile_models_bands(forecasting_dir: Path,
                                                        runs_dir: Path) -> None:
    frame = pl.read_parquet(forecasting_dir / "predictions.parquet")
    window = frame["window"].min()
    part = frame.filter((pl.col("variate") == "a") & (pl.col("window") == window))
    band = interval_bands(part)
    # Only S-Mamba forecast quantiles (0.1, 0.5, 0.9): one 80% band over its horizon,
    # from its own q0.1_raw to q0.9_raw, never crossing.
    assert set(band["line"]) == {"smamba"} and set(band["interval"]) == {"80%"}
    smamba = part.filter(pl.col("model") == "smamba").sort("timestamp")
    assert band.height == smamba.height
    np.testing.assert_array_equal(band.sort("timestamp")["low"], smamba["q0.1_raw"])
    assert (band["low"] < band["high"]).all()

    app = open_page(runs_dir, run=forecasting_dir.name, variate="a", window=str(window))
    forecast = json.loads(charts(app)[0].proto.spec)
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in forecast["layer"]]
    assert marks == ["area", "line"]
    assert any("central intervals" in text and "80%" in text for text in texts(app.caption))


def test_forecasting_lookback_comes_from_the_run_folder(forecasting_dir: Path,
                                                        tmp_path: Path) -> None:
    # The data file moved away: the lookback is still drawn, from inputs.parquet.
    copy = tmp_path / "runs" / forecasting_dir.name
    shutil.copytree(forecasting_dir, copy, ignore=shutil.ignore_patterns("checkpoints"))
    config = copy / "config.toml"
    config.write_text(config.read_text().replace('dataset = "', 'dataset = "/moved/'))
    app = open_page(tmp_path / "runs", run=copy.name)
    assert not app.warning and not app.info
    # A run written before inputs.parquet existed: the forecast window alone, with a note.
    (copy / "inputs.parquet").unlink()
    app = open_page(tmp_path / "runs", run=copy.name)
    (note,) = texts(app.info)
    assert note.startswith("Lookback not shown: inputs.parquet is missing")
    assert len(charts(app)) == 4 + curve_charts(app)  # the forecast window is still drawn


def test_phase_page(runs: dict[str, Path]) -> None:
    path = runs["phase"]
    app = open_page(path.parent, run=path.name, sequence="video42")
    assert "Phases" in texts(app.header) and not app.error
    assert app.selectbox(key="sequence").value == "video42"
    predictions = pl.read_parquet(path / "predictions.parquet").filter(
        (pl.col("sequence") == "video42") & (pl.col("model") == "phase_mlp"))
    truth, predicted = predictions["truth"] == "Preparation", (
        predictions["prediction"] == "Preparation")
    jaccard = frame_of(app.dataframe[1])
    assert jaccard["phase"].to_list() == list(CHOLEC80_PHASES)  # Cholec80's order
    assert jaccard["phase_mlp"][0] == pytest.approx(
        (truth & predicted).sum() / (truth | predicted).sum())
    per_sequence = frame_of(app.dataframe[2])
    assert per_sequence["model"].to_list() == ["phase_ssm", "phase_mlp"]
    for row in per_sequence.iter_rows(named=True):
        (expected,) = [e for e in read_metrics(path)[row["model"]]["per_sequence"]
                       if e["sequence"] == "video42"]
        assert row["accuracy"] == pytest.approx(expected["accuracy"])
        assert row["steps"] == expected["steps"] == predictions.height
    assert len(charts(app)) == 2 + curve_charts(app)  # ribbons, progress, training curves


def test_sleep_staging_page(runs: dict[str, Path]) -> None:
    path = runs["sleep"]
    app = open_page(path.parent, run=path.name)
    assert "Phases" in texts(app.header) and not app.error
    night = app.selectbox(key="sequence").value
    assert frame_of(app.dataframe[1])["phase"].to_list() == list(SLEEP_STAGES)
    (row,) = frame_of(app.dataframe[2]).iter_rows(named=True)
    (expected,) = [e for e in read_metrics(path)["phase_ssm"]["per_sequence"]
                   if e["sequence"] == night]
    for key in ("accuracy", "macro_f1", "kappa"):
        assert row[key] == pytest.approx(expected[key], nan_ok=True)


def auc_heading(metrics: dict[str, float]) -> str:
    return f"ROC (AUC {metrics['auroc']:.3f})"


def test_eeg_page(runs: dict[str, Path]) -> None:
    path = runs["eeg"]
    app = open_page(path.parent, run=path.name, model="femba_mamba_head")
    assert "EEG windows" in texts(app.header) and not app.error
    entry = read_metrics(path)["femba_mamba_head"]
    frame = pl.read_parquet(path / "predictions.parquet").filter(
        pl.col("model") == "femba_mamba_head")
    # "probability" is that of metrics.json's second class: the curves are about it.
    assert entry["classes"] == ["rest", "arithmetic"]
    auc = roc_auc_score(frame["label"] == "arithmetic", frame["probability"])
    assert auc == pytest.approx(entry["test"]["auroc"])
    assert auc_heading(entry["test"]) in texts(app.subheader)
    subjects = frame_of(app.dataframe[1])
    assert subjects["subject"].to_list() == sorted(entry["per_group"])
    for row in subjects.iter_rows(named=True):
        expected = entry["per_group"][row["subject"]]
        mine = frame.filter(pl.col("subject") == row["subject"])
        assert row["windows"] == expected["windows"] == mine.height
        assert row["accuracy"] == pytest.approx(expected["accuracy"])
        assert row["accuracy"] == pytest.approx((mine["label"] == mine["prediction"]).mean())
    # timeline ribbons, probability, confusion matrix, ROC, precision-recall, curves
    assert len(charts(app)) == 5 + curve_charts(app)


def test_classification_page(runs: dict[str, Path]) -> None:
    path = runs["classification"]
    app = open_page(path.parent, run=path.name, model="smamba_classifier")
    assert "Classified cases" in texts(app.header) and not app.error
    entry = read_metrics(path)["smamba_classifier"]
    frame = pl.read_parquet(path / "predictions.parquet").filter(
        pl.col("model") == "smamba_classifier")
    wrong = frame.filter(pl.col("label") != pl.col("prediction"))
    heading = f"Misclassified: {wrong.height} of {entry['test']['windows']}"
    assert heading in texts(app.subheader)
    assert wrong.height == round((1 - entry["test"]["accuracy"]) * frame.height)
    assert frame_of(app.dataframe[1])["case"].to_list() == wrong["case"].to_list()
    assert auc_heading(entry["test"]) in texts(app.subheader)
    # probabilities by case, confusion matrix, ROC, precision-recall, training curves
    assert len(charts(app)) == 4 + curve_charts(app)


def test_pretraining_page(runs: dict[str, Path]) -> None:
    path = runs["eeg_pretrain"]
    assert not (path / "predictions.parquet").exists()
    app = open_page(path.parent, run=path.name)
    assert "Pre-training" in texts(app.header)
    assert not app.error and not app.warning and not app.info
    entry = read_metrics(path)["femba_pretrain"]
    (row,) = frame_of(app.dataframe[1]).iter_rows(named=True)
    test = entry["test"]
    assert row["reconstruction_loss"] == pytest.approx(test["reconstruction_loss"])
    assert row["ratio"] == pytest.approx(test["reconstruction_loss"] / test["zero_loss"])
    assert row["test windows"] == test["windows"]
    facts = dict(frame_of(app.dataframe[2]).iter_rows())
    assert facts["test subjects"] == ", ".join(entry["windows"]["subjects"]["test"])
    assert facts["training windows"] == str(entry["windows"]["train_windows"])
    assert len(charts(app)) == curve_charts(app)  # training curves only
    assert "val_loss" in app.multiselect(key="curves").value


def test_anomaly_page(runs: dict[str, Path]) -> None:
    path = runs["anomaly"]
    app = open_page(path.parent, run=path.name, series="KDD-TSAD_135")
    assert "Anomalies" in texts(app.header) and not app.error
    (row,) = frame_of(app.dataframe[1]).iter_rows(named=True)
    test = read_metrics(path)["chimera_anomaly"]["test"]
    assert (row["steps"], row["anomalies"], row["flagged"]) == (
        test["steps"], test["anomalies"], test["flagged"])
    for key in ("precision", "recall", "f1"):
        assert row[key] == pytest.approx(test[key])
    assert len(charts(app)) == 2 + curve_charts(app)  # value, score, training curves


def test_compare_page(runs_dir: Path, runs: dict[str, Path]) -> None:
    forecasting, phase = runs["forecasting"].name, runs["phase"].name
    app = open_page(runs_dir, page="compare", compare=f"{forecasting},{phase}")
    assert texts(app.title)[0] == "Compare runs"
    table = frame_of(app.dataframe[0])
    assert set(table["run"]) == {forecasting, phase}
    assert table.height == 5  # 3 forecasting models, 2 phase models
    smamba = table.filter(pl.col("model") == "smamba").row(0, named=True)
    expected = read_metrics(runs["forecasting"])["smamba"]["test"]["mse"]
    assert smamba["test mse"] == pytest.approx(expected)
    # one chart per curve, each with both runs' models overlaid
    assert len(charts(app)) == curve_charts(app, key="compare_curves")
    for chart in charts(app):
        assert forecasting in chart.proto.spec and phase in chart.proto.spec


def test_compare_needs_two_runs(runs_dir: Path, runs: dict[str, Path]) -> None:
    app = open_page(runs_dir, page="compare", compare=runs["eeg"].name)
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
    assert "bad-json: metrics.json is not valid JSON" in texts(overview.warning)[0]

    app = open_page(troubled_dir, run="bad-json")
    assert "metrics.json is not valid JSON" in texts(app.error)[0]
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
