"""Anomaly view: a series with its labelled anomalies shaded, the model's score against its
threshold, and detection metrics (a step is flagged when its score exceeds the threshold)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from .. import cache
from ..charts import lines, segments
from .common import choose, models_in


def render(info: RunInfo) -> None:
    st.header("Anomalies")
    left, right = st.columns(2)
    model = choose("Model", models_in(info), "model", where=left)
    series = choose("Series", sorted(cache.values(info, "series")), "series", where=right)
    part = cache.predictions(info, model=model, series=series).sort("time")
    shade = _shading(part)
    value = lines(part.with_columns(line=pl.lit("value")), "time", "value", "line", height=220)
    scores = pl.concat([part.select("time", y="score", line=pl.lit("score")),
                        part.select("time", y="threshold", line=pl.lit("threshold"))],
                       how="vertical_relaxed")
    score = lines(scores, "time", "y", "line", y_title="score", height=180)
    st.subheader(f"{series}: value, labelled anomalies shaded")
    st.altair_chart(shade + value if shade else value, width="stretch")
    st.subheader("Score and threshold")
    st.altair_chart(shade + score if shade else score, width="stretch")
    st.subheader("Detection over every series")
    st.dataframe(cache.summary(info, "detection", detection), hide_index=True)


def _shading(part: pl.DataFrame) -> alt.Chart | None:
    """Grey bands over the labelled anomalies of ``part``, or None when it has none."""
    spans = segments(part, "time", "label", "anomaly").filter(pl.col("label") == "1")
    if spans.is_empty():
        return None
    return (alt.Chart(spans.to_pandas()).mark_rect(opacity=0.25, color="grey")
            .encode(x="start:Q", x2="end:Q"))


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
