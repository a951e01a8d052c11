"""Reading a time series file: the LTSF layout (a date column, then one numeric column per
variate) from CSV or Parquet, lazily with polars, with errors that name file, column and row.

Shapes: T rows in the file, V variates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

FILL_CHOICES = ("none", "forward", "interpolate")
PARQUET_SUFFIXES = (".parquet", ".pq")
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


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file (column, row)."""


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
