"""One run: what it is, its state, its models' metrics, the view of its task (chosen by
``[run] task`` in config.toml) and its training curves.

Most views draw predictions.parquet (:data:`TASK_VIEWS`); a task whose recipe writes none
(pre-training) has a view of metrics.json alone (:data:`METRICS_VIEWS`), and its missing
predictions are no fault."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from tsssm.runs import RunInfo
from tsssm.runs.study import is_study

from . import anomaly, classification, curves, eeg, forecasting, phase, pretraining
from .common import choose, has_predictions, metrics_frame, show_state, started, state

# Each reads the predictions it draws through ``tsssm.app.cache`` (never the whole file).
TASK_VIEWS: dict[str, Callable[[RunInfo], None]] = {
    "forecasting": forecasting.render,
    "phase": phase.render,
    "eeg_classification": eeg.render,
    "series_classification": classification.render,
    "anomaly_detection": anomaly.render,
}
# Tasks that write no predictions: their view reads metrics.json only.
METRICS_VIEWS: dict[str, Callable[[RunInfo], None]] = {
    "eeg_pretraining": pretraining.render,
}


def render(infos: Sequence[RunInfo]) -> None:
    by_name = {i.name: i for i in reversed(infos)}  # newest first
    # In the main area, not the narrow sidebar: run names are long, and alike but for
    # their time.
    info = by_name[choose("Run", list(by_name), "run", format_func=lambda n: label(by_name[n]))]
    st.title(info.name)
    models = ", ".join(info.models) or "-"
    st.caption(f"recipe **{info.recipe}** · task **{info.task}** · data **{info.dataset}** · "
               f"models {models} · started {started(info)} · status **{state(info)}**")
    show_state(info)
    if is_study(info.path):
        st.info("This run is a study of `tsssm tune`: its trials, importances and parallel "
                "coordinates are on the Study page; below, the best trial and the untuned "
                "recipe, each tested once.")

    st.subheader("Metrics")
    table = metrics_frame([info])
    if table.is_empty():
        st.info("No metrics yet: metrics.json is written when the first model has trained.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")

    view = TASK_VIEWS.get(info.task)
    if info.task in METRICS_VIEWS:
        METRICS_VIEWS[info.task](info)
    elif view is None:
        st.info(f"No view for task {info.task!r} yet (the app has "
                f"{sorted([*TASK_VIEWS, *METRICS_VIEWS])}); its metrics and training curves "
                "are shown.")
    else:
        if has_predictions(info):
            view(info)
    curves.render([info])


def label(info: RunInfo) -> str:
    """A run as the Run chooser lists it: its name, task and status."""
    return f"{info.name}  ({info.task}, {state(info)})"
