"""Pieces every view uses: run states, the metrics tables, checking predictions with a message,
and widgets whose choice is mirrored in the URL's query parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import streamlit as st

from tsssm.runs import RunFileError, RunInfo, run_state
from tsssm.runs.study import is_study
from tsssm.tasks import TASKS

from .. import cache

CORRUPT = "corrupt"
RESUMED = "resumed"
# Training facts of metrics.json shown beside the test metrics.
TRAINING_KEYS = ("val_loss", "epochs", "parameters", "train_time_s")


def state(info: RunInfo) -> str:
    """finished / running / failed / interrupted, or "corrupt" for a damaged folder."""
    return CORRUPT if info.problems else run_state(info.status)


def show_state(info: RunInfo) -> None:
    """A coloured box saying what is wrong or unfinished with the run (nothing when it
    finished cleanly)."""
    for problem in info.problems:
        st.error(f"Corrupt run folder {info.path}: {problem}. The app shows what it can read.")
    current = run_state(info.status)
    command = "tsssm tune" if is_study(info.path) else "tsssm run"
    if current == "failed":
        st.error(f"The run failed: {info.status.get('error') or 'no reason recorded'}. "
                 f"Resume it with `{command} --resume {info.path}`.")
    elif current == "interrupted":
        st.warning(f"The run was interrupted (its process is gone). Resume it with "
                   f"`{command} --resume {info.path}`.")
    elif current == "running":
        states = ", ".join(f"{m} {s}" for m, s in info.status.get("models", {}).items())
        st.warning(f"The run is still running ({states}); what is shown is what it has "
                   "written so far. Reload the page to update.")
    if info.attempts > 1:
        st.info(f"Resumed: this run took {info.attempts} attempts.")


def metrics_frame(infos: Sequence[RunInfo], with_run: bool = False) -> pl.DataFrame:
    """One row per (run, model): role, the task's headline test metrics, every other scalar
    test metric, then the training facts (headline metrics first, so that they are in view
    however narrow the window)."""
    rows: list[dict[str, Any]] = []
    for info in infos:
        headline = TASKS[info.task].headline_metrics if info.task in TASKS else ()
        for model in info.models:
            entry = info.metrics.get(model)
            if not isinstance(entry, dict):
                continue
            row: dict[str, Any] = {"run": info.name} if with_run else {}
            row.update(model=model, role=entry.get("role"))
            test = info.test_metrics(model)
            ordered = [*(k for k in headline if k in test), *(k for k in test if k not in headline)]
            row.update({f"test {k}": test[k] for k in ordered})
            row.update({key: entry.get(key) for key in TRAINING_KEYS})
            rows.append(row)
    return pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()


def part_metrics(info: RunInfo, field: str, key: str) -> pl.DataFrame:
    """One row per (model, part) from metrics.json's ``field`` of every model of ``info``: the
    part's scalar scores, named by column ``key``. ``field`` holds either a list of dicts that
    name their part under ``key`` (the phase recipe's ``per_sequence``) or a dict part ->
    scores (the window classifiers' ``per_group``, by subject). Empty when no model has it."""
    rows: list[dict[str, Any]] = []
    for model in info.models:
        entries = info.metrics.get(model, {}).get(field)
        if isinstance(entries, dict):
            entries = [{key: part, **scores} for part, scores in entries.items()
                       if isinstance(scores, dict)]
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and key in entry:
                rows.append({"model": model, **{k: v for k, v in entry.items()
                                                if isinstance(v, int | float | str)}})
    return pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()


def has_predictions(info: RunInfo) -> bool:
    """Whether the run's predictions can be read and hold rows; when not, says why. Only the
    file's metadata is read."""
    try:
        count = cache.summary(info, "rows", lambda scan: scan.select(rows=pl.len()))
    except RunFileError as error:
        live = run_state(info.status) == "running"
        (st.info if live else st.error)(
            f"No predictions to show: {error}." + (" The run is still going." if live else ""))
        return False
    if count["rows"][0] == 0:
        st.warning("predictions.parquet holds no rows.")
        return False
    return True


def models_in(info: RunInfo) -> list[str]:
    """The models of the run's predictions: its main model first, then its baselines, then
    any other."""
    present = cache.values(info, "model")
    return [m for m in info.models if m in present] + [m for m in present
                                                        if m not in info.models]


def choose(label: str, options: Sequence[Any], key: str, *, where: Any = st,
           default: int = 0, format_func: Callable[[Any], str] = str) -> Any:
    """A selectbox whose choice is kept in the URL (``?key=value``), so that a view can be
    linked to, and opened at a given choice; ``format_func`` names each option on screen."""
    options = list(options)
    names = [str(o) for o in options]
    wanted = st.query_params.get(key)
    index = names.index(wanted) if wanted in names else default
    choice = where.selectbox(label, options, index=index, key=key, format_func=format_func)
    if choice is not None:
        st.query_params[key] = str(choice)
    return choice


def slide(label: str, options: Sequence[Any], key: str, *, default: Any,
          format_func: Callable[[Any], str] = str, where: Any = st) -> Any:
    """A slider over ``options`` (in their order) whose choice is kept in the URL like
    :func:`choose`'s; it starts at ``default`` unless the URL names another option."""
    options = list(options)
    wanted = next((o for o in options if str(o) == st.query_params.get(key)), default)
    choice = where.select_slider(label, options, value=wanted, key=key,
                                 format_func=format_func)
    st.query_params[key] = str(choice)
    return choice


def started(info: RunInfo) -> str:
    """When the run started, to the minute (``2026-12-02 07:54``), or "-"."""
    return info.created[:16].replace("T", " ") or "-"
