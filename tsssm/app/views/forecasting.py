"""Forecasting view: one window of one variate (lookback, truth, every model's forecast, and
the central intervals of quantile forecasts as shaded bands), the main model's error on every
test window over time, and the error of every model by horizon step.

A window is picked the way a person thinks of it: by the time its forecast starts (a slider
over the test windows' start times), or as the main model's worst, median or best forecast
of the variate (by MSE over the horizon). Only the chosen window's rows are read from
predictions.parquet (a filtered scan); the errors per window and per step are aggregated
while polars streams over the file. The lookback comes from the run's own inputs.parquet
(written by the forecasting recipe): the app opens no file outside the run folder, so a run
written before inputs.parquet existed shows the forecast window alone.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import polars as pl
import streamlit as st

from tsssm.metrics.quantile import central_intervals, interval_name
from tsssm.runs import INPUTS, RunFileError, RunInfo
from tsssm.tasks.forecasting import quantile_columns

from .. import cache
from ..charts import bands, lines, series_order
from .common import choose, models_in, slide

HISTORY, TRUTH = "lookback", "truth"
FORECAST_HEIGHT = 320
# How a window is picked: the slider over start times, or the main model's error rank.
BY_TIME = "by start time"
RANKS = {"largest error": 1.0, "median error": 0.5, "smallest error": 0.0}


def render(info: RunInfo) -> None:
    st.header("Forecasts")
    models = models_in(info)
    main = models[0]
    left, right = st.columns(2)
    variate = choose("Variate", cache.values(info, "variate"), "variate", where=left)
    pick = choose("Pick the window", [BY_TIME, *RANKS], "pick", where=right)
    errors = cache.summary(info, f"window_errors/{main}", window_errors(main)).filter(
        pl.col("variate") == variate).sort("start")
    window = pick_window(errors, pick)
    if pick == BY_TIME:
        window = slide("Forecast starts at", errors["window"].to_list(), "window",
                       default=window, format_func=_start_names(errors))
    else:
        st.query_params["window"] = str(window)  # the slider starts here when chosen
    row = errors.row(by_predicate=pl.col("window") == window, named=True)
    st.caption(f"Forecast from **{_when(row['start'])}** · {main}'s MSE on {variate} "
               f"**{row['mse']:.4g}** (normalised scale; rank {row['rank']:,} of "
               f"{errors.height:,} test windows, largest first) · window {window} (the first "
               "data row of its lookback)")
    part = cache.predictions(info, variate=variate, window=window)
    st.altair_chart(forecast_chart(info, part, models, variate, window), width="stretch")

    st.subheader(f"{main}'s error on every test window")
    st.caption(f"MSE of each window's forecast of {variate} over its horizon, by the time the "
               "forecast starts; the red line marks the window shown above.")
    st.altair_chart(error_timeline(errors, row["start"], main), width="stretch")

    st.subheader("Error by horizon step")
    st.caption("Over every test window and variate, on the normalised scale (the scale of "
               "metrics.json's mse and mae).")
    steps = cache.summary(info, "step_errors", step_errors)
    left, right = st.columns(2)
    for column, metric in ((left, "mse"), (right, "mae")):
        column.altair_chart(lines(steps, "step", metric, "model", models=models, main=main,
                                  integer_x=True, x_title="horizon step",
                                  y_title=metric.upper()), width="stretch")


def forecast_chart(info: RunInfo, part: pl.DataFrame, models: list[str], variate: str,
                   window: int) -> alt.Chart | alt.LayerChart:
    """The lookback, the truth and every model's forecast of one window of ``variate``
    (``part``: its prediction rows), under the quantile models' central intervals."""
    forecast = pl.concat([
        part.filter(pl.col("model") == models[0])
        .select("timestamp", value="truth_raw", line=pl.lit(TRUTH)),
        part.select("timestamp", value="prediction_raw", line="model"),
    ], how="vertical_relaxed")
    history = _lookback(info, part, variate, window)
    shown = forecast if history is None else pl.concat([history, forecast], how="vertical_relaxed")
    chart: alt.Chart | alt.LayerChart = lines(
        shown, "timestamp", "value", "line", models=models, main=models[0], x_title="time",
        y_title=f"{variate} (data scale)", height=FORECAST_HEIGHT)
    intervals = interval_bands(part)
    if intervals.height:
        chart = bands(intervals, "timestamp", "low", "high", "line",
                      series_order(shown, "line", models), height=FORECAST_HEIGHT) + chart
        st.caption("Shaded: the central intervals of the quantile forecasts ("
                   + ", ".join(intervals["interval"].unique(maintain_order=True)) + ").")
    return chart


def window_errors(model: str) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """A query of the predictions: per (variate, window) of ``model``, when its forecast
    starts (``start``), its MSE over the horizon (normalised scale) and its ``rank`` by MSE
    among the windows of its variate (1: the largest)."""
    def query(predictions: pl.LazyFrame) -> pl.LazyFrame:
        error = pl.col("prediction").cast(pl.Float64) - pl.col("truth").cast(pl.Float64)
        return (predictions.filter(pl.col("model") == model)
                .group_by("variate", "window")
                .agg(start=pl.col("timestamp").min(), mse=(error**2).mean())
                .with_columns(rank=pl.col("mse").rank("ordinal", descending=True)
                              .over("variate")))
    return query


def pick_window(errors: pl.DataFrame, pick: str) -> int:
    """The window of ``errors`` (one variate's, from :func:`window_errors`) that ``pick``
    names: the one at its error rank (largest, median, smallest MSE), or for
    :data:`BY_TIME` the median-error one, where the slider starts."""
    ranked = errors.sort("mse", descending=True)
    share = RANKS.get(pick, 0.5)
    return int(ranked["window"][round((1 - share) * (ranked.height - 1))])


def error_timeline(errors: pl.DataFrame, start: object, model: str) -> alt.LayerChart:
    """The MSE of every window of one variate over its start time, with a rule at
    ``start``."""
    line = lines(errors.with_columns(line=pl.lit(model)), "start", "mse", "line",
                 models=[model], main=model, x_title="forecast start", y_title="MSE",
                 height=160)
    marker = (alt.Chart(pl.DataFrame({"start": [start]}).to_pandas())
              .mark_rule(color="#d62728", strokeWidth=2).encode(x="start"))
    return line + marker


def _when(start: object) -> str:
    """A window's start time as a person reads it (to the minute for datetimes)."""
    return start.strftime("%Y-%m-%d %H:%M") if hasattr(start, "strftime") else str(start)


def _start_names(errors: pl.DataFrame) -> Callable[[int], str]:
    starts = dict(zip(errors["window"].to_list(), errors["start"].to_list(), strict=True))
    return lambda window: _when(starts[window])


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
