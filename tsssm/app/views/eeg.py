"""EEG view (window classification): a recording's timeline (true and predicted class per
window, and the model's probability), the confusion matrix, ROC and precision-recall curves
(binary tasks) and metrics per subject.

``probability`` is the probability of the positive class for a binary task; the positive
class is the one the model predicts where that probability is high (the class whose
predicted windows have the larger mean probability), so that no naming convention is needed.
"""

from __future__ import annotations

import polars as pl
import streamlit as st
from sklearn import metrics

from ..charts import heatmap, label_order, lines, ribbons, segments
from ..run_files import RunInfo
from .common import choose, models_in


def render(info: RunInfo, frame: pl.DataFrame) -> None:
    st.header("EEG windows")
    frame = frame.with_columns(pl.col("label", "prediction").cast(pl.String))
    classes = label_order(pl.concat([frame["label"], frame["prediction"]]).unique().to_list())
    left, right = st.columns(2)
    model = choose("Model", models_in(info, frame), "model", where=left)
    part = frame.filter(pl.col("model") == model)
    recording = choose("Recording", part["recording"].unique().sort().to_list(), "recording",
                       where=right)
    timeline(part.filter(pl.col("recording") == recording), classes)

    left, right = st.columns(2)
    with left:
        st.subheader("Confusion matrix")
        st.altair_chart(heatmap(confusion(part, classes), "predicted", "true", "windows",
                                classes), width="stretch")
    with right:
        st.subheader("Per subject")
        st.dataframe(per_subject(part), hide_index=True)
    if len(classes) == 2:
        curves(part, positive_class(part, classes))
    else:
        st.info("ROC and precision-recall curves need the probability of one positive class: "
                f"they are drawn for binary tasks only (this one has {len(classes)} classes).")


def timeline(recording: pl.DataFrame, classes: list[str]) -> None:
    name = recording["recording"][0]
    st.subheader(f"Timeline of {name}")
    tracks = pl.concat([segments(recording, "start_s", "label", "label"),
                        segments(recording, "start_s", "prediction", "prediction")])
    st.altair_chart(ribbons(tracks, classes, title="class", x_title="second"),
                    width="stretch")
    st.altair_chart(lines(recording.with_columns(line=pl.lit("probability")), "start_s",
                          "probability", "line", x_title="second", height=180),
                    width="stretch")


def confusion(frame: pl.DataFrame, classes: list[str]) -> pl.DataFrame:
    """Counts per (true, predicted) class, long format."""
    matrix = metrics.confusion_matrix(frame["label"], frame["prediction"], labels=classes)
    return pl.DataFrame([{"true": t, "predicted": p, "windows": int(matrix[i, j])}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])


def positive_class(frame: pl.DataFrame, classes: list[str]) -> str:
    """The class ``probability`` is about (see the module docstring)."""
    means = dict(frame.group_by("prediction").agg(pl.col("probability").mean()).iter_rows())
    best = max(means, key=lambda c: means[c])
    if means[best] >= 0.5:
        return best
    return next(c for c in classes if c != best)


def per_subject(frame: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for (subject,), group in frame.group_by("subject", maintain_order=True):
        rows.append({
            "subject": subject, "windows": group.height,
            "accuracy": metrics.accuracy_score(group["label"], group["prediction"]),
            "balanced accuracy": metrics.balanced_accuracy_score(group["label"],
                                                                 group["prediction"]),
        })
    return pl.DataFrame(rows).sort("subject")


def curves(frame: pl.DataFrame, positive: str) -> None:
    truth = (frame["label"] == positive).to_numpy()
    score = frame["probability"].to_numpy()
    if truth.all() or not truth.any():
        st.info(f"ROC and precision-recall curves need windows of both classes; every window "
                f"is {'' if truth.all() else 'not '}{positive}.")
        return
    fpr, tpr, _ = metrics.roc_curve(truth, score)
    precision, recall, _ = metrics.precision_recall_curve(truth, score)
    auc = metrics.roc_auc_score(truth, score)
    ap = metrics.average_precision_score(truth, score)
    left, right = st.columns(2)
    left.subheader(f"ROC (AUC {auc:.3f})")
    left.altair_chart(lines(pl.DataFrame({"false positive rate": fpr, "true positive rate": tpr,
                                          "class": positive}),
                            "false positive rate", "true positive rate", "class"),
                      width="stretch")
    right.subheader(f"Precision-recall (AP {ap:.3f})")
    right.altair_chart(lines(pl.DataFrame({"recall": recall, "precision": precision,
                                           "class": positive}),
                             "recall", "precision", "class"), width="stretch")
