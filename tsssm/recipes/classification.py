"""The base of every window-classification recipe (EEG windows, UCR time-series cases):
windows [C, T] -> one class each.

A subclass of :class:`WindowClassificationRecipe` sets ``task`` and implements
:meth:`~WindowClassificationRecipe.load_windows`, which returns a :class:`WindowSplit`; the
base trains any registered ``"classification"`` model through :class:`ClassificationModule`
(cross-entropy, AdamW) and evaluates it on the test windows:

- metrics.json: ``test`` = :func:`tsssm.metrics.window_classification_report` over all test
  windows (balanced accuracy, accuracy, AUROC, AUPR, kappa, macro F1) and, when the split has
  a ``group_column``, ``per_group`` = the same per group (subject, ...);
- predictions.parquet: one row per test window: ``model``, the split's test metadata columns,
  ``label`` and ``prediction`` (class names) and ``probability`` (of the positive class for
  two classes, else of the predicted class); the columns of ``prediction_columns`` for the
  recipe's ``prediction_schema``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import lightning.pytorch as pl
import numpy as np
import polars
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tsssm.metrics import window_classification_report
from tsssm.models import create_model

from .base import Recipe
from .config import ModelConfig, TrainConfig
from .lightning_module import Batch, RecipeModule
from .loaders import EpochSampler, ResumableDataLoader, SplitDataModule
from .prediction_columns import PREDICTION_COLUMNS, missing_columns

# A training-window transform: (x [C, T], seed) -> x [C, T] (see augmentation.py).
Augment = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass
class WindowSplit:
    """The windows of a classification run.

    Attributes:
        train, val, test: Datasets whose items are ``(x float32 [C, T], y int64 [])``; every
            window of a run has the same C and T.
        test_metadata: one row per test window, in the order of ``test``: the columns that
            predictions.parquet keeps before label/prediction/probability (EEG: recording,
            subject, start_s; UCR: case).
        class_names: name of each class, index = label.
        group_column: column of ``test_metadata`` to report per-group metrics by (e.g.
            ``"subject"``), or None.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    test_metadata: polars.DataFrame
    class_names: list[str]
    group_column: str | None = None

    def check(self) -> None:
        """Raise a ValueError naming the problem if the parts do not fit together."""
        for name in ("train", "val", "test"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"the {name} split holds no windows")
        if len(self.class_names) < 2:
            raise ValueError(f"a classification needs at least 2 classes, got "
                             f"{self.class_names}")
        if self.test_metadata.height != len(self.test):
            raise ValueError(f"test_metadata has {self.test_metadata.height} rows for "
                             f"{len(self.test)} test windows")
        if self.group_column is not None and self.group_column not in self.test_metadata.columns:
            raise ValueError(f"group_column {self.group_column!r} is not a column of "
                             f"test_metadata ({self.test_metadata.columns})")
        shapes = {name: tuple(getattr(self, name)[0][0].shape) for name in ("train", "val",
                                                                             "test")}
        if len(set(shapes.values())) != 1 or len(shapes["train"]) != 2:
            raise ValueError(f"windows must be [n_chans, n_times] alike in every split; "
                             f"first windows: {shapes}")

    @property
    def window_shape(self) -> tuple[int, int]:
        """(n_chans, n_times) of every window."""
        n_chans, n_times = self.train[0][0].shape
        return int(n_chans), int(n_times)


class WindowDataset(Dataset):
    """The items of a ``(x, y)`` Dataset as batch dicts: ``x`` [C, T], ``y`` [], ``index`` []
    (the item's position, which the training clock counts). With ``augment``, ``x`` is
    transformed with a seed drawn from (``seed``, the epoch of ``sampler``, index)."""

    def __init__(self, windows: Dataset, augment: Augment | None = None, seed: int = 0) -> None:
        self.windows, self.augment, self.seed = windows, augment, seed
        self.sampler: EpochSampler | None = None

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x, y = self.windows[index]
        if self.augment is not None:
            epoch = self.sampler.epoch if self.sampler is not None else 0
            draw = np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0]
            x = self.augment(x, int(draw))
        return {"x": x, "y": y, "index": torch.tensor(index)}


class WindowDataModule(SplitDataModule):
    """:class:`SplitDataModule` whose training windows know the epoch being drawn, for the
    seeds of their augmentation."""

    def train_dataloader(self) -> ResumableDataLoader:
        loader = super().train_dataloader()
        train = self.splits["train"]
        if isinstance(train, WindowDataset):
            # Workers copy the dataset when an epoch starts, after the sampler's set_epoch.
            train.sampler = loader.sampler
        return loader


class WindowPredictions(NamedTuple):
    """``probabilities`` float32 [N, n_outputs] and ``labels`` int64 [N] of N windows."""

    probabilities: torch.Tensor
    labels: torch.Tensor


class ClassificationModule(RecipeModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=..., n_outputs=...)``: windows
    ``x`` [B, C, T] -> logits [B, n_outputs].

    Batches are dicts of ``x`` [B, C, T], ``y`` [B] and ``index`` [B]. Trains on
    cross-entropy; logs ``train_loss`` (per step and epoch) and, over every validation
    window (exact across batches and processes), ``val_loss`` (mean cross-entropy) and
    ``val_balanced_accuracy`` (mean recall over the classes present, from the summed
    confusion matrix).

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        n_chans, n_times, n_outputs: the windows' shape and the number of classes.
        lr, weight_decay, lr_decay, seed: see :class:`RecipeModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_chans: int,
        n_times: int,
        n_outputs: int,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model_name, n_chans=n_chans, n_times=n_times,
                                  n_outputs=n_outputs, **model_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T] -> logits [B, n_outputs]."""
        return self.model(x)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch["x"]), batch["y"])
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["y"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        n = self.hparams.n_outputs
        self.start_sums(loss=(), confusion=(n, n))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self(batch["x"])
        n = self.hparams.n_outputs
        pairs = batch["y"] * n + logits.argmax(-1)  # truth-major cells
        self.add_sums(loss=F.cross_entropy(logits.double(), batch["y"], reduction="sum"),
                      confusion=torch.bincount(pairs, minlength=n * n).reshape(n, n))

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        confusion = sums["confusion"]  # [truth, prediction]
        windows = confusion.sum().clamp(min=1)
        per_class = confusion.sum(dim=1)
        recall = confusion.diagonal()[per_class > 0] / per_class[per_class > 0]
        self.log("val_loss", (sums["loss"] / windows).float(), prog_bar=True)
        self.log("val_balanced_accuracy", recall.mean().float() if len(recall) else
                 torch.tensor(float("nan")))

    @torch.no_grad()
    def predict_probabilities(self, windows: Dataset, batch_size: int = 64
                              ) -> WindowPredictions:
        """Class probabilities [N, n_outputs] (and labels [N]) of every window of
        ``windows`` (items ``(x [C, T], y)``, in order), in eval mode, on the CPU."""
        probabilities, labels = [], []
        with self.evaluating():
            for batch in DataLoader(WindowDataset(windows), batch_size=batch_size):
                logits = self(batch["x"].to(self.device))
                probabilities.append(logits.float().softmax(-1).cpu())
                labels.append(batch["y"])
        return WindowPredictions(torch.cat(probabilities), torch.cat(labels))


class WindowClassificationRecipe(Recipe):
    """Trains and tests window classifiers on :meth:`load_windows`'s split (see the module
    docstring). Subclasses set ``task`` (and ``prediction_schema``, the
    ``prediction_columns`` entry their predictions follow) and may return a training-window
    transform from :meth:`train_augmentation`."""

    prediction_schema: ClassVar[str] = "classification"
    split: WindowSplit

    @abstractmethod
    def load_windows(self) -> WindowSplit:
        """The run's windows, split; called once by :meth:`setup`."""

    def train_augmentation(self) -> Augment | None:
        """A transform of training windows ``(x [C, T], seed) -> x``; None: no augmentation."""
        return None

    def setup(self) -> None:
        self.split = self.load_windows()
        self.split.check()

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ClassificationModule:
        n_chans, n_times = self.split.window_shape
        return ClassificationModule(
            model.name, model.options, n_chans=n_chans, n_times=n_times,
            n_outputs=len(self.split.class_names), lr=train.lr,
            weight_decay=train.weight_decay, lr_decay=train.lr_decay, seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> WindowDataModule:
        return WindowDataModule(
            WindowDataset(self.split.train, self.train_augmentation(), train.seed),
            WindowDataset(self.split.val), WindowDataset(self.split.test),
            batch_size=train.batch_size, seed=train.seed, num_workers=train.num_workers,
        )

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        if not isinstance(module, ClassificationModule):
            raise TypeError(f"{type(self).__name__} evaluates a ClassificationModule, not "
                            f"{type(module).__name__}")
        batch_size = self.config.train_for(model).batch_size
        probabilities, labels = module.predict_probabilities(self.split.test, batch_size)
        scores, truth = probabilities.double().numpy(), labels.numpy()
        split = self.split
        groups = None if split.group_column is None else split.test_metadata[
            split.group_column].to_numpy()
        report = window_classification_report(truth, scores, split.class_names, groups)
        metrics: dict[str, Any] = {"test": report["overall"], "classes": split.class_names}
        if "per_group" in report:
            metrics["per_group"] = report["per_group"]
        return metrics, self.prediction_frame(model.name, truth, scores)

    def prediction_frame(self, model: str, truth: np.ndarray, scores: np.ndarray
                         ) -> polars.DataFrame:
        """One row per test window: ``model``, the test metadata, ``label``, ``prediction``
        and ``probability`` (see the module docstring)."""
        names = np.array(self.split.class_names)
        predicted = scores.argmax(axis=1)
        if scores.shape[1] == 2:
            probability = scores[:, 1]
        else:
            probability = scores[np.arange(len(scores)), predicted]
        meta = self.split.test_metadata.drop(
            [c for c in ("model", "label", "prediction", "probability")
             if c in self.split.test_metadata.columns])
        frame = polars.concat([
            polars.DataFrame({"model": polars.repeat(model, len(truth), eager=True)}),
            meta,
            polars.DataFrame({"label": names[truth], "prediction": names[predicted],
                              "probability": probability.astype(np.float64)}),
        ], how="horizontal")
        missing = missing_columns(self.prediction_schema, frame.columns)
        if missing:
            raise ValueError(
                f"{type(self).__name__}: predictions lack the columns {missing} of the "
                f"{self.prediction_schema!r} schema "
                f"{list(PREDICTION_COLUMNS[self.prediction_schema])}; add them to "
                "test_metadata"
            )
        return frame

