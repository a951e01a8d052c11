"""Runs overview: every run folder with its recipe, models, data, date, status and headline
test metrics (of the main model), with filters and a sort order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import streamlit as st

from tsssm.runs import RunInfo
from tsssm.tasks import TASKS

from .common import CORRUPT, RESUMED, state


def overview_frame(infos: Sequence[RunInfo]) -> pl.DataFrame:
    """One row per run: run, recipe, task, models, data, started, status, attempts and the
    headline test metrics of its main model."""
    rows: list[dict[str, Any]] = []
    for info in infos:
        row: dict[str, Any] = {
            "run": info.name, "recipe": info.recipe, "task": info.task,
            "models": ", ".join(info.models), "data": info.dataset,
            "started": info.created[:19].replace("T", " "), "status": state(info),
            "attempts": info.attempts,
        }
        test = info.test_metrics(info.main_model) if info.main_model else {}
        headline = TASKS[info.task].headline_metrics if info.task in TASKS else ()
        row.update({f"test {k}": test[k] for k in headline if k in test})
        rows.append(row)
    return pl.from_dicts(rows, infer_schema_length=None)


def render(infos: Sequence[RunInfo]) -> None:
    st.title("Runs")
    table = overview_frame(infos)
    corrupt = [i for i in infos if i.problems]
    if corrupt:
        st.warning("Run folders with damaged or missing files (open one for details): "
                   + "; ".join(f"{i.name}: {i.problems[0]}" for i in corrupt))
    statuses = sorted({*table["status"].to_list(),
                       *([RESUMED] if (table["attempts"] > 1).any() else [])})
    left, middle, right = st.columns(3)
    keep_status = left.multiselect("Status", statuses, default=statuses, key="filter_status")
    tasks = sorted(set(table["task"].to_list()))
    keep_task = middle.multiselect("Task", tasks, default=tasks, key="filter_task")
    text = right.text_input("Run, recipe, model or data contains", key="filter_text")
    sort_by = left.selectbox("Sort by", table.columns, index=table.columns.index("started"),
                             key="sort_by")
    descending = middle.toggle("Descending", value=True, key="sort_descending")

    shown = filter_runs(table, keep_status, keep_task, text)
    st.dataframe(shown.sort(sort_by, descending=descending, nulls_last=True),
                 hide_index=True, width="stretch")
    st.caption(f"{shown.height} of {table.height} runs. Open one under 'Run' in the sidebar; "
               f"compare several under 'Compare'. Status '{CORRUPT}': a damaged run folder; "
               f"'{RESUMED}' (filter): runs that took more than one attempt.")


def filter_runs(table: pl.DataFrame, statuses: Sequence[str], tasks: Sequence[str],
                text: str) -> pl.DataFrame:
    """The rows of ``table`` with a kept status (or resumed, when "resumed" is kept), a kept
    task, and ``text`` in their run, recipe, models or data (case-insensitive)."""
    keep = pl.col("status").is_in(list(statuses))
    if RESUMED in statuses:
        keep = keep | (pl.col("attempts") > 1)
    keep = keep & pl.col("task").is_in(list(tasks))
    if text:
        needle = text.lower()
        keep = keep & pl.any_horizontal(
            pl.col(c).str.to_lowercase().str.contains(needle, literal=True)
            for c in ("run", "recipe", "models", "data"))
    return table.filter(keep)
