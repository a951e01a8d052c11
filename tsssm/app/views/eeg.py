"""EEG view (window classification): a recording's timeline (true and predicted class per
window, and the model's probability; of one channel for the per-channel TUAR protocols), the
confusion matrix and ROC and precision-recall curves (two classes) over every label, and
metrics.json's scores per subject (``per_group``)."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from .. import cache
from ..charts import lines, ribbons, segments, track_span
from .classes import as_strings, class_names, show_confusion, show_curves
from .common import choose, models_in, part_metrics

UNIT = "windows"


def render(info: RunInfo) -> None:
    st.header("EEG windows")
    left, right = st.columns(2)
    model = choose("Model", models_in(info), "model", where=left)
    part = as_strings(cache.predictions(info, model=model))
    classes, known = class_names(info, model, part)
    recording = choose("Recording", part["recording"].unique().sort().to_list(), "recording",
                       where=right)
    shown = part.filter(pl.col("recording") == recording)
    channels = shown["channel"].drop_nulls().unique(maintain_order=True).to_list() if (
        "channel" in shown.columns) else []
    if channels:  # one label per channel: the timeline of one of them
        channel = choose("Channel", channels, "channel", where=right)
        shown = shown.filter(pl.col("channel") == channel)
    timeline(shown, classes, model, known)

    left, right = st.columns(2)
    with left:
        show_confusion(part, classes, UNIT)
    with right:
        st.subheader("Per subject (metrics.json)")
        subjects = part_metrics(info, "per_group", "subject")
        if subjects.is_empty():
            st.info("metrics.json holds no scores per subject (a data set whose test subjects "
                    "hold one class each, such as Bonn, gets none).")
        else:
            st.dataframe(subjects.filter(pl.col("model") == model).drop("model"),
                         hide_index=True)
    show_curves(part, classes, known, UNIT)


def timeline(recording: pl.DataFrame, classes: list[str], model: str, known: bool) -> None:
    """Ribbons of the true and predicted class of each window of one recording, and the
    model's probability over time (of the positive class, when ``known``: two classes named
    in metrics.json)."""
    name = recording["recording"][0]
    st.subheader(f"Timeline of {name}")
    tracks = pl.concat([segments(recording, "start_s", "label", "truth"),
                        segments(recording, "start_s", "prediction", model)])
    st.altair_chart(ribbons(tracks, classes, title="class", x_title="window start (second)",
                            track_order=["truth", model]), width="stretch")
    about = (f"probability of {classes[1]}" if known and len(classes) == 2
             else "probability of the predicted class")
    st.caption(f"Below: {model}'s {about} for each window (dashed: 0.5).")
    probability = lines(recording.with_columns(line=pl.lit(model)), "start_s", "probability",
                        "line", models=[model], main=model, x_title="window start (second)",
                        y_title="", x_domain=track_span(tracks), height=180)
    half = alt.Chart(pl.DataFrame({"y": [0.5]}).to_pandas()).mark_rule(
        color="#a0a0a0", strokeDash=[5, 4]).encode(y="y:Q")
    st.altair_chart(probability + half, width="stretch")
