"""The base of the window-classification recipes (tasks ``eeg_classification`` and
``series_classification``): windows [C, T] -> one class each.

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
    from tsssm.training import ClassificationModule, WindowDataModule

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

    def prediction_inputs(self) -> dict[str, Any]:
        """The class names and the window shape [C, T] (the rest is in config.toml)."""
        return {"class_names": list(self.split.class_names),
                "window_shape": list(self.split.window_shape)}

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
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        from tsssm.metrics import window_classification_report

        if not isinstance(module, training.ClassificationModule):
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
        missing = [name for name in self.prediction_columns if name not in frame.columns]
        if missing:
            raise ValueError(
                f"{type(self).__name__}: predictions lack the columns {missing} of the "
                f"{self.task!r} task {list(self.prediction_columns)}; add them to "
                "test_metadata"
            )
        return frame

