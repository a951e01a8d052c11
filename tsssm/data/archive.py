"""Readers of the LTSF archive's files that are not in the date-column CSV layout.

- Solar-Energy (``solar_AL.txt``, LSTNet's release): a headerless comma-separated text file,
  one row per 10 minutes, one column per plant (137), no dates.
- PEMS03/04/07/08 (``PEMS0X.npz``, the traffic sets of ASTGCN/STSGCN): an array ``data`` of
  shape [time, nodes, features] at 5-minute steps; feature 0 (flow) is the series, as in
  Time-Series-Library's and S-Mamba's ``Dataset_PEMS``.

Neither file holds dates, so the caller gives the first timestamp (``start``) and the step
(``frequency``, a polars duration: ``"10m"``, ``"5m"``, ``"1h"``). Both come back in the
layout of ``tsssm.data.load_series``: a Datetime column, then one Float64 column per variate
(named ``"0"``, ``"1"``, ... by position, as the archive's loaders name them).

    read_forecasting_series("PEMS08.npz", start="2016-07-01")       # 5-minute steps
    read_forecasting_series("solar_AL.txt", start="2006-01-01", frequency="10m")
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from .series import DataError, _fill_missing, load_series

__all__ = ["ARCHIVE_FORMATS", "archive_format", "read_forecasting_series", "read_pems",
           "read_solar"]

# file suffix -> (format, default frequency or None when the recipe must give it)
ARCHIVE_FORMATS = {".npz": ("pems", "5m"), ".txt": ("solar", None)}
PEMS_KEY = "data"
PEMS_FLOW = 0  # the feature of [time, nodes, features] used as the series


def archive_format(path: str | Path) -> str | None:
    """``"pems"`` or ``"solar"`` for an archive file (by suffix), None for CSV/Parquet."""
    entry = ARCHIVE_FORMATS.get(Path(path).suffix.lower())
    return None if entry is None else entry[0]


def read_solar(path: str | Path) -> np.ndarray:
    """The values [time, plants] (float64) of a headerless comma-separated text file.

    Raises:
        DataError: the file is missing or empty, starts with a header line, has rows of
            different lengths or a cell that is not a number (line and column named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {path}: it does not exist")
    try:
        text = pl.read_csv(path, has_header=False, infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as error:
        raise DataError(f"cannot read {path} as comma-separated values: {error}") from None
    if text.height == 0:
        raise DataError(f"{path} is empty")
    numbers = text.select(pl.all().str.strip_chars().cast(pl.Float64, strict=False))
    bad = pl.DataFrame([numbers[c].is_null() & text[c].is_not_null() for c in text.columns])
    if all(bad.row(0)):
        raise DataError(f"{path}: line 1 holds no numbers ({', '.join(text.row(0)[:3])}, ...): "
                        "it looks like a header, and the Solar file has none; delete that line")
    if any(text.select(pl.all().is_null().any()).row(0)):
        column = next(c for c in text.columns if text[c].is_null().any())
        line = int(text[column].is_null().arg_true()[0]) + 1
        raise DataError(f"{path}: line {line} has fewer values than line 1 (a missing or empty "
                        f"cell in column {text.columns.index(column) + 1})")
    for index, column in enumerate(bad.columns):
        if bad[column].any():
            line = int(bad[column].arg_true()[0]) + 1
            raise DataError(f"{path}: line {line}, column {index + 1}: {text[column][line - 1]!r} "
                            f"is not a number ({int(bad[column].sum())} such cells in that "
                            "column)")
    return numbers.to_numpy().astype(np.float64)


def read_pems(path: str | Path) -> np.ndarray:
    """The flow [time, nodes] (float64) of a PEMS ``.npz`` file (its array ``data`` of shape
    [time, nodes, features], feature 0).

    Raises:
        DataError: not a readable ``.npz``, no array ``data``, or one of another shape.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {path}: it does not exist")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            data = arrays[PEMS_KEY] if PEMS_KEY in names else None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read {path} as an .npz archive: {error}") from None
    if data is None:
        raise DataError(f"{path} has no array {PEMS_KEY!r} (arrays: {names}); a PEMS file "
                        f"holds {PEMS_KEY!r} of shape [time, nodes, features]")
    if data.ndim != 3 or data.shape[2] <= PEMS_FLOW or 0 in data.shape[:2]:
        raise DataError(f"{path}: array {PEMS_KEY!r} has shape {list(data.shape)}; a PEMS file "
                        "holds [time, nodes, features] (feature 0 is the flow)")
    if not np.issubdtype(data.dtype, np.number):
        raise DataError(f"{path}: array {PEMS_KEY!r} holds {data.dtype}, not numbers")
    return data[:, :, PEMS_FLOW].astype(np.float64)


def _dated(path: Path, values: np.ndarray, date_column: str, start: str,
           frequency: str) -> pl.DataFrame:
    """``values`` [T, V] as the date column (``start`` every ``frequency``) and V columns."""
    try:
        first = datetime.fromisoformat(start)
    except (TypeError, ValueError):
        raise DataError(f"{path}: start {start!r} is not an ISO date or time "
                        "(e.g. \"2006-01-01\" or \"2018-01-01 00:00\")") from None
    try:
        step = pl.select(pl.lit(first).dt.offset_by(frequency)).item() - first
    except pl.exceptions.PolarsError:
        step = None
    if step is None or step.total_seconds() <= 0:
        raise DataError(f"{path}: frequency {frequency!r} is not a positive duration such as "
                        "\"10m\", \"5m\" or \"1h\"")
    dates = pl.datetime_range(first, first + (len(values) - 1) * step, interval=step,
                              eager=True, time_unit="us").alias(date_column)
    return pl.DataFrame([dates, *(pl.Series(str(i), values[:, i])
                                  for i in range(values.shape[1]))])


def read_forecasting_series(
    path: str | Path, date_column: str = "date", columns: Sequence[str] | None = None,
    fill: str = "none", start: str | None = None, frequency: str | None = None,
    allow_irregular: bool = False,
) -> pl.DataFrame:
    """A forecasting data file in the layout of :func:`~tsssm.data.load_series`: CSV and
    Parquet through it (``allow_irregular`` passed on); Solar ``.txt`` and PEMS ``.npz``
    through this module's readers, dated from ``start`` every ``frequency`` (PEMS: 5 minutes
    unless given), so evenly spaced.

    Raises:
        DataError: an unreadable or malformed file, a missing ``start`` or ``frequency`` for
            an archive file, or columns it does not have.
    """
    path = Path(path)
    kind = archive_format(path)
    if kind is None:
        return load_series(path, date_column, columns, fill, allow_irregular)
    default_frequency = ARCHIVE_FORMATS[path.suffix.lower()][1]
    frequency = frequency or default_frequency
    if start is None or frequency is None:
        needs = "data.start" if frequency else "data.start and data.frequency"
        raise DataError(f"{path} holds no dates: give {needs} (e.g. start = \"2006-01-01\", "
                        f"frequency = \"10m\") so that its rows get timestamps")
    values = read_pems(path) if kind == "pems" else read_solar(path)
    frame = _dated(path, values, date_column, start, frequency)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns[1:]]
        if missing:
            raise DataError(f"{path}: columns {missing} are not variates; its variates are "
                            f"'0' to '{values.shape[1] - 1}'")
        frame = frame.select(date_column, *columns)
    return _fill_missing(path, frame, fill, csv=False)
