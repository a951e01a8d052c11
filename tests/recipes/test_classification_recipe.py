"""The generic window-classification base: a subclass that only loads windows gets training,
per-group metrics and predictions in the "classification" schema; the module's validation
numbers are exact over all windows."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import polars
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score
from torch.utils.data import DataLoader, TensorDataset

from tsssm.data.augmentation import SignalAugmentation
from tsssm.data.windows import WindowDataset, WindowSplit
from tsssm.recipes import from_dict
from tsssm.runs import RunFolder
from tsssm.tasks._window_classification import WindowClassificationRecipe
from tsssm.tasks.series_classification import PREDICTION_COLUMNS as CLASSIFICATION
from tsssm.training import ClassificationModule, EpochSampler

N_CHANS, N_TIMES, CLASSES = 2, 32, ["low", "mid", "high"]
TINY_FEMBA = {"embed_dim": 4, "n_blocks": 1, "d_state": 4, "expand": 1, "patch_times": 8}


def toy_windows(n: int, seed: int) -> TensorDataset:
    """Sines whose frequency is the class (0, 1, 2), with noise: x [n, 2, 32], y [n]."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    t = torch.arange(N_TIMES) / N_TIMES
    x = torch.sin(2 * torch.pi * (y[:, None, None] + 1) * 2 * t) + 0.3 * torch.randn(
        n, N_CHANS, N_TIMES, generator=generator)
    return TensorDataset(x.float(), y)


class ToyRecipe(WindowClassificationRecipe):
    """No ``task``: instantiated directly, not registered."""

    task = "toy"
    prediction_columns = CLASSIFICATION

    def load_windows(self) -> WindowSplit:
        test = toy_windows(30, seed=2)
        metadata = polars.DataFrame({"case": [f"case{i}" for i in range(30)],
                                     "batch": [f"b{i % 2}" for i in range(30)]})
        return WindowSplit(toy_windows(48, 0), toy_windows(12, 1), test, metadata, CLASSES,
                           group_column="batch")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    raw = {
        "run": {"name": "toy", "task": "eeg_classification", "baselines": ["femba_mamba_head"]},
        "data": {"dataset": "mental_arithmetic", "fractions": [0.5, 0.25, 0.25]},
        "model": {"name": "femba", **TINY_FEMBA},
        "train": {"max_epochs": 2, "batch_size": 8, "lr": 3e-3, "seed": 1, "threads": 1,
                  "progress_bar": False},
        "baselines": {"femba_mamba_head": {**TINY_FEMBA, "head_dim": 8}},
    }
    config = from_dict(raw, source="test")
    folder = RunFolder.create(tmp_path_factory.mktemp("runs"), "toy")
    folder.start_attempt([m.name for m in config.models()])
    ToyRecipe(config, folder).run()
    return folder


def test_base_writes_overall_and_per_group_metrics(toy_run: RunFolder) -> None:
    metrics = toy_run.metrics()
    assert set(metrics) == {"femba", "femba_mamba_head"}
    for entry in metrics.values():
        assert entry["classes"] == CLASSES
        assert entry["test"]["windows"] == 30
        assert set(entry["per_group"]) == {"b0", "b1"}
        assert sum(g["windows"] for g in entry["per_group"].values()) == 30
        assert 0.0 <= entry["test"]["auroc"] <= 1.0


def test_base_predictions_follow_the_classification_schema(toy_run: RunFolder) -> None:
    frame = polars.read_parquet(toy_run.path / "predictions.parquet")
    assert tuple(frame.columns) == (*CLASSIFICATION[:2], "batch", *CLASSIFICATION[2:])
    rows = frame.filter(polars.col("model") == "femba")
    assert rows["case"].to_list() == [f"case{i}" for i in range(30)]
    assert rows["label"].to_list() == [CLASSES[i % 3] for i in range(30)]
    # Three classes: "probability" is that of the predicted class, so at least 1/3.
    assert (rows["probability"] >= 1 / 3 - 1e-6).all()
    score = balanced_accuracy_score(rows["label"].to_numpy(), rows["prediction"].to_numpy())
    assert score == pytest.approx(toy_run.metrics()["femba"]["test"]["balanced_accuracy"])


def test_split_check_names_the_problem() -> None:
    windows = toy_windows(6, 0)
    metadata = polars.DataFrame({"case": ["a"] * 5})
    with pytest.raises(ValueError, match="5 rows for 6 test windows"):
        WindowSplit(windows, windows, windows, metadata, CLASSES).check()
    metadata = polars.DataFrame({"case": ["a"] * 6})
    with pytest.raises(ValueError, match="group_column 'subject'"):
        WindowSplit(windows, windows, windows, metadata, CLASSES, "subject").check()


def test_module_validation_is_exact_over_uneven_batches() -> None:
    torch.manual_seed(0)
    module = ClassificationModule("femba", TINY_FEMBA, N_CHANS, N_TIMES, 3)
    windows = toy_windows(13, seed=4)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    logged = trainer.validate(module, DataLoader(WindowDataset(windows), batch_size=5),
                              verbose=False)[0]
    probabilities, labels = module.predict_probabilities(windows, batch_size=4)
    assert probabilities.shape == (13, 3)
    assert torch.allclose(probabilities.sum(-1), torch.ones(13))
    assert torch.equal(labels, windows.tensors[1])
    with torch.no_grad():
        logits = module(windows.tensors[0])
    assert logged["val_loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    expected = balanced_accuracy_score(labels.numpy(), logits.argmax(-1).numpy())
    assert logged["val_balanced_accuracy"] == pytest.approx(expected)
    assert np.allclose(probabilities.numpy(), logits.softmax(-1).numpy(), atol=1e-6)


@pytest.mark.parametrize("n_chans", [1, 3])
@pytest.mark.parametrize("spec", [
    {"name": "SignalRandScale", "boundaries": [0.5, 2.0]},
    {"name": "SignalRandAddGaussianNoise", "boundaries": [0.1, 0.2]},
    {"name": "SignalRandDrop", "boundaries": [0.1, 0.2]},
])
def test_every_augmentation_keeps_the_window_shape(spec: dict, n_chans: int) -> None:
    # MONAI's SignalRandDrop returns a one-channel window as [T] (put back as [1, T]), and
    # writes into its input (the dataset's own window: it is given a copy).
    window = torch.randn(n_chans, 40)
    before = window.clone()
    out = SignalAugmentation([spec])(window, seed=4)
    assert out.shape == window.shape and out.dtype == torch.float32
    assert torch.equal(window, before)
    assert not torch.equal(out, window)


def test_augmentation_draws_depend_on_seed_epoch_and_window_only() -> None:
    windows = toy_windows(6, seed=0)
    augment = SignalAugmentation([{"name": "SignalRandScale", "boundaries": [0.5, 2.0]}])
    dataset = WindowDataset(windows, augment, seed=3)
    dataset.sampler = EpochSampler(len(windows), shuffle=True, seed=3)
    first = dataset[2]["x"]
    assert torch.equal(dataset[2]["x"], first)
    assert not torch.equal(first, windows[2][0])
    dataset.sampler.set_epoch(1)
    assert not torch.equal(dataset[2]["x"], first)
    dataset.sampler.set_epoch(0)
    assert torch.equal(dataset[2]["x"], first)
    assert torch.equal(WindowDataset(windows)[2]["x"], windows[2][0])
