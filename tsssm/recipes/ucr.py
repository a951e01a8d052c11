"""``UCRRecipe`` (task ``"classification"``): time-series classification on a UCR/UEA problem.

Data (``UCRDataConfig``): the problem's TRAIN and TEST files (``tsssm.data.load_ucr``). The
validation cases are carved out of TRAIN, per class (stratified), with ``split_seed``; TEST is
only read for the test. Every case is a window [n_chans, n_times]; labels keep the file's
class order. Models: any registered ``"classification"`` model (``chimera_classifier``,
``smamba_classifier``, ``femba``...). Evaluation (``WindowClassificationRecipe``): accuracy,
balanced accuracy, AUROC, AUPR, kappa and macro F1 over the test cases; predictions.parquet in
the ``"classification"`` schema, ``case`` being the case's position in the TEST file.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars
import torch
from torch.utils.data import TensorDataset

from tsssm.data import UCRData, load_ucr
from tsssm.data.series import DataError

from .classification import WindowClassificationRecipe, WindowSplit
from .tasks import UCRDataConfig


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

    def dataset(X: np.ndarray, y: np.ndarray) -> TensorDataset:
        targets = torch.tensor([index[label] for label in y], dtype=torch.int64)
        return TensorDataset(torch.from_numpy(prepare(X).astype(np.float32)), targets)

    fit, val = stratified_holdout(train.y, val_fraction, seed)
    metadata = polars.DataFrame({"case": [str(i) for i in range(len(test.y))]})
    return WindowSplit(dataset(train.X[fit], train.y[fit]), dataset(train.X[val], train.y[val]),
                       dataset(test.X, test.y), metadata, class_names)


class UCRRecipe(WindowClassificationRecipe):
    """UCR/UEA time-series classification; see the module docstring."""

    task = "classification"
    prediction_schema: ClassVar[str] = "classification"

    def load_windows(self) -> WindowSplit:
        data: UCRDataConfig = self.config.data
        train = load_ucr(data.dataset, "train", data.ragged)
        test = load_ucr(data.dataset, "test", data.ragged)
        return ucr_split(train, test, data.val_fraction, data.split_seed, data.znormalize)
