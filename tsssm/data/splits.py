"""Standard train/validation/test splits of forecasting series and the scaler fitted on the
training rows (Informer's ETT borders, Time-Series-Library's 70/10/20 otherwise, and its
disjoint 60/20/20 for the PEMS traffic sets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import torch

from .series import DataError

SPLITS = ("train", "val", "test")
ETT_MONTH_ROWS = 30 * 24  # rows in one ETT "month" at one row per hour

Borders = dict[str, tuple[int, int]]
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _borders(n_rows: int, lookback: int, ends: tuple[int, int, int], how: str) -> Borders:
    """Split rows ``[start, end)``; val/test start ``lookback`` rows before their first target."""
    if ends[2] > n_rows:
        raise DataError(
            f"the {how} split needs {ends[2]} rows, the series has {n_rows}; "
            'use split="ratio" for a shorter series'
        )
    if lookback > ends[0]:
        raise DataError(
            f"lookback {lookback} is longer than the training part ({ends[0]} rows "
            f"of {n_rows}, {how} split)"
        )
    starts = (0, ends[0] - lookback, ends[1] - lookback)
    return {name: (s, e) for name, s, e in zip(SPLITS, starts, ends, strict=True)}


def ett_borders(n_rows: int, lookback: int, rows_per_hour: int = 1) -> Borders:
    """Informer's ETT split: 12/4/4 months of 30 days (ETTh: 1 row per hour, ETTm: 4).

    Returns ``{"train": (0, 8640), "val": (8640 - L, 11520), "test": (11520 - L, 14400)}`` for
    ETTh (times 4 for ETTm); rows after month 20 are not used, as in the literature.
    """
    month = ETT_MONTH_ROWS * rows_per_hour
    return _borders(n_rows, lookback, (12 * month, 16 * month, 20 * month), "ETT")


def ratio_borders(
    n_rows: int, lookback: int, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
) -> Borders:
    """Time-Series-Library's ``Dataset_Custom`` split: train/val/test fractions of the rows.

    ``n_train = int(T * ratios[0])``, ``n_test = int(T * ratios[2])``, val takes the rest.
    """
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise DataError(f"split ratios must be three positive fractions summing to 1, not {ratios}")
    n_train, n_test = int(n_rows * ratios[0]), int(n_rows * ratios[2])
    return _borders(n_rows, lookback, (n_train, n_rows - n_test, n_rows), "ratio")


def pems_borders(n_rows: int, lookback: int) -> Borders:
    """Time-Series-Library's (and S-Mamba's) ``Dataset_PEMS`` split: the first 60 % of the
    rows, the next 20 %, the last 20 %, each part's windows inside it (val and test do not
    read the rows before them, unlike the other splits)."""
    n_train, n_val_end = int(n_rows * 0.6), int(n_rows * 0.8)
    if lookback > n_train:
        raise DataError(f"lookback {lookback} is longer than the training part ({n_train} "
                        f"rows of {n_rows}, PEMS split)")
    return {"train": (0, n_train), "val": (n_train, n_val_end), "test": (n_val_end, n_rows)}


def _rows_per_hour(path: Path, timestamps: pl.Series) -> int:
    """Rows per hour of an ETT-style file: from its name (ETTh/ETTm), else from its steps."""
    if path.name.startswith("ETTh"):
        return 1
    if path.name.startswith("ETTm"):
        return 4
    step = timestamps.diff().dt.total_seconds().median() if len(timestamps) > 1 else None
    if not step or 3600 % step:
        raise DataError(
            f"{path}: the ETT split needs hourly or sub-hourly steps dividing an hour "
            f"(median step: {step} s)"
        )
    return int(3600 // step)


def split_borders(
    path: Path, timestamps: pl.Series, lookback: int, split: str | tuple[float, float, float]
) -> Borders:
    """Borders for ``split``: "auto" (ETT for ETTh*/ETTm* files, PEMS for ``.npz`` files,
    else ratio), "ett", "pems" (disjoint 60/20/20), "ratio" (70/10/20) or explicit (train,
    val, test) ratios."""
    if split == "auto":
        split = "ett" if path.name.startswith(("ETTh", "ETTm")) else (
            "pems" if path.suffix.lower() == ".npz" else "ratio")
    if split == "pems":
        return pems_borders(len(timestamps), lookback)
    if split == "ett":
        return ett_borders(len(timestamps), lookback, _rows_per_hour(path, timestamps))
    if split == "ratio":
        return ratio_borders(len(timestamps), lookback)
    if isinstance(split, str):
        raise DataError(f'unknown split {split!r}; choose "auto", "ett", "pems", "ratio" or 3 '
                        'ratios')
    return ratio_borders(len(timestamps), lookback, tuple(split))


@dataclass(frozen=True, eq=False)
class StandardScaler:
    """Per-variate standardisation ``(x - mean) / std``; ``mean``, ``std``: float64 [V].

    Works on numpy arrays and torch tensors whose last dimension is V.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        """Fit on ``values`` [N, V] (population std, as sklearn; a constant variate gets
        mean = its value and std 1, so that it scales to exactly 0).

        The mean of a constant large column is not exactly its value in floating point, and
        the tiny std of the rounding would turn it into noise; constant columns are found by
        comparison instead.
        """
        values = np.asarray(values, dtype=np.float64)
        constant = (values == values[:1]).all(axis=0)
        mean = np.where(constant, values[0], values.mean(axis=0))
        std = np.where(constant, 1.0, values.std(axis=0))
        return cls(mean, std)

    def _params(self, like: ArrayT) -> tuple[ArrayT, ArrayT]:
        if isinstance(like, torch.Tensor):
            return (
                torch.as_tensor(self.mean, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.std, dtype=like.dtype, device=like.device),
            )
        return self.mean, self.std

    def transform(self, values: ArrayT) -> ArrayT:
        """Scaled copy of ``values`` [..., V]."""
        mean, std = self._params(values)
        return (values - mean) / std

    def inverse_transform(self, values: ArrayT) -> ArrayT:
        """Values [..., V] back on the original scale."""
        mean, std = self._params(values)
        return values * std + mean
