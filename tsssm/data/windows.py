"""Datasets of fixed-length windows [C, T] with one class each (EEG windows, UCR cases), as
the classification and pre-training tasks feed them to their models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars
import torch
from torch.utils.data import Dataset

# A training-window transform: (x [C, T], seed) -> x [C, T] (see augmentation.py).
Augment = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass
class WindowSplit:
    """The windows of a classification run.

    Attributes:
        train, val, test: Datasets whose items are ``(x float32 [C, T], y int64 [])`` (or
            ``y`` int64 [M]: one label per output, see ``channels``); every window of a run
            has the same C and T.
        test_metadata: one row per test window, in the order of ``test``: the columns that
            predictions.parquet keeps before label/prediction/probability (EEG: recording,
            subject, start_s; UCR: case).
        class_names: name of each class, index = label.
        group_column: column of ``test_metadata`` to report per-group metrics by (e.g.
            ``"subject"``), or None.
        channels: for windows labelled per channel (``y`` [M], e.g. TUAR's artifact per
            channel) the name of each of the M outputs; None for one label per window.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    test_metadata: polars.DataFrame
    class_names: list[str]
    group_column: str | None = None
    channels: list[str] | None = None

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
        labels = tuple(torch.as_tensor(self.train[0][1]).shape)
        expected = () if self.channels is None else (len(self.channels),)
        if labels != expected:
            raise ValueError(f"a training window's label has shape {labels}; "
                             f"{'one per window' if not expected else 'one per channel'} "
                             f"needs {expected}")

    @property
    def window_shape(self) -> tuple[int, int]:
        """(n_chans, n_times) of every window."""
        n_chans, n_times = self.train[0][0].shape
        return int(n_chans), int(n_times)


class WindowDataset(Dataset):
    """The items of a ``(x, y)`` Dataset as batch dicts: ``x`` [C, T], ``y`` [], ``index`` []
    (the item's position, which the training clock counts). With ``augment``, ``x`` is
    transformed with a seed drawn from (``seed``, the epoch of ``sampler``, index); the
    training loader sets ``sampler`` (anything with an ``epoch``)."""

    def __init__(self, windows: Dataset, augment: Augment | None = None, seed: int = 0) -> None:
        self.windows, self.augment, self.seed = windows, augment, seed
        self.sampler: Any = None

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x, y = self.windows[index]
        if self.augment is not None:
            epoch = self.sampler.epoch if self.sampler is not None else 0
            draw = np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0]
            x = self.augment(x, int(draw))
        return {"x": x, "y": y, "index": torch.tensor(index)}


class ReconstructionWindows(Dataset):
    """Windows float32 [W, C, L] as batch items: ``x`` [C, L] and ``index`` [] (the window's
    position, which the training clock counts)."""

    def __init__(self, windows: np.ndarray) -> None:
        self.windows = torch.as_tensor(np.ascontiguousarray(windows), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.windows[index], "index": torch.tensor(index)}
