"""A study of ``tsssm tune``: its trials, the objective over trials, parameter importances,
a parallel-coordinates view of the searched values, and each trial's run (its training
curves). Reads study.json and trials.parquet (``tsssm.runs.study``), never the Optuna
database: the app imports no Optuna."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from tsssm.runs import RunFileError, RunInfo
from tsssm.runs.study import BEST_RECIPE, StudyInfo, is_study

from .. import cache
from . import curves
from .common import choose, metrics_frame, show_state, state

INTEGER = alt.Axis(format="d", tickMinStep=1)  # trials and epochs are whole numbers


def render(infos: Sequence[RunInfo]) -> None:
    studies = [info for info in reversed(infos) if is_study(info.path)]  # newest first
    if not studies:
        st.title("Studies")
        st.info("No studies in this runs folder yet. Start one with `tsssm tune "
                "recipes/etth1_smamba.toml --trials 20 --output-dir DIR`.")
        return
    name = choose("Study", [i.name for i in studies], "study")
    info = next(i for i in studies if i.name == name)
    try:
        study = cache.study(info.path)
    except RunFileError as error:
        st.error(f"Study {info.name} cannot be shown: {error}.")
        return
    summary = study.summary
    st.title(info.name)
    st.caption(f"recipe **{info.recipe}** · task **{info.task}** · tuned model "
               f"**{summary.get('model', '-')}** · objective **{summary.get('objective')}** "
               f"({summary.get('direction')}, validation split) · {summary.get('sampler')} "
               f"sampler, {summary.get('pruner')} pruning · storage {summary.get('storage')} · "
               f"status **{state(info)}**")
    show_state(info)
    _best(info, summary)
    st.subheader("Tested once: the best trial beside the untuned recipe")
    table = metrics_frame([info])
    if table.is_empty():
        st.info("Not tested yet: the best trial and the default are tested once the study "
                "has run all its trials.")
    else:
        st.dataframe(table, hide_index=True, width="stretch")
    if study.trials.is_empty():
        st.info("No trial has finished yet.")
        return
    _trials(study)
    _objective_chart(study)
    _importances(summary)
    _parallel_coordinates(study)
    _trial_run(info, study)


def _best(info: RunInfo, summary: dict[str, Any]) -> None:
    best = summary.get("best")
    done, asked = summary.get("trials_done", 0), summary.get("trials", "?")
    states = ", ".join(f"{n} {s}" for s, n in summary.get("states", {}).items())
    st.markdown(f"**{done} of {asked} trials done** ({states or 'none yet'}).")
    if not best:
        return
    values = ", ".join(f"`{k} = {v!r}`" for k, v in best.get("params", {}).items())
    line = f"trial {best['number']}, {summary.get('objective')} {best['value']:.5g} with {values}"
    if (info.path / BEST_RECIPE).is_file():
        st.success(f"Best: {line}. Run it: `tsssm run {info.path / BEST_RECIPE}`")
    else:
        st.info(f"Best so far: {line}.")


def _trials(study: StudyInfo) -> None:
    st.subheader("Trials")
    shown = study.trials.drop("curve").sort("number")
    st.dataframe(shown, hide_index=True, width="stretch")


def _objective_chart(study: StudyInfo) -> None:
    objective = study.summary.get("objective", "value")
    minimize = study.summary.get("direction", "minimize") == "minimize"
    frame = study.trials.select("number", "state", "value").sort("number")
    finite = frame.filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
    st.subheader("Objective over trials")
    if finite.is_empty():
        st.info(f"No trial has a {objective} yet (pruned and failed trials have none).")
        return
    best = finite.with_columns(best=pl.col("value").cum_min() if minimize
                               else pl.col("value").cum_max())
    dots = (alt.Chart(finite.to_pandas()).mark_circle(size=60)
            .encode(x=alt.X("number:Q", title="trial", axis=INTEGER),
                    y=alt.Y("value:Q", title=objective, scale=alt.Scale(zero=False)),
                    color=alt.Color("state:N"), tooltip=["number", "state", "value"]))
    line = (alt.Chart(best.to_pandas()).mark_line(interpolate="step-after", color="gray")
            .encode(x="number:Q", y="best:Q"))
    st.altair_chart((dots + line).properties(height=280), width="stretch")
    curves_frame = (study.trials.select("number", "state", "curve").explode("curve")
                    .drop_nulls("curve").with_columns(
                        epoch=pl.int_range(pl.len()).over("number")))
    if not curves_frame.is_empty():
        st.caption(f"{objective} after each validation epoch (what the pruner compares)")
        chart = (alt.Chart(curves_frame.to_pandas()).mark_line(point=True)
                 .encode(x=alt.X("epoch:Q", axis=INTEGER), y=alt.Y("curve:Q", title=objective,
                                                     scale=alt.Scale(zero=False)),
                         color=alt.Color("number:N", title="trial"),
                         strokeDash=alt.StrokeDash("state:N", legend=alt.Legend(
                             symbolType="stroke", symbolStrokeWidth=2)),
                         tooltip=["number", "state", "epoch", "curve"]))
        st.altair_chart(chart.properties(height=260), width="stretch")


def _importances(summary: dict[str, Any]) -> None:
    st.subheader("Parameter importances")
    importances = summary.get("importances") or {}
    if not importances:
        st.info("Not estimated yet: Optuna's importance evaluator needs more complete trials "
                "with different values.")
        return
    frame = pl.DataFrame({"parameter": list(importances), "importance": list(
        importances.values())})
    chart = (alt.Chart(frame.to_pandas()).mark_bar()
             .encode(x=alt.X("importance:Q"), y=alt.Y("parameter:N", sort="-x"),
                     tooltip=["parameter", "importance"]))
    st.altair_chart(chart.properties(height=40 * frame.height + 40), width="stretch")
    st.caption("Optuna's fANOVA importances (the share of the objective's variance each "
               "parameter explains over the complete trials), computed by `tsssm tune`.")


def parallel_frame(study: StudyInfo) -> pl.DataFrame:
    """The complete trials in long form for a parallel-coordinates chart: one row per
    (trial, axis) with ``position`` in [0, 1] (log scale for log ranges, choices in their
    order), the raw ``label``, and the trial's objective ``value``; the objective is the
    last axis."""
    space = study.summary.get("space", {})
    complete = study.trials.filter((pl.col("state") == "complete")
                                   & pl.col("value").is_not_null())
    objective = study.summary.get("objective", "value")
    rows: list[dict[str, Any]] = []
    axes = [*study.parameters, objective]
    for trial in complete.iter_rows(named=True):
        for axis in axes:
            raw = trial["value"] if axis == objective else trial[axis]
            rows.append({"number": trial["number"], "axis": axis, "label": str(raw),
                         "position": _position(raw, space.get(axis, {}),
                                               complete[axis if axis != objective else "value"]),
                         "value": trial["value"]})
    return pl.from_dicts(rows) if rows else pl.DataFrame()


def _position(raw: Any, param: dict[str, Any], column: pl.Series) -> float:
    """``raw`` on a 0-1 axis: by its choice's place, else between the range's (or the
    column's) bounds, on a log scale for log ranges."""
    if raw is None:
        return math.nan
    if "choices" in param:
        labels = [str(c) for c in param["choices"]]
        return labels.index(str(raw)) / max(len(labels) - 1, 1) if str(raw) in labels else 0.5
    low = param.get("low", column.min())
    high = param.get("high", column.max())
    scale = math.log if param.get("log") else float
    span = scale(high) - scale(low)
    return (scale(raw) - scale(low)) / span if span else 0.5


def _parallel_coordinates(study: StudyInfo) -> None:
    st.subheader("Parallel coordinates")
    frame = parallel_frame(study)
    if frame.is_empty():
        st.info("No complete trial yet.")
        return
    objective = study.summary.get("objective", "value")
    order = [*study.parameters, objective]
    chart = (alt.Chart(frame.to_pandas()).mark_line(point=True, opacity=0.7)
             .encode(x=alt.X("axis:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
                     y=alt.Y("position:Q", title="position in the range (0 = low, 1 = high)"),
                     color=alt.Color("value:Q", title=objective,
                                     scale=alt.Scale(scheme="viridis", reverse=study.summary.get(
                                         "direction", "minimize") == "minimize")),
                     detail="number:N", tooltip=["number", "axis", "label", "value"]))
    st.altair_chart(chart.properties(height=320), width="stretch")


def _trial_run(info: RunInfo, study: StudyInfo) -> None:
    st.subheader("A trial's run")
    numbers = study.trials.sort("number")["number"].to_list()
    number = choose("Trial", numbers, "trial", default=len(numbers) - 1)
    row = study.trials.filter(pl.col("number") == number).row(0, named=True)
    path = info.path / row["run"] if row["run"] else None
    if path is None or not path.is_dir():
        st.info(f"Trial {number} ran in {row['run'] or 'an unknown folder'} "
                f"(host {row['host']}), not inside this study folder.")
        return
    trial = cache.run(path)
    st.caption(f"`{path}` · status **{state(trial)}** · trained and validated only (trials "
               "never see the test split)")
    table = metrics_frame([trial])
    if not table.is_empty():
        st.dataframe(table, hide_index=True, width="stretch")
    curves.render([trial], key="trial_curves")
