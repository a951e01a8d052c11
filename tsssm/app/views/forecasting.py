"""Forecasting view: one window of one variate (lookback, truth, every model's forecast, and
the central intervals of quantile forecasts as shaded bands) and the error of every model by
horizon step.

Only the chosen window's rows are read from predictions.parquet (a filtered scan); the errors
by step are aggregated while polars streams over the file. The lookback comes from the run's
own inputs.parquet (written by the forecasting recipe): the app opens no file outside the run
folder, so a run written before inputs.parquet existed shows the forecast window alone.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from tsssm.metrics.quantile import central_intervals, interval_name
from tsssm.runs import INPUTS, RunFileError, RunInfo
from tsssm.tasks.forecasting import quantile_columns

from .. import cache
from ..charts import bands, lines
from .common import choose, models_in

HISTORY, TRUTH = "lookback", "truth"


def render(info: RunInfo) -> None:
    st.header("Forecasts")
    models = models_in(info)
    left, right = st.columns(2)
    variate = choose("Variate", cache.values(info, "variate"), "variate", where=left)
    windows = sorted(cache.values(info, "window"))
    window = choose("Window (first data row of its lookback)", windows, "window", where=right)
    part = cache.predictions(info, variate=variate, window=window)

    forecast = pl.concat([
        part.filter(pl.col("model") == models[0])
        .select("timestamp", value="truth_raw", line=pl.lit(TRUTH)),
        part.select("timestamp", value="prediction_raw", line="model"),
    ], how="vertical_relaxed")
    history = _lookback(info, part, variate, window)
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
    errors = cache.summary(info, "step_errors", step_errors)
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


def step_errors(predictions: pl.LazyFrame) -> pl.LazyFrame:
    """MSE and MAE per (model, horizon step) on the normalised scale."""
    error = pl.col("prediction").cast(pl.Float64) - pl.col("truth").cast(pl.Float64)
    return (predictions.group_by("model", "step")
            .agg(mse=(error**2).mean(), mae=error.abs().mean())
            .sort("model", "step"))


def _lookback(info: RunInfo, part: pl.DataFrame, variate: str, window: int
              ) -> pl.DataFrame | None:
    """The lookback rows of ``window`` from the run's inputs.parquet, or None (with a note)."""
    lookback = int(info.config.get("data", {}).get("lookback", 0))
    try:
        rows = cache.inputs(info, variate, window, window + lookback)
    except RunFileError as error:
        st.info(f"Lookback not shown: {error} (runs written before {INPUTS} existed lack it; "
                "the app opens no file outside the run folder). Showing the forecast window "
                "only.")
        return None
    if lookback <= 0 or rows.height != lookback or rows["row"][0] != window:
        st.warning(f"Lookback not shown: {INPUTS} does not hold the {lookback} rows before "
                   f"window {window}. Showing the forecast window only.")
        return None
    return rows.select("timestamp", "value", line=pl.lit(HISTORY))
