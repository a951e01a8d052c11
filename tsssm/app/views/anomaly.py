"""Anomaly view: a series with its labelled anomalies shaded, the model's score against its
threshold (the steps it flags marked), both over the same stretch of time (the whole series,
or around one labelled anomaly), and detection metrics (a step is flagged when its score
exceeds the threshold)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from .. import cache
from ..charts import AXIS_EXTENT, FIXED_COLOURS, segments
from .common import choose, models_in

WHOLE = "the whole series"
ANOMALY = "#d62728"
MARGIN = 10  # times an anomaly's length shown on each side of it (at least 50 steps)


def render(info: RunInfo) -> None:
    st.header("Anomalies")
    left, middle, right = st.columns(3)
    model = choose("Model", models_in(info), "model", where=left)
    series = choose("Series", sorted(cache.values(info, "series")), "series", where=middle)
    part = cache.predictions(info, model=model, series=series).sort("time")
    spans = segments(part, "time", "label", "anomaly").filter(pl.col("label") == "1")
    stretches = {WHOLE: (float(part["time"].min()), float(part["time"].max())),
                 **{f"anomaly {i + 1}: {start:g}-{end:g}": around(start, end)
                    for i, (start, end) in enumerate(spans.select("start", "end").iter_rows())}}
    stretch = choose("Show", list(stretches), "stretch", where=right)
    domain = stretches[stretch]
    shown = part.filter(pl.col("time").is_between(*domain))

    st.subheader(f"{series}: value, labelled anomalies shaded")
    st.altair_chart(_shading(spans, domain) + _line(shown, "value", domain, "value"),
                    width="stretch")
    st.subheader("Score and threshold")
    flagged = int((shown["score"] > shown["threshold"]).sum())
    st.caption(f"The model's anomaly score (blue), its threshold (red, dashed) and the "
               f"{flagged:,} steps shown that it flags (red dots: score above threshold).")
    st.altair_chart(_shading(spans, domain) + _scores(shown, domain), width="stretch")
    st.subheader("Detection over every series")
    st.dataframe(cache.summary(info, "detection", detection), hide_index=True)


def around(start: float, end: float) -> tuple[float, float]:
    """The stretch of time shown around the anomaly ``start``-``end``."""
    margin = max(MARGIN * (end - start), 50.0)
    return start - margin, end + margin


def _x(domain: tuple[float, float], field: str = "time") -> alt.X:
    return alt.X(f"{field}:Q", title="time", scale=alt.Scale(domain=list(domain), nice=False))


def _line(frame: pl.DataFrame, y: str, domain: tuple[float, float], colour: str) -> alt.Chart:
    return (alt.Chart(frame.to_pandas()).mark_line(color=FIXED_COLOURS[colour], clip=True)
            .encode(x=_x(domain), y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(zero=False),
                                          axis=alt.Axis(minExtent=AXIS_EXTENT)),
                    tooltip=["time", y])
            .properties(height=220))


def _scores(frame: pl.DataFrame, domain: tuple[float, float]) -> alt.LayerChart:
    """The score, the dashed threshold, and red dots on the flagged steps."""
    threshold = (alt.Chart(frame.to_pandas()).mark_line(color=ANOMALY, strokeDash=[6, 4],
                                                         clip=True)
                 .encode(x=_x(domain), y="threshold:Q", tooltip=["time", "threshold"]))
    flagged = frame.filter(pl.col("score") > pl.col("threshold"))
    dots = (alt.Chart(flagged.to_pandas()).mark_circle(color=ANOMALY, size=30, clip=True)
            .encode(x=_x(domain), y="score:Q", tooltip=["time", "score", "threshold"]))
    return _line(frame, "score", domain, "score") + threshold + dots


def _shading(spans: pl.DataFrame, domain: tuple[float, float]) -> alt.LayerChart:
    """Red bands over the labelled anomalies, each edged by a rule so that one of a few
    steps still shows on a long series."""
    base = alt.Chart(spans.to_pandas()).encode(x=_x(domain, "start"))
    band = base.mark_rect(opacity=0.2, color=ANOMALY, clip=True).encode(x2="end:Q")
    edge = base.mark_rule(opacity=0.6, color=ANOMALY, strokeWidth=2, clip=True)
    return band + edge


def detection(predictions: pl.LazyFrame) -> pl.LazyFrame:
    """Precision, recall and F1 of ``score > threshold`` against ``label``, per model
    (0 where undefined, like scikit-learn's ``zero_division=0``), counted while streaming."""
    truth = pl.col("label").cast(pl.Int64) == 1
    flagged = pl.col("score") > pl.col("threshold")
    hits = (truth & flagged).sum()
    counts = predictions.group_by("model", maintain_order=True).agg(
        steps=pl.len(), anomalies=truth.sum(), flagged=flagged.sum(), hits=hits)

    def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
        return pl.when(denominator > 0).then(numerator / denominator).otherwise(0.0)

    return counts.select(
        "model", "steps", pl.col("anomalies").cast(pl.Int64), pl.col("flagged").cast(pl.Int64),
        precision=ratio(pl.col("hits"), pl.col("flagged")),
        recall=ratio(pl.col("hits"), pl.col("anomalies")),
        f1=ratio(2 * pl.col("hits"), pl.col("flagged") + pl.col("anomalies")))
