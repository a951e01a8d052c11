"""Long-horizon forecasting data sets: a file loaded (``series``), split and scaled
(``splits``), with calendar features (``calendar``), cut into sliding windows.

The layout is the one of the LTSF benchmarks (ETT, Weather, Electricity, ...): a date column,
then one numeric column per variate. Splits, scaling and calendar features follow
Time-Series-Library (Informer's ``Dataset_ETT_hour`` / ``Dataset_ETT_minute`` / ``Dataset_Custom``
with ``timeenc=1``), so that MSE/MAE computed on the normalised scale are comparable with the
literature.

Shapes: T rows in the file, V variates, F calendar features, L lookback, H horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import torch
from torch.utils.data import Dataset

from .archive import read_forecasting_series
from .calendar import infer_freq, time_feature_names, time_features
from .series import DataError
from .splits import SPLITS, ArrayT, Borders, StandardScaler, split_borders


class ForecastingWindows(Dataset):
    """Sliding (lookback, horizon) windows with stride 1 over rows ``[start, end)``.

    ``values`` [T, V] and ``marks`` [T, F] are whole-file float32 tensors shared by all splits;
    items are views into them (no copies), so do not modify them in place. Item ``i``::

        x       [L, V]  rows [s, s + L)          x_mark  [L, F]
        y       [H, V]  rows [s + L, s + L + H)  y_mark  [H, F]
        index   int     s = start + i, the window's first row in the whole file
    """

    def __init__(
        self,
        values: torch.Tensor,
        marks: torch.Tensor,
        lookback: int,
        horizon: int,
        start: int = 0,
        end: int | None = None,
        name: str = "series",
    ) -> None:
        end = len(values) if end is None else end
        if lookback < 1 or horizon < 1:
            raise DataError(f"lookback and horizon must be positive, not {lookback}, {horizon}")
        if end - start < lookback + horizon:
            raise DataError(
                f"the {name} split has {end - start} rows (rows {start} to {end - 1}, "
                f"lookback included) but needs at least lookback {lookback} + "
                f"horizon {horizon} = {lookback + horizon}"
            )
        self.values, self.marks = values, marks
        self.lookback, self.horizon = lookback, horizon
        self.start, self.end, self.name = start, end, name

    def __len__(self) -> int:
        return self.end - self.start - self.lookback - self.horizon + 1

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for {n} {self.name} windows")
        s = self.start + (i % n)
        mid, stop = s + self.lookback, s + self.lookback + self.horizon
        return {
            "x": self.values[s:mid],
            "y": self.values[mid:stop],
            "x_mark": self.marks[s:mid],
            "y_mark": self.marks[mid:stop],
            "index": s,
        }

    @property
    def first_target_row(self) -> int:
        """Row of the first target of the first window (the split's border)."""
        return self.start + self.lookback

    def __repr__(self) -> str:
        return (
            f"ForecastingWindows({self.name}: {len(self)} windows over rows "
            f"[{self.start}, {self.end}), lookback={self.lookback}, horizon={self.horizon})"
        )


@dataclass(eq=False)
class ForecastingData:
    """A series split into train/val/test windows, scaled with statistics of the train rows.

    ``values`` [T, V] float32 holds the (scaled) whole file, ``marks`` [T, F] its calendar
    features; ``borders[split] = (start, end)`` the rows each split's windows read.
    """

    path: Path
    lookback: int
    horizon: int
    variates: tuple[str, ...]
    timestamps: pl.Series
    values: torch.Tensor
    marks: torch.Tensor
    time_feature_names: tuple[str, ...]
    borders: Borders
    scaler: StandardScaler | None
    train: ForecastingWindows = field(init=False)
    val: ForecastingWindows = field(init=False)
    test: ForecastingWindows = field(init=False)

    def __post_init__(self) -> None:
        for name, (start, end) in self.borders.items():
            windows = ForecastingWindows(
                self.values, self.marks, self.lookback, self.horizon, start, end, name
            )
            setattr(self, name, windows)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        lookback: int,
        horizon: int,
        split: Literal["auto", "ett", "ratio"] | tuple[float, float, float] = "auto",
        fill: str = "none",
        scale: bool = True,
        date_column: str = "date",
        columns: Sequence[str] | None = None,
        freq: Literal["auto", "h", "t"] = "auto",
        start: str | None = None,
        frequency: str | None = None,
        allow_irregular: bool = False,
    ) -> ForecastingData:
        """Load ``path`` (see :func:`load_series`; Solar ``.txt`` and PEMS ``.npz`` files,
        dated from ``start`` every ``frequency``, see :mod:`tsssm.data.archive`), split it,
        fit the scaler on train rows.

        ``split``: "auto" (ETT borders for ETTh*/ETTm* files, PEMS's disjoint 60/20/20 for
        ``.npz``, else 70/10/20), "ett", "pems", "ratio" or (train, val, test) fractions.
        ``freq``: calendar features, "h" (4) or "t" (5, with the minute); "auto" takes "t"
        when the series steps are shorter than an hour. ``allow_irregular``: accept unevenly
        spaced timestamps (by default an error naming the first uneven step; windows then hold
        a fixed number of rows, not of time).
        """
        path = Path(path)
        frame = read_forecasting_series(path, date_column, columns, fill, start, frequency,
                                        allow_irregular)
        timestamps = frame[date_column]
        borders = split_borders(path, timestamps, lookback, split)
        raw = np.array(frame.drop(date_column).to_numpy(), dtype=np.float64)
        scaler = StandardScaler.fit(raw[slice(*borders["train"])]) if scale else None
        scaled = scaler.transform(raw) if scaler else raw
        freq = infer_freq(timestamps) if freq == "auto" else freq
        return cls(
            path=path,
            lookback=lookback,
            horizon=horizon,
            variates=tuple(frame.columns[1:]),
            timestamps=timestamps,
            values=torch.from_numpy(scaled.astype(np.float32)),
            marks=torch.from_numpy(time_features(timestamps, freq)),
            time_feature_names=time_feature_names(freq),
            borders=borders,
            scaler=scaler,
        )

    def __repr__(self) -> str:
        return (
            f"ForecastingData({self.path.name}: {len(self.timestamps)} rows × {self.n_variates} "
            f"variates, lookback={self.lookback}, horizon={self.horizon}, windows "
            f"train/val/test={len(self.train)}/{len(self.val)}/{len(self.test)})"
        )

    @property
    def n_variates(self) -> int:
        return len(self.variates)

    @property
    def n_time_features(self) -> int:
        return len(self.time_feature_names)

    def split(self, name: str) -> ForecastingWindows:
        """The windows of ``name`` ("train", "val" or "test")."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; choose one of {list(SPLITS)}")
        return getattr(self, name)

    def inverse_transform(self, values: ArrayT) -> ArrayT:
        """Model outputs [..., V] back on the file's scale (unchanged when not scaled)."""
        return self.scaler.inverse_transform(values) if self.scaler else values

    def target_rows(self, index: int | Sequence[int] | torch.Tensor) -> np.ndarray:
        """Rows [N, H] of the targets of the windows starting at ``index`` (item ``"index"``)."""
        starts = np.atleast_1d(np.asarray(index, dtype=np.int64))
        rows = starts[:, None] + self.lookback + np.arange(self.horizon)[None, :]
        if starts.ndim != 1 or rows.min() < self.lookback or rows.max() >= len(self.timestamps):
            raise IndexError(
                f"window starts {starts.tolist()} out of range for {len(self.timestamps)} rows"
            )
        return rows

    def timestamps_for(
        self, index: int | Sequence[int] | torch.Tensor, horizon_step: int | None = None
    ) -> pl.Series:
        """Timestamps of the targets of windows ``index``: N × H values, window-major, or the
        N values of one ``horizon_step`` (0-based: 0 is the first predicted row)."""
        rows = self.target_rows(index)
        if horizon_step is not None:
            if not 0 <= horizon_step < self.horizon:
                raise IndexError(f"horizon_step {horizon_step} not in [0, {self.horizon})")
            rows = rows[:, horizon_step]
        return self.timestamps.gather(rows.ravel())
