"""The base of the window-classification recipes (tasks ``eeg_classification`` and
``series_classification``): windows [C, T] -> one class each, or one class per channel.

A subclass of :class:`WindowClassificationRecipe` sets ``task`` and implements
:meth:`~WindowClassificationRecipe.load_windows`, which returns a :class:`WindowSplit`; the
base trains any registered ``"classification"`` model through :class:`ClassificationModule`
(cross-entropy, AdamW) and evaluates it on the test windows:

- metrics.json: ``test`` = :func:`tsssm.metrics.window_classification_report` over all test
  windows (balanced accuracy, accuracy, AUROC, AUPR, kappa, macro F1) and, when the split has
  a ``group_column``, ``per_group`` = the same per group (subject, ...);
- predictions.parquet: one row per test window: ``model``, the split's test metadata columns,
  ``label`` and ``prediction`` (class names) and ``probability`` (of the positive class for
  two classes, else of the predicted class): the columns of the subclass's task.

Windows labelled per channel (``WindowSplit.channels``; TUAR's per-channel protocols) are
scored label by label: ``test`` and ``per_group`` pool every (window, channel) label (as
BioFoundation's torchmetrics scores do: binary over all pairs, macro over the classes for
more), ``per_channel`` scores each channel on its own and ``channel_mean`` is the mean of each
metric over the channels where it is defined; predictions.parquet has one row per (window,
channel), its ``channel`` column naming the channel (null for one label per window, when the
task's columns include it).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars

import tsssm.data as tsssm_data
from tsssm import training
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ModelConfig, TrainConfig

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from tsssm.data.windows import Augment, WindowSplit
    from tsssm.runs import PredictionWriter
    from tsssm.training import ClassificationModule, WindowDataModule

def channel_mean(per_channel: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the channels where it is defined (a channel whose test
    labels hold one class has no AUROC); NaN where no channel defines it."""
    rows = list(per_channel.values())
    means: dict[str, float] = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        defined = values[~np.isnan(values)]
        means[key] = float(defined.mean()) if defined.size else float("nan")
    return means


class WindowClassificationRecipe(Recipe):
    """Trains and tests window classifiers on :meth:`load_windows`'s split (see the module
    docstring). Subclasses set ``task`` and ``prediction_columns`` (their task's) and may
    return a training-window transform from :meth:`train_augmentation`."""

    prediction_columns: ClassVar[tuple[str, ...]]
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
        return training.ClassificationModule(
            model.name, model.options, n_chans=n_chans, n_times=n_times,
            n_outputs=len(self.split.class_names), optimization=train.optimization(),
            seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> WindowDataModule:
        windows = tsssm_data.WindowDataset
        return training.WindowDataModule(
            windows(self.split.train, self.train_augmentation(), train.seed),
            windows(self.split.val), windows(self.split.test),
            batch_size=train.batch_size, seed=train.seed, num_workers=train.num_workers,
        )

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Scores every test window; the metrics need all of them (AUROC ranks them), so the
        class probabilities [N, K] (float64) and labels [N] (per channel: [N, M, K] and
        [N, M]) are kept, nothing more; the rows go to ``predictions`` chunk by chunk."""
        from tsssm.metrics import window_classification_report

        if not isinstance(module, training.ClassificationModule):
            raise TypeError(f"{type(self).__name__} evaluates a ClassificationModule, not "
                            f"{type(module).__name__}")
        batch_size = self.config.train_for(model).batch_size
        probabilities, labels = module.predict_probabilities(self.split.test, batch_size)
        split = self.split
        # [N, K] and [N] per window, or [N, M, K] and [N, M] per channel
        scores, truth = probabilities.double().numpy(), labels.numpy()
        n_outputs = 1 if truth.ndim == 1 else truth.shape[1]
        groups = None if split.group_column is None else np.repeat(
            split.test_metadata[split.group_column].to_numpy(), n_outputs)
        pooled_truth, pooled = truth.reshape(-1), scores.reshape(-1, scores.shape[-1])
        report = window_classification_report(pooled_truth, pooled, split.class_names, groups)
        metrics: dict[str, Any] = {"test": report["overall"], "classes": split.class_names}
        if "per_group" in report:
            metrics["per_group"] = report["per_group"]
        if split.channels is not None:
            channels = np.tile(np.array(split.channels), len(truth))
            per_channel = window_classification_report(
                pooled_truth, pooled, split.class_names, channels)["per_group"]
            metrics["per_channel"] = {name: per_channel[name] for name in split.channels}
            metrics["channel_mean"] = channel_mean(metrics["per_channel"])
        predictions.write_slices(len(truth), lambda start, stop: self.prediction_frame(
            model.name, truth[start:stop], scores[start:stop],
            split.test_metadata.slice(start, stop - start)))
        return metrics

    def prediction_frame(self, model: str, truth: np.ndarray, scores: np.ndarray,
                         metadata: polars.DataFrame) -> polars.DataFrame:
        """One row per test window (truth [N], scores [N, K]) or per (window, channel)
        (truth [N, M], scores [N, M, K]): ``model``, the window's ``metadata`` (those
        windows' rows of the split's test metadata), ``channel`` (if the task has it),
        ``label``, ``prediction`` and ``probability`` (see the module docstring)."""
        names = np.array(self.split.class_names)
        n_outputs = 1 if truth.ndim == 1 else truth.shape[1]
        truth, scores = truth.reshape(-1), scores.reshape(-1, scores.shape[-1])
        predicted = scores.argmax(axis=1)
        if scores.shape[1] == 2:
            probability = scores[:, 1]
        else:
            probability = scores[np.arange(len(scores)), predicted]
        meta = metadata.drop([c for c in ("model", "channel", "label", "prediction",
                                          "probability") if c in metadata.columns])
        if self.split.channels is not None:  # window-major rows, one per channel
            meta = meta[np.repeat(np.arange(meta.height), n_outputs)].with_columns(
                polars.Series("channel", np.tile(self.split.channels, meta.height)))
        elif "channel" in self.prediction_columns:
            meta = meta.with_columns(channel=polars.lit(None, polars.String))
        frame = polars.concat([
            polars.DataFrame({"model": polars.repeat(model, len(truth), eager=True)}),
            meta,
            polars.DataFrame({"label": names[truth], "prediction": names[predicted],
                              "probability": probability.astype(np.float64)}),
        ], how="horizontal")
        missing = [name for name in self.prediction_columns if name not in frame.columns]
        if missing:
            raise ValueError(
                f"{type(self).__name__}: predictions lack the columns {missing} of the "
                f"{self.task!r} task {list(self.prediction_columns)}; add them to "
                "test_metadata"
            )
        return frame
