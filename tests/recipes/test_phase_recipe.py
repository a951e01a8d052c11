"""The phase recipe on the bundled Cholec80 and Sleep-EDF data, with tiny models and splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tsssm.data import CHOLEC80_PHASES, SLEEP_STAGES, load_cholec80
from tsssm.recipes import ConfigError, Recipe, from_dict

from .conftest import read_metrics

TINY_TRAIN = {"max_epochs": 1, "batch_size": 2, "lr": 3e-3, "seed": 3, "threads": 1,
              "progress_bar": False, "checkpoint_every_n_steps": 5}


def phase_recipe(**data: Any) -> dict[str, Any]:
    return {
        "run": {"name": "tiny_phase", "task": "phase", "baselines": ["phase_mlp"]},
        "data": {"dataset": "cholec80", "train": [1, 2], "val": [3], "test": [41, 42], **data},
        "model": {"name": "phase_ssm", "d_model": 8, "d_state": 4, "n_local_layers": 1,
                  "n_global_layers": 1, "local_window": 4},
        "train": TINY_TRAIN,
        "baselines": {"phase_mlp": {"d_model": 8, "n_layers": 1}},
    }


@pytest.fixture(scope="module")
def cholec80_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = from_dict(phase_recipe(video_progress_weight=0.5), source="test")
    recipe = Recipe.start(config, tmp_path_factory.mktemp("runs"))
    recipe.run()
    return recipe.folder.path


def test_cholec80_run_scores_every_test_video(cholec80_run: Path) -> None:
    metrics = read_metrics(cholec80_run)
    assert set(metrics) == {"phase_ssm", "phase_mlp"}
    lengths = {s.id: len(s) for s in load_cholec80(videos=[41, 42])}
    for entry in metrics.values():
        test = entry["test"]
        assert test["sequences"] == 2
        for key in ("accuracy", "precision", "recall", "jaccard", "relaxed_accuracy"):
            assert 0.0 <= test[key] <= 1.0
        # The relaxed metrics forgive boundary errors only: never below the strict ones.
        assert test["relaxed_accuracy"] >= test["accuracy"] - 1e-12
        assert list(test["per_phase_jaccard"]) == list(CHOLEC80_PHASES)
        per_sequence = {row["sequence"]: row for row in entry["per_sequence"]}
        assert {k: v["steps"] for k, v in per_sequence.items()} == lengths
        mean = np.mean([row["accuracy"] for row in per_sequence.values()])
        assert test["accuracy"] == pytest.approx(mean)
        assert test["true_transitions"] >= 1


def test_cholec80_predictions_match_metrics(cholec80_run: Path) -> None:
    frame = pl.read_parquet(cholec80_run / "predictions.parquet")
    assert frame.columns == ["model", "sequence", "second", "truth", "prediction", "progress",
                             "truth_progress", "confidence"]
    metrics = read_metrics(cholec80_run)
    for model, entry in metrics.items():
        rows = frame.filter(pl.col("model") == model)
        assert len(rows) == sum(row["steps"] for row in entry["per_sequence"])
        assert set(rows["prediction"].unique()) <= set(CHOLEC80_PHASES)
        for row in entry["per_sequence"]:
            video = rows.filter(pl.col("sequence") == row["sequence"])
            accuracy = (video["truth"] == video["prediction"]).mean()
            assert accuracy == pytest.approx(row["accuracy"])
            assert video["second"].to_list()[:3] == [0.0, 1.0, 2.0]
        assert rows["progress"].is_between(0, 1).all()
        assert rows["confidence"].is_between(1 / len(CHOLEC80_PHASES), 1).all()


def test_sleep_edf_run_reports_f1_and_kappa(tmp_path: Path) -> None:
    raw = phase_recipe(dataset="sleep_edf", train=[0], val=[5], test=[6])
    config = from_dict(raw, source="test")
    metrics = Recipe.start(config, tmp_path).run()
    test = metrics["phase_ssm"]["test"]
    assert test["sequences"] == 2
    for key in ("accuracy", "macro_f1", "kappa", "accuracy_pooled", "macro_f1_pooled"):
        assert -1.0 <= test[key] <= 1.0
    assert "relaxed_accuracy" not in test  # 30-s epochs are longer than the 10-s tolerance
    assert list(test["per_phase_jaccard"]) == list(SLEEP_STAGES)
    nights = [row["sequence"] for row in metrics["phase_ssm"]["per_sequence"]]
    assert nights == ["SC4061E0", "SC4062E0"]
    frame = pl.read_parquet(next(tmp_path.iterdir()) / "predictions.parquet")
    assert frame.filter(pl.col("sequence") == "SC4061E0")["second"][1] == 30.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"layout": "sleep_edf"}, "contradicts the bundled data set"),
        ({"val": [2]}, "share [2]"),
        ({"inputs": "features"}, "needs data.features_dir"),
        ({"inputs": "video"}, "data.inputs must be one of"),
        ({"dataset": "no/such/folder", "layout": "cholec80"}, "no folder"),
        ({"progress_weight": -1.0}, "must not be negative"),
    ],
)
def test_bad_phase_data_tables(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        from_dict(phase_recipe(**data), source="test")


def test_phase_models_options_set_from_data_are_refused() -> None:
    raw = phase_recipe()
    raw["model"]["n_phases"] = 7
    with pytest.raises(ConfigError, match="is set from the data"):
        from_dict(raw, source="test")


def test_forecasting_model_in_a_phase_recipe_is_refused() -> None:
    raw = phase_recipe()
    raw["model"] = {"name": "smamba"}
    with pytest.raises(ConfigError, match=r"unknown model 'smamba'.*phase models"):
        from_dict(raw, source="test")
