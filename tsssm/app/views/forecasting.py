"""Forecasting view: one window of one variate (lookback, truth, every model's forecast, and
the central intervals of quantile forecasts as shaded bands) and the error of every model by
horizon step.

The lookback is not in predictions.parquet: it is read from the data file named by the run's
config.toml (``[data] dataset``) with ``tsssm.data.load_series``. When that file cannot be
loaded here (moved, or another machine's path), or no longer lines up with the predictions,
the view says so and shows the forecast window alone.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from tsssm.metrics.quantile import central_intervals, interval_name
from tsssm.runs import RunFileError, RunInfo
from tsssm.tasks.forecasting import quantile_columns

from .. import cache
from ..charts import bands, lines
from .common import choose, models_in

HISTORY, TRUTH = "lookback", "truth"


def render(info: RunInfo, frame: pl.DataFrame) -> None:
    st.header("Forecasts")
    models = models_in(info, frame)
    left, right = st.columns(2)
    variate = choose("Variate", frame["variate"].unique(maintain_order=True).to_list(),
                     "variate", where=left)
    windows = frame["window"].unique().sort().to_list()
    window = choose("Window (first data row of its lookback)", windows, "window", where=right)
    part = frame.filter((pl.col("variate") == variate) & (pl.col("window") == window))

    forecast = pl.concat([
        part.filter(pl.col("model") == models[0])
        .select("timestamp", value="truth_raw", line=pl.lit(TRUTH)),
        part.select("timestamp", value="prediction_raw", line="model"),
    ], how="vertical_relaxed")
    history = _lookback(info, part, window)
    shown = forecast if history is None else pl.concat([history, forecast], how="vertical_relaxed")
    chart: alt.Chart | alt.LayerChart = lines(shown, "timestamp", "value", "line",
                                              x_title="time", y_title=f"{variate} (data scale)")
    intervals = interval_bands(part)
    if intervals.height:
        chart = bands(intervals, "timestamp", "low", "high", "line") + chart
        st.caption("Shaded: the central intervals of the quantile forecasts ("
                   + ", ".join(intervals["interval"].unique(maintain_order=True)) + ").")
    st.altair_chart(chart, width="stretch")

    st.subheader("Error by horizon step")
    st.caption("Over every test window and variate, on the normalised scale (the scale of "
               "metrics.json's mse and mae).")
    errors = step_errors(frame)
    left, right = st.columns(2)
    for column, metric in ((left, "mse"), (right, "mae")):
        column.altair_chart(lines(errors, "step", metric, "model", y_title=metric.upper()),
                            width="stretch")


def interval_bands(part: pl.DataFrame) -> pl.DataFrame:
    """The central intervals of the quantile forecasts in ``part`` (one window of one
    variate), on the data scale: ``timestamp``, ``line`` (the model), ``interval`` ("80%"),
    ``low``, ``high``; empty when no model of the run forecast quantiles."""
    columns = quantile_columns(part.columns)
    levels = list(columns)
    pieces = [
        part.filter(pl.col(columns[levels[i]]).is_not_null()).select(
            "timestamp", line="model", interval=pl.lit(f"{interval_name(nominal)}%"),
            low=pl.col(columns[levels[i]]), high=pl.col(columns[levels[j]]))
        for i, j, nominal in central_intervals(levels)
    ]
    empty = {"timestamp": part.schema["timestamp"], "line": pl.String, "interval": pl.String,
             "low": pl.Float64, "high": pl.Float64}
    return pl.concat(pieces, how="vertical_relaxed") if pieces else pl.DataFrame(schema=empty)


def step_errors(frame: pl.DataFrame) -> pl.DataFrame:
    """MSE and MAE per (model, horizon step) on the normalised scale."""
    error = pl.col("prediction").cast(pl.Float64) - pl.col("truth").cast(pl.Float64)
    return (frame.group_by("model", "step", maintain_order=True)
            .agg(mse=(error**2).mean(), mae=error.abs().mean())
            .sort("model", "step"))


def _lookback(info: RunInfo, part: pl.DataFrame, window: int) -> pl.DataFrame | None:
    """The lookback rows of ``window`` from the run's data file, or None (with a note)."""
    lookback = int(info.config.get("data", {}).get("lookback", 0))
    try:
        series = cache.series(info.config)
    except RunFileError as error:
        st.warning(f"Lookback not shown: {error}. Showing the forecast window only.")
        return None
    date = series.columns[0]
    first_target = part["timestamp"].min()
    end = window + lookback
    if lookback <= 0 or end >= series.height or series[date][end] != first_target:
        st.warning(f"Lookback not shown: row {end} of the run's data file is not the first "
                   f"forecast time {first_target} (the file changed since the run?). "
                   "Showing the forecast window only.")
        return None
    variate = part["variate"][0]
    return series.slice(window, lookback).select(
        timestamp=pl.col(date), value=pl.col(variate), line=pl.lit(HISTORY))
