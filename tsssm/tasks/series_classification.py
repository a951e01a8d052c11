"""Task ``series_classification``: time-series classification on a UCR/UEA problem.

Data (``UCRDataConfig``): the problem's TRAIN and TEST files (``tsssm.data.load_ucr``). The
validation cases are carved out of TRAIN, per class (stratified), with ``split_seed``; TEST is
only read for the test. Every case is a window [n_chans, n_times]; labels keep the file's
class order. Models: any registered ``"classification"`` model (``chimera_classifier``,
``smamba_classifier``, ``femba``...). Evaluation (``WindowClassificationRecipe``): accuracy,
balanced accuracy, AUROC, AUPR, kappa and macro F1 over the test cases; predictions.parquet,
one row per test case:

    model           str       the model
    case            str       case id (its position in the TEST file)
    label           str       true class name
    prediction      str       predicted class name
    probability     float     probability of the positive class (binary tasks), else of
                              the predicted class
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars

import tsssm.data as tsssm_data
from tsssm.data.series import DataError
from tsssm.recipes._schema import Context

from ._window_classification import WindowClassificationRecipe
from .spec import Task

if TYPE_CHECKING:
    from torch.utils.data import TensorDataset

    from tsssm.data import UCRData
    from tsssm.data.windows import WindowSplit

RAGGED_CHOICES = ("error", "pad", "truncate")
PREDICTION_COLUMNS = ("model", "case", "label", "prediction", "probability")


@dataclass
class UCRDataConfig:
    """A UCR/UEA time-series classification problem (see ``tsssm.data.load_ucr``).

    ``dataset`` is ``"ECG200"`` (bundled), a problem aeon ships (``"GunPoint"``, ...), or a
    folder holding ``<folder name>_TRAIN`` and ``_TEST`` files. The validation cases are
    ``val_fraction`` of the TRAIN file, drawn per class (stratified) with ``split_seed``; the
    TEST file is only ever used for the test. ``ragged`` handles series of different lengths
    (``"error"``, ``"pad"`` with NaN, which the models cannot take, or ``"truncate"``);
    ``znormalize`` standardises every series of every case by its own mean and std.
    """

    dataset: str = "ECG200"
    val_fraction: float = 0.2
    split_seed: int = 0
    ragged: str = "error"
    znormalize: bool = False


def _validate_ucr(data: UCRDataConfig, ctx: Context) -> None:
    if not 0 < data.val_fraction < 1:
        raise ctx.error("data.val_fraction", f"data.val_fraction must lie in (0, 1), not "
                                             f"{data.val_fraction}: validation cases come from "
                                             "the TRAIN file, never from TEST")
    if data.ragged not in RAGGED_CHOICES:
        raise ctx.error("data.ragged", f"data.ragged must be one of {list(RAGGED_CHOICES)}, "
                                       f"not {data.ragged!r}")


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of ``labels`` [n]: ``fraction`` of each class's cases (rounded,
    at least one, never all) go to val, drawn with ``seed``; both sorted.

    Raises:
        DataError: a class with fewer than 2 cases (it cannot sit in both parts).
    """
    classes, counts = np.unique(labels, return_counts=True)
    few = {str(c): int(n) for c, n in zip(classes, counts, strict=True) if n < 2}
    if few:
        raise DataError(f"too few training cases per class to hold some out for validation: "
                        f"{few} (each class needs at least 2)")
    rng = np.random.default_rng(seed)
    val = []
    for label, count in zip(classes, counts, strict=True):
        members = np.flatnonzero(labels == label)
        n_val = min(max(round(fraction * count), 1), count - 1)
        val.append(rng.choice(members, size=n_val, replace=False))
    held = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), held), held


def znormalize(X: np.ndarray) -> np.ndarray:
    """Each series of ``X`` [n, C, T] minus its mean, over its std (1 where constant)."""
    std = X.std(axis=2, keepdims=True)
    return (X - X.mean(axis=2, keepdims=True)) / np.where(std > 0, std, 1.0)


def ucr_split(train: UCRData, test: UCRData, val_fraction: float, seed: int,
              normalize: bool = False) -> WindowSplit:
    """The :class:`WindowSplit` of a problem: validation carved from ``train`` (see
    :func:`stratified_holdout`), ``test`` as it is; classes in ``train``'s order.

    Raises:
        DataError: missing values (NaN), train and test of different shapes, a test label the
            training file lacks, or too few training cases per class.
    """
    for part in (train, test):
        if np.isnan(part.X).any():
            case = int(np.flatnonzero(np.isnan(part.X).any(axis=(1, 2)))[0])
            raise DataError(f"{part.info.path}: case {case} holds missing values (NaN, or "
                            "padding of a shorter series); the models cannot take NaN: "
                            "set data.ragged = \"truncate\" for ragged series, or impute")
    if train.X.shape[1:] != test.X.shape[1:]:
        raise DataError(f"{train.info.path} holds cases of shape {train.X.shape[1:]} and "
                        f"{test.info.path} of shape {test.X.shape[1:]}; they must match")
    class_names = [c for c in train.info.class_names if c in set(train.y)]
    unknown = sorted(str(label) for label in set(test.y) - set(class_names))
    if unknown:
        raise DataError(f"{test.info.path}: labels {unknown} never occur in {train.info.path}")
    index = {name: number for number, name in enumerate(class_names)}
    prepare = znormalize if normalize else (lambda X: X)

    import torch
    from torch.utils.data import TensorDataset

    def dataset(X: np.ndarray, y: np.ndarray) -> TensorDataset:
        targets = torch.tensor([index[label] for label in y], dtype=torch.int64)
        return TensorDataset(torch.from_numpy(prepare(X).astype(np.float32)), targets)

    fit, val = stratified_holdout(train.y, val_fraction, seed)
    metadata = polars.DataFrame({"case": [str(i) for i in range(len(test.y))]})
    return tsssm_data.WindowSplit(
        dataset(train.X[fit], train.y[fit]), dataset(train.X[val], train.y[val]),
        dataset(test.X, test.y), metadata, class_names)


class UCRRecipe(WindowClassificationRecipe):
    """UCR/UEA time-series classification; see the module docstring."""

    task = "series_classification"
    prediction_columns = PREDICTION_COLUMNS

    def load_windows(self) -> WindowSplit:
        data: UCRDataConfig = self.config.data
        train = tsssm_data.load_ucr(data.dataset, "train", data.ragged)
        test = tsssm_data.load_ucr(data.dataset, "test", data.ragged)
        return ucr_split(train, test, data.val_fraction, data.split_seed, data.znormalize)


TASK = Task(
    name="series_classification",
    model_task="classification",
    summary="classify whole time series (UCR/UEA problems), validation carved from TRAIN",
    data_config=UCRDataConfig,
    validate=_validate_ucr,
    derived=("n_chans", "n_times", "n_outputs"),
    bundled=lambda: frozenset(tsssm_data.list_ucr()),
    path_kind="dir",
    recipe=UCRRecipe,
    prediction_columns=PREDICTION_COLUMNS,
    headline_metrics=("accuracy", "auroc"),
    validation_metrics=("val_loss", "val_balanced_accuracy"),
)
