"""Conversion between the series users hand to estimators and the arrays models need.

Accepted: a polars or pandas DataFrame (an optional datetime column, then numeric variate
columns) or a 2-D array [time, variates] (a 1-D array is one variate). The layout remembers
how to give forecasts back in the same form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsssm.data.series import check_float32_range, first_irregular_step, regular_step

Series = Any  # polars.DataFrame | pandas.DataFrame | numpy.ndarray | torch.Tensor | list


@dataclass(frozen=True)
class SeriesLayout:
    """How a series was given: ``kind`` ("polars", "pandas", "array"), variate ``columns``,
    the datetime column's name, its last timestamp and its step (None without dates)."""

    kind: str
    columns: tuple[str, ...]
    date_column: str | None = None
    last_time: dt.datetime | None = None
    step: dt.timedelta | None = None


def _frame_values(frame: Any, kind: str, name: str) -> tuple[np.ndarray, SeriesLayout]:
    import polars as pl

    polars_frame = frame if kind == "polars" else pl.from_pandas(frame)
    dates = [c for c, t in polars_frame.schema.items() if t.is_temporal()]
    if len(dates) > 1:
        raise ValueError(f"`{name}` has several datetime columns {dates}; keep one")
    date_column = dates[0] if dates else None
    variates = polars_frame.drop(dates) if dates else polars_frame
    bad = [c for c, t in variates.schema.items() if not t.is_numeric()]
    if bad:
        raise ValueError(f"`{name}` has non-numeric columns {bad}; every variate must be numeric")
    last_time = step = None
    if date_column is not None and len(polars_frame) >= 2:
        times = polars_frame[date_column]
        _check_times(times, name)
        last_time, step = times[-1], regular_step(times)
    values = np.array(variates.to_numpy(), dtype=np.float64)
    return values, SeriesLayout(kind, tuple(variates.columns), date_column, last_time, step)


def _check_times(times: Any, name: str) -> None:
    """Forecast timestamps continue the series by its step: the dates must increase evenly."""
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


def as_values(
    y: Series, name: str, min_rows: int, n_variates: int | None = None,
    like: SeriesLayout | None = None,
) -> tuple[np.ndarray, SeriesLayout]:
    """``y`` as float64 values [time, variates] and its layout, with clear errors.

    ``min_rows``: fewest rows accepted; ``n_variates`` / ``like``: what a fitted estimator
    expects (number of variates; column names when both are frames).
    """
    module = type(y).__module__.split(".")[0]
    if module in ("polars", "pandas") and hasattr(y, "columns"):
        values, layout = _frame_values(y, module, name)
    else:
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`{name}` must be numeric [time, variates]: {error}") from None
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError(f"`{name}` has shape {values.shape}; it needs (time, variates)")
        layout = SeriesLayout("array", tuple(f"x{i}" for i in range(values.shape[1])))
    if len(values) < min_rows:
        raise ValueError(f"`{name}` has {len(values)} rows; it needs at least {min_rows}")
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"`{name}` has NaN or inf values (first at row {row}, variate "
            f"{layout.columns[col]!r}); fill them before forecasting"
        )
    check_float32_range(values, layout.columns, f"`{name}`")
    if n_variates is not None and values.shape[1] != n_variates:
        raise ValueError(
            f"`{name}` has {values.shape[1]} variates; the forecaster was fitted on {n_variates}"
        )
    if like is not None and layout.kind != "array" and like.kind != "array" \
            and layout.columns != like.columns:
        raise ValueError(
            f"`{name}` has columns {list(layout.columns)}; the forecaster was fitted on "
            f"{list(like.columns)}"
        )
    return values, layout


def from_values(values: np.ndarray, layout: SeriesLayout) -> Series:
    """Forecast values [horizon, variates] in the form ``layout`` describes; frames with a
    datetime column continue it with the series' last step."""
    if layout.kind == "array":
        return values
    import polars as pl

    data: dict[str, Any] = {}
    if layout.date_column is not None and layout.step is not None:
        data[layout.date_column] = [layout.last_time + layout.step * (i + 1)
                                    for i in range(len(values))]
    data.update({c: values[:, i] for i, c in enumerate(layout.columns)})
    frame = pl.DataFrame(data)
    return frame.to_pandas() if layout.kind == "pandas" else frame


def from_quantile_values(values: np.ndarray, layout: SeriesLayout, levels: Sequence[float]
                         ) -> Series:
    """Quantile forecasts [horizon, variates, n_levels] in the form ``layout`` describes:
    arrays as they are; frames with one column ``<variate>_q<level>`` per variate and level
    (``a_q0.1``, ``a_q0.9``, ``b_q0.1``, ...), after the datetime column."""
    if layout.kind == "array":
        return values
    columns = tuple(f"{column}_q{level:g}" for column in layout.columns for level in levels)
    flat = values.reshape(len(values), -1)  # [horizon, variates * n_levels], variate-major
    return from_values(flat, dataclasses.replace(layout, columns=columns))
