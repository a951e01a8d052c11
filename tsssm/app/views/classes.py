"""Pieces of the views of class predictions (EEG windows, UCR cases): the classes of a
model, its confusion matrix, and ROC and precision-recall curves.

The classes come from metrics.json's ``classes`` of the model (class index = position), as
the window-classification recipes write it; for two classes, predictions.parquet's
``probability`` is that of the second (the positive class). A model without ``classes`` in
metrics.json (a run still writing) gets the classes seen in its predictions, and no curves:
which class ``probability`` is about is then unknown.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from ..charts import heatmap, label_order, rate_curve


def class_names(info: RunInfo, model: str, frame: pl.DataFrame) -> tuple[list[str], bool]:
    """The classes of ``model`` and whether they come from metrics.json (else: the labels and
    predictions of ``frame``, in :func:`~tsssm.app.charts.label_order`)."""
    listed = info.metrics.get(model, {}).get("classes")
    if isinstance(listed, list) and len(listed) >= 2:
        return [str(c) for c in listed], True
    seen = pl.concat([frame["label"], frame["prediction"]]).cast(pl.String).unique()
    return label_order(seen.to_list()), False


def as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``label`` and ``prediction`` as strings (class names)."""
    return frame.with_columns(pl.col("label", "prediction").cast(pl.String))


def confusion(frame: pl.DataFrame, classes: list[str], unit: str) -> pl.DataFrame:
    """Counts (column ``unit``) per (true, predicted) class of ``classes``, long format."""
    # Imported here: scikit-learn takes seconds to import, and only these charts need it.
    from sklearn import metrics

    matrix = metrics.confusion_matrix(frame["label"], frame["prediction"], labels=classes)
    return pl.DataFrame([{"true": t, "predicted": p, unit: int(matrix[i, j])}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])


def show_confusion(frame: pl.DataFrame, classes: list[str], unit: str) -> None:
    """The confusion matrix of ``frame`` (one model's rows) as a heat map."""
    st.subheader("Confusion matrix")
    st.caption(f"Every test {unit.removesuffix('s')} of the model: true class by row, "
               "predicted class by column.")
    st.altair_chart(heatmap(confusion(frame, classes, unit), "predicted", "true", unit,
                            classes), width="stretch")


def show_curves(frame: pl.DataFrame, classes: list[str], known: bool, unit: str) -> None:
    """ROC and precision-recall curves of one model's rows, for two classes named in
    metrics.json; otherwise a note saying why there are none."""
    if not known or len(classes) != 2:
        why = (f"this task has {len(classes)} classes" if known else
               "metrics.json does not name the classes of this model yet")
        st.info("ROC and precision-recall curves need the probability of one positive class: "
                f"they are drawn for two classes named in metrics.json ({why}).")
        return
    from sklearn import metrics

    positive = classes[1]
    truth = (frame["label"] == positive).to_numpy()
    score = frame["probability"].to_numpy()
    if truth.all() or not truth.any():
        st.info(f"ROC and precision-recall curves need {unit} of both classes; every one is "
                f"{'' if truth.all() else 'not '}{positive}.")
        return
    fpr, tpr, _ = metrics.roc_curve(truth, score)
    precision, recall, _ = metrics.precision_recall_curve(truth, score)
    auc = metrics.roc_auc_score(truth, score)
    ap = metrics.average_precision_score(truth, score)
    share = float(truth.mean())
    left, right = st.columns(2)
    left.subheader(f"ROC (AUC {auc:.3f})")
    left.caption(f"{positive} as the positive class; dashed: guessing.")
    roc = pl.DataFrame({"false positive rate": fpr, "true positive rate": tpr})
    left.altair_chart(rate_curve(roc, "false positive rate", "true positive rate",
                                 pl.DataFrame({"false positive rate": [0.0, 1.0],
                                               "true positive rate": [0.0, 1.0]})),
                      width="stretch")
    right.subheader(f"Precision-recall (AP {ap:.3f})")
    right.caption(f"{positive} as the positive class; dashed: guessing (its share, "
                  f"{share:.2f}).")
    # scikit-learn lists recall from 1 down to 0: drawn from 0 up.
    pr = pl.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})
    right.altair_chart(rate_curve(pr, "recall", "precision",
                                  pl.DataFrame({"recall": [0.0, 1.0],
                                                "precision": [share, share]}),
                                  interpolate="step-before"), width="stretch")
