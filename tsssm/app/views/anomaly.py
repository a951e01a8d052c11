"""Anomaly view: a series with its labelled anomalies shaded, the model's score against its
threshold, and detection metrics (a step is flagged when its score exceeds the threshold)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st
from sklearn import metrics

from tsssm.runs import RunInfo

from ..charts import lines, segments
from .common import choose, models_in


def render(info: RunInfo, frame: pl.DataFrame) -> None:
    st.header("Anomalies")
    left, right = st.columns(2)
    model = choose("Model", models_in(info, frame), "model", where=left)
    series = choose("Series", frame["series"].unique().sort().to_list(), "series", where=right)
    part = frame.filter((pl.col("model") == model) & (pl.col("series") == series)).sort("time")
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
    st.dataframe(detection(frame), hide_index=True)


def _shading(part: pl.DataFrame) -> alt.Chart | None:
    """Grey bands over the labelled anomalies of ``part``, or None when it has none."""
    spans = segments(part, "time", "label", "anomaly").filter(pl.col("label") == "1")
    if spans.is_empty():
        return None
    return (alt.Chart(spans.to_pandas()).mark_rect(opacity=0.25, color="grey")
            .encode(x="start:Q", x2="end:Q"))


def detection(frame: pl.DataFrame) -> pl.DataFrame:
    """Precision, recall and F1 of ``score > threshold`` against ``label``, per model."""
    rows = []
    for (model,), group in frame.group_by("model", maintain_order=True):
        truth = group["label"].cast(pl.Int64).to_numpy() == 1
        flagged = (group["score"] > group["threshold"]).to_numpy()
        rows.append({
            "model": model, "steps": group.height, "anomalies": int(truth.sum()),
            "flagged": int(flagged.sum()),
            "precision": metrics.precision_score(truth, flagged, zero_division=0),
            "recall": metrics.recall_score(truth, flagged, zero_division=0),
            "f1": metrics.f1_score(truth, flagged, zero_division=0),
        })
    return pl.DataFrame(rows)
