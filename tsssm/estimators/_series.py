"""polars series in and out of sktime forecasters.

sktime keeps a series' time in a pandas index; a polars frame keeps it in a datetime column.
:func:`to_sktime` turns such a frame into a pandas frame indexed by that column (anything else
passes through to sktime's own checks and conversions), and :func:`from_sktime` turns a
forecast back into a polars frame whose first column is the time.
"""

from __future__ import annotations

from typing import Any


def check_times(times: Any, name: str) -> None:
    """Forecast timestamps continue the series by its step: the dates (a polars Series) must
    increase evenly.

    Raises:
        ValueError: a date not after the one before it, or an uneven step (both named).
    """
    from tsssm.data.series import first_irregular_step, regular_step

    not_after = (times.diff().dt.total_microseconds() <= 0).fill_null(False)
    if not_after.any():
        i = int(not_after.arg_true()[0])
        what = "the same as" if times[i] == times[i - 1] else "before"
        raise ValueError(f"`{name}`: the dates of column {times.name!r} must increase, but row "
                         f"{i} ({times[i]}) is {what} row {i - 1} ({times[i - 1]}); sort the "
                         "series by date")
    gap = first_irregular_step(times)
    if gap is not None:
        raise ValueError(f"`{name}`: the dates of column {times.name!r} are not evenly spaced: "
                         f"row {gap} ({times[gap]}) follows row {gap - 1} ({times[gap - 1]}), "
                         f"the usual step is {regular_step(times)}; resample the series, or "
                         "drop the date column to forecast by rows")


def _holds_dates(column: Any) -> bool:
    """Whether a polars column is text whose first value parses as a date or time."""
    import polars as pl

    if column.dtype != pl.String or column.null_count() == len(column):
        return False
    try:
        return column.drop_nulls().head(1).str.to_datetime(strict=True).null_count() == 0
    except pl.exceptions.PolarsError:
        return False


def to_sktime(y: Any, name: str) -> tuple[Any, str | None]:
    """``y`` for sktime, and the name of the time column when ``y`` was a polars frame
    (``""`` for a polars frame without one; None for any other input). The dates, a polars
    datetime column or a pandas ``DatetimeIndex``, must increase evenly (:func:`check_times`;
    checked here, before sktime's own index checks)."""
    if type(y).__module__.split(".")[0] != "polars" or not hasattr(y, "schema"):
        index = getattr(y, "index", None)
        if type(index).__name__ == "DatetimeIndex":
            import polars as pl

            check_times(pl.Series(str(index.name or "index"), index), name)
        return y, None
    dates = [column for column, dtype in y.schema.items() if dtype.is_temporal()]
    if len(dates) > 1:
        raise ValueError(f"`{name}` has several datetime columns {dates}; keep one (the time)")
    bad = [column for column, dtype in y.schema.items()
           if not dtype.is_numeric() and column not in dates]
    text_dates = [column for column in bad if _holds_dates(y[column])]
    if text_dates:
        column = text_dates[0]
        raise ValueError(
            f"`{name}`: column {column!r} holds dates as text, not datetimes; parse it first "
            f"(polars: frame.with_columns(pl.col({column!r}).str.to_datetime()); pandas: "
            f"frame[{column!r}] = pd.to_datetime(frame[{column!r}]))"
        )
    if bad:
        raise ValueError(f"`{name}` has non-numeric columns {bad}; every variate must be "
                         "numeric")
    if dates:
        check_times(y[dates[0]], name)
    frame = y.to_pandas()
    if not dates:
        return frame, ""
    return frame.set_index(dates[0]), dates[0]


def from_sktime(forecast: Any, time_column: str | None) -> Any:
    """``forecast`` (pandas, from sktime) as the user gave the series: a polars frame (the
    time as column ``time_column`` first, when there was one) or unchanged."""
    if time_column is None:
        return forecast
    import polars as pl

    if time_column:
        return pl.from_pandas(forecast.rename_axis(time_column).reset_index())
    return pl.from_pandas(forecast.reset_index(drop=True))
