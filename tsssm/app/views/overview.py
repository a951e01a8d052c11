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

HEADLINE = "headline (test, main model)"


def overview_frame(infos: Sequence[RunInfo]) -> pl.DataFrame:
    """One row per run: run, status, task, its headline test metrics (of its main model) as
    one text and one column each, then models, data, started, attempts and recipe."""
    rows: list[dict[str, Any]] = []
    for info in infos:
        test = info.test_metrics(info.main_model) if info.main_model else {}
        headline = [k for k in (TASKS[info.task].headline_metrics if info.task in TASKS
                                else ()) if k in test]
        row: dict[str, Any] = {
            "run": info.name, "status": state(info), "task": info.task,
            HEADLINE: " · ".join(f"{k} {test[k]:.4g}" for k in headline),
        }
        row.update({f"test {k}": test[k] for k in headline})
        row.update({"models": ", ".join(info.models), "data": info.dataset,
                    "started": info.created[:19].replace("T", " "), "attempts": info.attempts,
                    "recipe": info.recipe})
        rows.append(row)
    table = pl.from_dicts(rows, infer_schema_length=None)
    # The metric columns together, after the text of the headline.
    metrics = [c for c in table.columns if c.startswith("test ")]
    rest = [c for c in table.columns if c not in metrics and c != HEADLINE]
    return table.select(*rest[:3], HEADLINE, *metrics, *rest[3:])


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
    # Nothing picked: no filter (a box full of every choice would show none of them whole).
    keep_status = left.multiselect("Status", statuses, key="filter_status",
                                   placeholder="every status")
    tasks = sorted(set(table["task"].to_list()))
    keep_task = middle.multiselect("Task", tasks, key="filter_task", placeholder="every task")
    text = right.text_input("Run, recipe, model or data contains", key="filter_text")
    sortable = [c for c in table.columns if c != HEADLINE]
    sort_by = left.selectbox("Sort by", sortable, index=sortable.index("started"),
                             key="sort_by")
    descending = middle.toggle("Descending", value=True, key="sort_descending")

    shown = filter_runs(table, keep_status, keep_task, text)
    # Metric columns of no shown run (another task's) left out.
    shown = shown.select(c for c in shown.columns
                         if not c.startswith("test ") or shown[c].is_not_null().any())
    st.dataframe(shown.sort(sort_by, descending=descending, nulls_last=True)
                 if sort_by in shown.columns else shown,
                 hide_index=True, width="stretch")
    st.caption(f"{shown.height} of {table.height} runs. Open one under 'Run' in the sidebar; "
               f"compare several under 'Compare'. Status '{CORRUPT}': a damaged run folder; "
               f"'{RESUMED}' (filter): runs that took more than one attempt.")


def filter_runs(table: pl.DataFrame, statuses: Sequence[str], tasks: Sequence[str],
                text: str) -> pl.DataFrame:
    """The rows of ``table`` with a kept status (or resumed, when "resumed" is kept), a kept
    task, and ``text`` in their run, recipe, models or data (case-insensitive); no status or
    no task kept: any."""
    keep = pl.col("status").is_in(list(statuses)) if statuses else pl.lit(True)
    if RESUMED in statuses:
        keep = keep | (pl.col("attempts") > 1)
    if tasks:
        keep = keep & pl.col("task").is_in(list(tasks))
    if text:
        needle = text.lower()
        keep = keep & pl.any_horizontal(
            pl.col(c).str.to_lowercase().str.contains(needle, literal=True)
            for c in ("run", "recipe", "models", "data"))
    return table.filter(keep)
