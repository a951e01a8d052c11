"""Compare two or more runs: their models' metrics side by side and their training curves
overlaid."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from tsssm.runs import RunInfo

from . import curves
from .common import metrics_frame

KEY = "compare"


def render(infos: Sequence[RunInfo]) -> None:
    st.title("Compare runs")
    names = [info.name for info in reversed(infos)]  # newest first
    # Chosen in the URL as ?compare=RUN,RUN (default: the two newest runs).
    wanted = [n for n in st.query_params.get(KEY, "").split(",") if n in names]
    chosen = st.multiselect("Runs", names, default=wanted or names[:2], key=KEY)
    st.query_params[KEY] = ",".join(chosen)
    if len(chosen) < 2:
        st.info("Pick two or more runs to compare.")
        return
    selected = [info for info in infos if info.name in chosen]
    table = metrics_frame(selected, with_run=True)
    st.subheader("Metrics")
    if table.is_empty():
        st.warning("None of these runs has metrics yet.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")
    curves.render(selected, label_run=True, key="compare_curves")
