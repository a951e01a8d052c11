"""Long-horizon forecasting data: loading, standard splits, scaling and sliding windows.

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
from typing import Literal, TypeVar

import numpy as np
import polars as pl
import torch
from torch.utils.data import Dataset

__all__ = [
    "FILL_CHOICES",
    "DataError",
    "ForecastingData",
    "ForecastingWindows",
    "StandardScaler",
    "ett_borders",
    "load_series",
    "ratio_borders",
    "split_borders",
    "time_feature_names",
    "time_features",
]

FILL_CHOICES = ("none", "forward", "interpolate")
PARQUET_SUFFIXES = (".parquet", ".pq")
SPLITS = ("train", "val", "test")
ETT_MONTH_ROWS = 30 * 24  # rows in one ETT "month" at one row per hour
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
)

Borders = dict[str, tuple[int, int]]
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file (column, row)."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _row(i: int, csv: bool) -> str:
    """Human-readable position of data row ``i`` (0-based; CSV: also the line in the file)."""
    return f"row {i} (line {i + 2} of the file)" if csv else f"row {i}"


def _scan(path: Path) -> tuple[pl.LazyFrame, bool]:
    """Lazy frame over ``path`` (CSV read as text, so parsing errors can be located)."""
    if not path.is_file():
        why = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"cannot read {path}: it {why}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return pl.scan_parquet(path, glob=False), False
    return pl.scan_csv(path, infer_schema=False, glob=False), True


def _collect(
    path: Path, date_column: str, columns: Sequence[str] | None
) -> tuple[pl.DataFrame, bool]:
    """Read the date column and the variates of ``path`` (only those) into memory."""
    try:
        lazy, csv = _scan(path)
        found = lazy.collect_schema().names()
        selected = _select(path, found, date_column, columns)
        frame = lazy.select(selected).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise DataError(f"cannot read {path}: {error}") from error
    if frame.height == 0:
        raise DataError(f"{path} has no data rows")
    return frame, csv


def _select(
    path: Path, found: list[str], date_column: str, columns: Sequence[str] | None
) -> list[str]:
    """The date column followed by the requested (default: all other) variate columns."""
    if date_column not in found:
        raise DataError(f"{path} has no date column {date_column!r}; columns found: {found}")
    if columns is None:
        variates = [name for name in found if name != date_column]
    else:
        variates = list(columns)
        missing = [name for name in variates if name not in found or name == date_column]
        if missing:
            raise DataError(f"{path}: columns {missing} are not variates; columns found: {found}")
    if not variates:
        raise DataError(f"{path} has no variate columns besides {date_column!r}")
    return [date_column, *variates]


def _parse_dates(raw: pl.Series) -> pl.Series:
    """Parse a text column to Datetime; values that do not parse become null."""
    text = raw.str.strip_chars()
    try:
        return text.str.to_datetime(strict=False)
    except pl.exceptions.PolarsError:  # no format could be inferred: try the usual ones
        tries = [text.str.to_datetime(fmt, strict=False) for fmt in _DATE_FORMATS]
        return pl.select(pl.coalesce(tries)).to_series()


def _timestamps(path: Path, raw: pl.Series, csv: bool) -> pl.Series:
    """Datetime series of the date column; raises on unparsable or non-increasing values."""
    name = raw.name
    if raw.dtype == pl.String:
        parsed = _parse_dates(raw)
    elif raw.dtype == pl.Date or isinstance(raw.dtype, pl.Datetime):
        parsed = raw.cast(pl.Datetime("us")) if raw.dtype == pl.Date else raw
    else:
        raise DataError(f"{path}: date column {name!r} has type {raw.dtype}, not text or dates")
    bad = parsed.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        what = "missing timestamp" if raw[i] is None else f"cannot parse timestamp {raw[i]!r}"
        raise DataError(
            f"{path}: column {name!r}, {_row(i, csv)}: {what} ({int(bad.sum())} bad values in all)"
        )
    steps = parsed.diff().dt.total_microseconds()
    not_after = (steps <= 0).fill_null(False)
    if not_after.any():
        i = int(not_after.arg_true()[0])
        what = "duplicated" if steps[i] == 0 else "decreasing"
        raise DataError(
            f"{path}: column {name!r}, {_row(i, csv)}: timestamps must be strictly "
            f"increasing, but {parsed[i]} follows {parsed[i - 1]} ({what})"
        )
    return parsed.alias(name)


def _numeric(path: Path, raw: pl.Series, csv: bool) -> pl.Series:
    """Float64 series of a variate column; raises on values that are not numbers."""
    if raw.dtype.is_numeric():
        return raw.cast(pl.Float64)
    if raw.dtype != pl.String:
        raise DataError(
            f"{path}: column {raw.name!r} has type {raw.dtype}, not numbers "
            f"(first value: {raw[0]!r})"
        )
    text = raw.str.strip_chars()
    values = text.cast(pl.Float64, strict=False)
    bad = values.is_null() & text.is_not_null() & (text != "")
    if bad.any():
        i = int(bad.arg_true()[0])
        raise DataError(
            f"{path}: column {raw.name!r} is not numeric: {_row(i, csv)} holds "
            f"{raw[i]!r} ({int(bad.sum())} non-numeric values in all)"
        )
    return values


def _fill_missing(path: Path, frame: pl.DataFrame, fill: str, csv: bool) -> pl.DataFrame:
    """Replace NaN/inf/null values as ``fill`` asks; ``"none"`` raises on the first one."""
    variates = frame.columns[1:]
    missing = frame.select(~pl.col(variates).is_finite().fill_null(False))
    counts = {name: int(missing[name].sum()) for name in variates}
    affected = [name for name in variates if counts[name]]
    if not affected:
        return frame
    first = affected[0]
    if fill == "none" or any(counts[name] == frame.height for name in affected):
        i = int(missing[first].arg_true()[0])
        others = f"; also in {affected[1:]}" if len(affected) > 1 else ""
        hint = "nothing to fill from"
        if fill == "none":
            hint = 'pass fill="forward" or fill="interpolate"'
        raise DataError(
            f"{path}: column {first!r} has {counts[first]} missing (NaN, inf or "
            f"empty) values, the first at {_row(i, csv)}{others}; {hint}"
        )
    cleaned = [pl.when(pl.col(n).is_finite()).then(pl.col(n)).alias(n) for n in affected]
    filled = [
        (pl.col(n).forward_fill() if fill == "forward" else pl.col(n).interpolate())
        .backward_fill()
        .forward_fill()
        .alias(n)
        for n in affected
    ]
    return frame.with_columns(cleaned).with_columns(filled)


def load_series(
    path: str | Path,
    date_column: str = "date",
    columns: Sequence[str] | None = None,
    fill: str = "none",
) -> pl.DataFrame:
    """Read a multivariate series from a CSV (LTSF layout) or Parquet file.

    Args:
        path: the file; ``.parquet``/``.pq`` is read as Parquet, anything else as CSV.
        date_column: the timestamp column.
        columns: the variate columns to keep, in this order (default: all other columns).
        fill: what to do with NaN, inf and empty values: ``"none"`` raises, ``"forward"``
            carries the last valid value forward, ``"interpolate"`` interpolates linearly; both
            fill a leading gap backwards from the first valid value.

    Returns:
        A frame of T rows: ``date_column`` as Datetime, then V Float64 variates.

    Raises:
        DataError: the file cannot be read, or its content is not a clean, strictly increasing
            numeric series; the message names the file, and the column and row where relevant.
    """
    if fill not in FILL_CHOICES:
        raise DataError(f"unknown fill {fill!r}; choose one of {list(FILL_CHOICES)}")
    path = Path(path)
    raw, csv = _collect(path, date_column, columns)
    parsed = [_timestamps(path, raw[date_column], csv)]
    parsed += [_numeric(path, raw[name], csv) for name in raw.columns[1:]]
    return _fill_missing(path, pl.DataFrame(parsed), fill, csv)


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


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
    """Borders for ``split``: "auto" (ETT for ETTh*/ETTm* files, else ratio), "ett", "ratio"
    (70/10/20) or explicit (train, val, test) ratios."""
    if split == "auto":
        split = "ett" if path.name.startswith(("ETTh", "ETTm")) else "ratio"
    if split == "ett":
        return ett_borders(len(timestamps), lookback, _rows_per_hour(path, timestamps))
    if split == "ratio":
        return ratio_borders(len(timestamps), lookback)
    if isinstance(split, str):
        raise DataError(f'unknown split {split!r}; choose "auto", "ett", "ratio" or 3 ratios')
    return ratio_borders(len(timestamps), lookback, tuple(split))


# ---------------------------------------------------------------------------------------------
# Scaling and calendar features
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StandardScaler:
    """Per-variate standardisation ``(x - mean) / std``; ``mean``, ``std``: float64 [V].

    Works on numpy arrays and torch tensors whose last dimension is V.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        """Fit on ``values`` [N, V] (population std, as sklearn; a constant variate gets 1)."""
        values = np.asarray(values, dtype=np.float64)
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))

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


def time_feature_names(freq: str = "h") -> tuple[str, ...]:
    """Calendar features of Time-Series-Library's ``timeenc=1`` for ``freq`` "h" or "t"."""
    hourly = ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    if freq == "h":
        return hourly
    if freq == "t":
        return ("minute_of_hour", *hourly)
    raise DataError(f'unknown freq {freq!r}; choose "h" (hourly) or "t" (minutely)')


def time_features(timestamps: pl.Series, freq: str = "h") -> np.ndarray:
    """Calendar features [T, F] in [-0.5, 0.5], as Time-Series-Library's ``timeenc=1``.

    Hour / 23, weekday (Monday 0) / 6, (day of month - 1) / 30, (day of year - 1) / 365, each
    minus 0.5; ``freq="t"`` puts minute / 59 - 0.5 first.
    """
    t = pl.col(timestamps.name)
    exprs = {
        "minute_of_hour": t.dt.minute() / 59,
        "hour_of_day": t.dt.hour() / 23,
        "day_of_week": (t.dt.weekday() - 1) / 6,
        "day_of_month": (t.dt.day() - 1) / 30,
        "day_of_year": (t.dt.ordinal_day() - 1) / 365,
    }
    names = time_feature_names(freq)
    frame = timestamps.to_frame().select([(exprs[n] - 0.5).alias(n) for n in names])
    return np.array(frame.to_numpy(), dtype=np.float32)


def _infer_freq(timestamps: pl.Series) -> str:
    """ "t" when the median step is below an hour, else "h"."""
    step = timestamps.diff().dt.total_seconds().median() if len(timestamps) > 1 else None
    return "t" if step is not None and step < 3600 else "h"


# ---------------------------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------------------------


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
    ) -> ForecastingData:
        """Load ``path`` (see :func:`load_series`), split it, fit the scaler on train rows.

        ``split``: "auto" (ETT borders for ETTh*/ETTm* files, else 70/10/20), "ett", "ratio"
        or (train, val, test) fractions. ``freq``: calendar features, "h" (4) or "t" (5, with
        the minute); "auto" takes "t" when the series steps are shorter than an hour.
        """
        path = Path(path)
        frame = load_series(path, date_column, columns, fill)
        timestamps = frame[date_column]
        borders = split_borders(path, timestamps, lookback, split)
        raw = np.array(frame.drop(date_column).to_numpy(), dtype=np.float64)
        scaler = StandardScaler.fit(raw[slice(*borders["train"])]) if scale else None
        scaled = scaler.transform(raw) if scaler else raw
        freq = _infer_freq(timestamps) if freq == "auto" else freq
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

    def prediction_frame(
        self,
        index: int | Sequence[int] | torch.Tensor,
        prediction: torch.Tensor | np.ndarray,
        inverse: bool = True,
    ) -> pl.DataFrame:
        """Long frame of predictions [N, H, V] for windows ``index``: one row per window and
        step with columns ``index``, ``step`` (0-based), the date column and the variates (on
        the file's scale when ``inverse``)."""
        if isinstance(prediction, torch.Tensor):
            prediction = prediction.detach().cpu().double().numpy()
        rows = self.target_rows(index)
        expected = (*rows.shape, self.n_variates)
        if prediction.shape != expected:
            raise ValueError(f"prediction has shape {prediction.shape}, expected {expected}")
        values = self.inverse_transform(prediction) if inverse else prediction
        frame = pl.DataFrame(
            {
                "index": (rows[:, 0] - self.lookback).repeat(self.horizon),
                "step": np.tile(np.arange(self.horizon), len(rows)),
                self.timestamps.name: self.timestamps.gather(rows.ravel()),
            }
        )
        flat = values.reshape(-1, self.n_variates)
        return frame.with_columns(
            pl.Series(name, flat[:, j]) for j, name in enumerate(self.variates)
        )
