"""Classification view (UCR/UEA time-series classification, one prediction per test case):
every case's probability coloured by its true class, the misclassified cases, the confusion
matrix, and ROC and precision-recall curves (two classes)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from tsssm.runs import RunInfo

from .. import cache
from ..charts import points
from .classes import as_strings, class_names, show_confusion, show_curves
from .common import choose, models_in

UNIT = "cases"


def render(info: RunInfo) -> None:
    st.header("Classified cases")
    model = choose("Model", models_in(info), "model")
    part = (as_strings(cache.predictions(info, model=model))
            .with_columns(pl.col("case").cast(pl.String)).with_row_index("position"))
    classes, known = class_names(info, model, part)

    st.subheader("Probability of every test case")
    about = (f"the probability of {classes[1]}" if known and len(classes) == 2
             else "the probability of the predicted class")
    st.caption(f"Cases in the order of the test set, coloured by their true class, crosses "
               f"misclassified; the height is {about}.")
    shown = part.with_columns(outcome=pl.when(pl.col("label") == pl.col("prediction"))
                              .then(pl.lit("right")).otherwise(pl.lit("wrong")))
    st.altair_chart(points(shown, "position", "probability", "label", classes,
                           shape="outcome", shapes={"right": "circle", "wrong": "cross"},
                           x_title="test case (position)",
                           tooltip=["case", "label", "prediction", "probability"]),
                    width="stretch")
    left, right = st.columns(2)
    with left:
        show_confusion(part, classes, UNIT)
    with right:
        wrong = misclassified(part)
        st.subheader(f"Misclassified: {wrong.height} of {part.height}")
        st.dataframe(wrong, hide_index=True)
    show_curves(part, classes, known, UNIT)


def misclassified(frame: pl.DataFrame) -> pl.DataFrame:
    """The cases of ``frame`` whose prediction is not their label, in test-set order."""
    return (frame.filter(pl.col("label") != pl.col("prediction"))
            .select("case", "label", "prediction", "probability"))
