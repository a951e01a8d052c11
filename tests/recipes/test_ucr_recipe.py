"""The "classification" recipe on UCR/UEA problems: validation carved from TRAIN only
(stratified, seeded), the classification predictions schema, clear errors for data the models
cannot take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars
import pytest
import torch

from tsssm.data import UCRData, UCRInfo, load_ucr
from tsssm.data.series import DataError
from tsssm.recipes import ConfigError, Recipe, from_dict
from tsssm.runs import RunFolder
from tsssm.tasks.series_classification import PREDICTION_COLUMNS as CLASSIFICATION
from tsssm.tasks.series_classification import UCRRecipe, stratified_holdout, ucr_split

TINY_CHIMERA = {"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4}
TINY_SMAMBA = {"d_model": 16, "d_ff": 16, "n_layers": 1, "d_state": 2}


def recipe(**data: Any) -> dict[str, Any]:
    return {
        "run": {"name": "ecg", "task": "series_classification", "baselines": ["smamba_classifier"]},
        "data": {"dataset": "ECG200", **data},
        "model": {"name": "chimera_classifier", **TINY_CHIMERA},
        "train": {"max_epochs": 1, "batch_size": 16, "lr": 3e-3, "seed": 5, "threads": 1,
                  "progress_bar": False},
        "baselines": {"smamba_classifier": TINY_SMAMBA},
    }


@pytest.fixture(scope="module")
def ecg_run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    run = Recipe.start(from_dict(recipe(), source="test"), tmp_path_factory.mktemp("runs"))
    assert isinstance(run, UCRRecipe)
    run.run()
    return run.folder


def test_both_models_are_tested_on_every_test_case(ecg_run: RunFolder) -> None:
    metrics = ecg_run.metrics()
    assert set(metrics) == {"chimera_classifier", "smamba_classifier"}
    for entry in metrics.values():
        assert entry["classes"] == ["-1", "1"]
        assert entry["test"]["windows"] == 100
        for key in ("accuracy", "balanced_accuracy", "auroc"):
            assert 0.0 <= entry["test"][key] <= 1.0


def test_predictions_follow_the_classification_schema(ecg_run: RunFolder) -> None:
    frame = polars.read_parquet(ecg_run.path / "predictions.parquet")
    assert tuple(frame.columns[:len(CLASSIFICATION)]) == CLASSIFICATION
    ours = frame.filter(polars.col("model") == "chimera_classifier")
    assert ours["case"].to_list() == [str(i) for i in range(100)]
    truth = load_ucr("ECG200", split="test").y
    assert ours["label"].to_list() == truth.tolist()


def test_validation_comes_from_train_only_and_keeps_class_shares() -> None:
    train, test = load_ucr("ECG200", "train"), load_ucr("ECG200", "test")
    split = ucr_split(train, test, val_fraction=0.2, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (80, 20, 100)
    train_x = {tuple(x.flatten().tolist()) for x, _ in split.train}
    val_x = {tuple(x.flatten().tolist()) for x, _ in split.val}
    file_x = {tuple(x.flatten().tolist()) for x in train.X}
    assert not train_x & val_x and train_x | val_x == file_x
    shares = np.mean([int(y) for _, y in split.val])
    assert shares == pytest.approx(np.mean(train.y == "1"), abs=0.05)


def test_holdout_is_seeded_and_stratified() -> None:
    labels = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 2)
    fit, val = stratified_holdout(labels, 0.2, seed=1)
    assert sorted(labels[val].tolist()) == ["a", "a", "b", "c"]
    assert np.array_equal(np.sort(np.concatenate([fit, val])), np.arange(17))
    assert np.array_equal(val, stratified_holdout(labels, 0.2, seed=1)[1])
    assert not np.array_equal(val, stratified_holdout(labels, 0.2, seed=2)[1])


def fake(X: np.ndarray, y: list[str], name: str) -> UCRData:
    info = UCRInfo(name, tuple(sorted(set(y))), True, np.full(len(y), X.shape[2]),
                   bool(np.isnan(X).any()), Path(f"{name}.txt"))
    return UCRData(X.astype(np.float32), np.array(y), info)


def test_a_class_with_one_training_case_is_refused() -> None:
    train = fake(np.zeros((5, 1, 8)), ["a", "a", "b", "b", "c"], "train")
    with pytest.raises(DataError, match=r"too few training cases per class.*'c': 1"):
        ucr_split(train, train, 0.2, 0)


def test_missing_values_and_unseen_test_labels_are_refused() -> None:
    X = np.zeros((4, 1, 8))
    train = fake(X, ["a", "a", "b", "b"], "train")
    holes = X.copy()
    holes[2, 0, 5] = np.nan
    with pytest.raises(DataError, match="case 2 holds missing values"):
        ucr_split(train, fake(holes, ["a", "a", "b", "b"], "test"), 0.5, 0)
    with pytest.raises(DataError, match=r"labels \['z'\] never occur"):
        ucr_split(train, fake(X, ["a", "z", "b", "b"], "test"), 0.5, 0)
    with pytest.raises(DataError, match="shape"):
        ucr_split(train, fake(np.zeros((4, 1, 9)), ["a", "a", "b", "b"], "test"), 0.5, 0)


def test_znormalize_standardises_each_series() -> None:
    train = fake(np.random.default_rng(0).normal(3, 2, (4, 2, 16)), ["a", "a", "b", "b"], "t")
    split = ucr_split(train, train, 0.5, 0, normalize=True)
    x = split.test[0][0]
    torch.testing.assert_close(x.mean(dim=1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=1, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("val_fraction", 0.0, "never from TEST"),
    ("ragged", "drop", "data.ragged must be one of"),
    ("dataset", "NoSuchProblem", "no folder"),
])
def test_bad_data_settings_name_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(recipe(**{key: value}), source="test")
