"""The "anomaly" recipe: reconstruction training on the anomaly-free prefix, a threshold from
training scores only, point-wise and point-adjusted metrics, the "anomaly" predictions
schema, and clear errors for series it cannot score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars
import pytest

from tsssm.data import smoothed_scores
from tsssm.data.series import DataError
from tsssm.metrics import detection_metrics
from tsssm.recipes import ConfigError, Recipe, from_dict
from tsssm.runs import RunFolder
from tsssm.tasks.anomaly_detection import PREDICTION_COLUMNS as ANOMALY
from tsssm.tasks.anomaly_detection import AnomalyRecipe

N_STEPS, TRAIN_END, SPIKE = 900, 400, (650, 662)
TINY = {"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4,
        "dropout": 0.0}


@pytest.fixture(scope="module")
def spiky_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A noisy sine (period 20) with a burst of large values at steps 650-661 (labelled)."""
    rng = np.random.default_rng(0)
    t = np.arange(N_STEPS)
    value = np.sin(2 * np.pi * t / 20) + 0.05 * rng.standard_normal(N_STEPS)
    label = np.zeros(N_STEPS, dtype=np.int64)
    label[SPIKE[0]:SPIKE[1]] = 1
    value[label == 1] += 4.0 * np.sin(2 * np.pi * np.arange(SPIKE[1] - SPIKE[0]) / 3)
    path = tmp_path_factory.mktemp("anomaly") / "spiky.csv"
    polars.DataFrame({"value": value, "is_anomaly": label}).write_csv(path)
    return path


def recipe(dataset: Path | str, **data: Any) -> dict[str, Any]:
    return {
        "run": {"name": "spiky", "task": "anomaly_detection"},
        "data": {"dataset": str(dataset), "train_end": TRAIN_END, "window": 20,
                 "stride": 2, "score_stride": 5, **data},
        "model": {"name": "chimera_anomaly", **TINY},
        "train": {"max_epochs": 3, "batch_size": 16, "lr": 5e-3, "seed": 3, "threads": 1,
                  "progress_bar": False},
    }


@pytest.fixture(scope="module")
def spiky_run(spiky_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    config = from_dict(recipe(spiky_csv), source="test")
    run = Recipe.start(config, tmp_path_factory.mktemp("runs"))
    assert isinstance(run, AnomalyRecipe)
    run.run()
    return run.folder


def test_metrics_report_point_wise_and_point_adjusted_figures(spiky_run: RunFolder) -> None:
    entry = spiky_run.metrics()["chimera_anomaly"]
    test = entry["test"]
    for key in ("precision", "recall", "f1", "precision_point_adjusted",
                "recall_point_adjusted", "f1_point_adjusted", "auroc", "aupr", "threshold"):
        assert np.isfinite(test[key]), key
    assert test["steps"] == N_STEPS - TRAIN_END
    assert (test["anomalies"], test["segments"]) == (SPIKE[1] - SPIKE[0], 1)
    # Point adjustment can only raise recall.
    assert test["recall_point_adjusted"] >= test["recall"]
    # The threshold is the 0.99 quantile of the held-out validation stretch's scores.
    assert entry["val_flagged_fraction"] == pytest.approx(0.01, abs=0.006)
    assert test["auroc"] > 0.9  # the burst reconstructs far worse than the sine


def test_period_smoothing_is_found_on_the_prefix_and_applied(
        spiky_csv: Path, spiky_run: RunFolder, tmp_path: Path) -> None:
    config = from_dict(recipe(spiky_csv, smoothing="period"), source="test")
    run = Recipe.start(config, tmp_path)
    run.run()
    entry = run.folder.metrics()["chimera_anomaly"]
    assert entry["smoothing_steps"] == 20  # the sine's period, from the prefix alone
    assert spiky_run.metrics()["chimera_anomaly"]["smoothing_steps"] == 1

    def scores(folder: RunFolder) -> np.ndarray:
        return polars.read_parquet(folder.path / "predictions.parquet")["score"].to_numpy()

    # Same seed, same model: the test scores are the unsmoothed run's, moving-averaged over
    # 20 steps (away from the test's first steps, whose window reaches into the prefix).
    expected = smoothed_scores(scores(spiky_run), 20)
    np.testing.assert_allclose(scores(run.folder)[10:], expected[10:], rtol=1e-6)
    assert entry["test"]["auroc"] > 0.9


def test_predictions_follow_the_anomaly_schema(spiky_run: RunFolder) -> None:
    frame = polars.read_parquet(spiky_run.path / "predictions.parquet")
    assert tuple(frame.columns) == ANOMALY
    assert frame.height == N_STEPS - TRAIN_END
    assert frame["time"].to_list() == list(np.arange(TRAIN_END, N_STEPS, dtype=float))
    assert frame["label"].sum() == SPIKE[1] - SPIKE[0]
    assert frame["threshold"].n_unique() == 1
    test = spiky_run.metrics()["chimera_anomaly"]["test"]
    assert (frame["score"] > frame["threshold"]).sum() == test["flagged"]


def test_detection_metrics_names_and_counts() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    scores = np.array([0.1, 0.2, 0.9, 0.1, 0.1, 0.1, 0.8, 0.1])
    metrics = detection_metrics(labels, scores, threshold=0.5)
    assert metrics["precision"] == pytest.approx(0.5) and metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["recall_point_adjusted"] == pytest.approx(1.0)
    assert metrics["precision_point_adjusted"] == pytest.approx(0.75)
    assert (metrics["flagged"], metrics["anomalies"], metrics["segments"]) == (2, 3, 1)
    assert not any(key.startswith("pa_") for key in metrics)


def test_bundled_series_brings_its_training_prefix(tmp_path: Path) -> None:
    config = from_dict(recipe("KDD-TSAD_135", train_end=None, window=64, stride=8,
                              score_stride=16), source="test")
    run = AnomalyRecipe(config, RunFolder.create(tmp_path, "kdd"))
    run.setup()
    assert run.train_end == 1200
    assert run.windows["train"].shape[1:] == (1, 64)
    # Standardised with the training prefix's statistics only.
    assert abs(float(run.scaled[:1200].mean())) < 1e-4


def setup_error(tmp_path: Path, dataset: Path | str, **data: Any) -> None:
    config = from_dict(recipe(dataset, **data), source="test")
    AnomalyRecipe(config, RunFolder.create(tmp_path, "bad")).setup()


def test_series_without_a_training_prefix_needs_train_end(spiky_csv: Path, tmp_path: Path
                                                          ) -> None:
    with pytest.raises(ConfigError, match=r"data\.train_end"):
        setup_error(tmp_path, spiky_csv, train_end=None)


def test_a_training_prefix_holding_an_anomaly_is_refused(spiky_csv: Path, tmp_path: Path
                                                         ) -> None:
    with pytest.raises(DataError, match="labelled anomalous"):
        setup_error(tmp_path, spiky_csv, train_end=700)


def test_a_test_part_without_anomalies_is_refused(tmp_path: Path) -> None:
    calm = tmp_path / "calm.csv"
    polars.DataFrame({"value": np.sin(np.arange(300) / 3), "label": 0}).write_csv(calm)
    with pytest.raises(ConfigError, match="holds no labelled anomaly"):
        setup_error(tmp_path, calm, train_end=200, window=10)


def test_a_prefix_too_short_for_two_windows_is_refused(spiky_csv: Path, tmp_path: Path
                                                       ) -> None:
    with pytest.raises(ConfigError, match=r"needs at least data\.window"):
        setup_error(tmp_path, spiky_csv, train_end=60, window=40)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("score_stride", 30, "some steps would get no score"),
    ("threshold", "best_f1", "data.threshold must be one of"),
    ("val_fraction", 0.0, "data.val_fraction"),
    ("quantile", 1.0, "data.quantile"),
    ("smoothing", 0, "data.smoothing must be a positive integer or 'period'"),
    ("smoothing", "beat", "'data.smoothing' must be"),
])
def test_bad_data_settings_name_the_key(spiky_csv: Path, key: str, value: Any,
                                        message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(recipe(spiky_csv, **{key: value}), source="test")


def test_only_reconstruction_models_are_accepted(spiky_csv: Path) -> None:
    raw = recipe(spiky_csv)
    raw["model"] = {"name": "chimera_classifier"}
    with pytest.raises(ConfigError, match="chimera_anomaly"):
        from_dict(raw, source="test")
