"""Reading a time series file: the LTSF layout (a date column, then one numeric column per
variate) from CSV or Parquet, lazily with polars, with errors that name file, column and row.

Errors never quote the file's content beyond the names of its columns (and those only once it
reads as a table with the date column): a file given by mistake (``/etc/passwd``) must not be
echoed into logs.

Shapes: T rows in the file, V variates.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
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


# tsssm computes in float32: a value beyond its range would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file (column, row)."""


def unreadable(path: Path | str, error: BaseException, kind: str) -> DataError:
    """The error for a file a reader failed on: the file and what it is not, without the
    reader's message (readers quote the content they failed on: a file given by mistake,
    ``/etc/passwd``, must not be echoed into logs)."""
    if isinstance(error, OSError) and error.strerror:
        return DataError(f"cannot read {path}: {error.strerror}")
    return DataError(f"cannot read {path}: not a readable {kind} ({type(error).__name__})")


def check_float32_range(values: np.ndarray, columns: Sequence[str], source: str,
                        describe_row: Callable[[int], str] = "row {}".format) -> None:
    """Refuse values [N, V] that float32 cannot hold (beyond +-3.4e38: they would become inf).

    Raises:
        DataError: naming ``source``, the column (``columns[v]``) and the first such row.
    """
    values = np.asarray(values)
    with np.errstate(invalid="ignore"):
        beyond = np.abs(values) > FLOAT32_MAX
    if beyond.any():
        row, col = (int(i) for i in np.argwhere(beyond.reshape(len(values), -1))[0])
        count = int(beyond.reshape(len(values), -1)[:, col].sum())
        raise DataError(
            f"{source}: column {columns[col]!r} has {count} values beyond float32's range "
            f"(+-3.4e38), the first at {describe_row(row)}; tsssm computes in float32, so "
            "rescale the column (divide it by a power of ten) before")


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
        if csv:
            _check_unique_header(path, len(found))
        frame = lazy.select(selected).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise unreadable(path, error, "CSV or Parquet table") from None
    if frame.height == 0:
        raise DataError(f"{path} has no data rows")
    return frame, csv


def _check_unique_header(path: Path, width: int) -> None:
    """Refuse a CSV header that names a column twice (polars would rename the second)."""
    header = pl.scan_csv(path, has_header=False, infer_schema=False, n_rows=1,
                         glob=False).collect()
    counts = Counter(header.row(0)) if header.height else Counter()
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        raise DataError(f"{path}: the header names column {repeated[0]!r} {counts[repeated[0]]} "
                        f"times ({width} columns); give every column its own name")


def _select(
    path: Path, found: list[str], date_column: str, columns: Sequence[str] | None
) -> list[str]:
    """The date column followed by the requested (default: all other) variate columns."""
    if date_column not in found:
        # Not the columns themselves: a file given by mistake must not be echoed.
        raise DataError(f"{path} has no date column {date_column!r} (its header has "
                        f"{len(found)} columns); set the date column's name or check the file")
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


def _timestamps(path: Path, raw: pl.Series, csv: bool, allow_irregular: bool) -> pl.Series:
    """Datetime series of the date column; raises on unparsable, timezone-aware,
    non-increasing or (unless ``allow_irregular``) irregularly spaced values."""
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
        what = "missing timestamp" if raw[i] is None else "a value that is not a timestamp"
        raise DataError(
            f"{path}: column {name!r}, {_row(i, csv)}: {what} ({int(bad.sum())} bad values in all)"
        )
    zone = getattr(parsed.dtype, "time_zone", None)
    if zone is not None:
        raise DataError(
            f"{path}: column {name!r} holds timezone-aware timestamps ({zone}); tsssm reads "
            "local times without a zone (calendar features, forecast times). Convert them "
            "first, e.g. polars: col.dt.convert_time_zone('Europe/Paris')"
            ".dt.replace_time_zone(None)")
    steps = parsed.diff().dt.total_microseconds()
    not_after = (steps <= 0).fill_null(False)
    if not_after.any():
        i = int(not_after.arg_true()[0])
        what = "duplicated" if steps[i] == 0 else "decreasing"
        raise DataError(
            f"{path}: column {name!r}, {_row(i, csv)}: timestamps must be strictly "
            f"increasing, but {parsed[i]} follows {parsed[i - 1]} ({what})"
        )
    gap = None if allow_irregular else first_irregular_step(parsed)
    if gap is not None:
        raise DataError(
            f"{path}: column {name!r}, {_row(gap, csv)}: the series is not evenly spaced: "
            f"{parsed[gap]} follows {parsed[gap - 1]} ({parsed[gap] - parsed[gap - 1]}; the "
            f"usual step is {regular_step(parsed)}). Windows would span uneven time; resample "
            "the series, or accept it as it is (data.allow_irregular = true)")
    return parsed.alias(name)


def regular_step(times: pl.Series) -> dt.timedelta:
    """The most common step between consecutive ``times`` (the shortest if several tie)."""
    counts = times.diff().drop_nulls().alias("step").value_counts(name="n")
    return counts.filter(pl.col("n") == pl.col("n").max())["step"].min()


def _months(times: pl.Series) -> pl.Series:
    return times.dt.year().cast(pl.Int64) * 12 + times.dt.month().cast(pl.Int64)


def first_irregular_step(times: pl.Series) -> int | None:
    """Index of the first timestamp whose step from the previous one differs from the
    series' usual step, or None when the series is evenly spaced.

    Evenly spaced: one fixed step (hourly, 15 minutes, daily), or a fixed number of calendar
    months with the same day and time of month (monthly, quarterly, yearly series).
    """
    if len(times) < 3:
        return None
    if times.dtype == pl.Date:
        times = times.cast(pl.Datetime("us"))
    steps = times.diff().dt.total_microseconds()
    usual = int(regular_step(times) / dt.timedelta(microseconds=1))
    off = (steps != usual).fill_null(False)
    if not off.any():
        return None
    months = _months(times).diff()
    same_place = (times.dt.day().diff() == 0) & (times.dt.time().cast(pl.Int64).diff() == 0)
    if months[1] > 0 and same_place.fill_null(True).all():  # a calendar-month series
        off = (months != months[1]).fill_null(False)
        if not off.any():
            return None
    return int(off.arg_true()[0])


def _numeric(path: Path, raw: pl.Series, csv: bool) -> pl.Series:
    """Float64 series of a variate column; raises on values that are not numbers."""
    if raw.dtype.is_numeric():
        return raw.cast(pl.Float64)
    if raw.dtype != pl.String:
        raise DataError(f"{path}: column {raw.name!r} has type {raw.dtype}, not numbers")
    text = raw.str.strip_chars()
    values = text.cast(pl.Float64, strict=False)
    bad = values.is_null() & text.is_not_null() & (text != "")
    if bad.any():
        i = int(bad.arg_true()[0])
        raise DataError(
            f"{path}: column {raw.name!r} is not numeric: {_row(i, csv)} holds a value that "
            f"is not a number ({int(bad.sum())} non-numeric values in all)"
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
    allow_irregular: bool = False,
) -> pl.DataFrame:
    """Read a multivariate series from a CSV (LTSF layout) or Parquet file.

    Args:
        path: the file; ``.parquet``/``.pq`` is read as Parquet, anything else as CSV.
        date_column: the timestamp column.
        columns: the variate columns to keep, in this order (default: all other columns).
        fill: what to do with NaN, inf and empty values: ``"none"`` raises, ``"forward"``
            carries the last valid value forward, ``"interpolate"`` interpolates linearly; both
            fill a leading gap backwards from the first valid value.
        allow_irregular: accept timestamps that are not evenly spaced (see
            :func:`first_irregular_step`); by default the first uneven step is an error.

    Returns:
        A frame of T rows: ``date_column`` as Datetime, then V Float64 variates.

    Raises:
        DataError: the file cannot be read, or its content is not a clean, strictly
            increasing, evenly spaced numeric series without time zone, with unique column
            names and values float32 can hold; the message names the file, and the column
            and row where relevant.
    """
    if fill not in FILL_CHOICES:
        raise DataError(f"unknown fill {fill!r}; choose one of {list(FILL_CHOICES)}")
    path = Path(path)
    raw, csv = _collect(path, date_column, columns)
    parsed = [_timestamps(path, raw[date_column], csv, allow_irregular)]
    parsed += [_numeric(path, raw[name], csv) for name in raw.columns[1:]]
    frame = _fill_missing(path, pl.DataFrame(parsed), fill, csv)
    check_float32_range(frame.drop(date_column).to_numpy(), frame.columns[1:], str(path),
                        lambda i: _row(i, csv))
    return frame
