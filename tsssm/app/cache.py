"""Cached loading for the app: ``st.cache_data`` over :mod:`tsssm.runs.reading`.

Every cached function takes the path as a string plus the modification times of the files it
reads, so an entry is reused while the files stay the same and reloaded as soon as a running
recipe rewrites one of them (each rewrite is an atomic rename, which changes the mtime).

Predictions are never loaded whole: a view asks for the values of one column (to offer a
choice), for the rows of one choice (:func:`predictions`, a filtered Parquet scan) or for a
summary that polars computes while streaming over the file (:func:`summary`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from tsssm import runs as run_folders
from tsssm.runs import INPUTS, PREDICTIONS, RunInfo
from tsssm.runs.study import STUDY_JSON, TRIALS, StudyInfo, read_study
from tsssm.tasks import TASKS


@st.cache_data(show_spinner=False, max_entries=512)
def _run(path: str, stamps: tuple[int, ...]) -> RunInfo:
    return run_folders.read_run(Path(path))


def run(path: Path) -> RunInfo:
    """The small files of one run folder (see ``tsssm.runs.read_run``)."""
    return _run(str(path), tuple(run_folders.file_stamp(path / n) for n in run_folders.RUN_FILES))


def runs(runs_dir: Path) -> list[RunInfo]:
    """Every run folder of ``runs_dir``, oldest first (raises ``RunFileError`` when
    ``runs_dir`` is not a folder)."""
    infos = [run(p) for p in run_folders.find_runs(runs_dir)]
    return sorted(infos, key=lambda info: (info.created, info.name))


def _columns(task: str) -> tuple[str, ...]:
    return TASKS[task].prediction_columns if task in TASKS else ()


def scan(info: RunInfo) -> pl.LazyFrame:
    """predictions.parquet of ``info``'s run as a lazy scan, checked against its task's
    columns (raises ``RunFileError``); reading it is left to the caller."""
    return run_folders.scan_predictions(info.path, info.task, _columns(info.task))


@st.cache_data(show_spinner=False, max_entries=64)
def _predictions(path: str, task: str, stamp: int, where: tuple[tuple[str, Any], ...]
                 ) -> pl.DataFrame:
    return run_folders.read_predictions(Path(path), task, _columns(task), dict(where))


def predictions(info: RunInfo, **where: Any) -> pl.DataFrame:
    """The rows of ``info``'s predictions whose columns equal ``where``
    (``model="smamba", window=96``), read through a filtered scan."""
    return _predictions(str(info.path), info.task, _stamp(info),
                        tuple(sorted(where.items())))


@st.cache_data(show_spinner=False, max_entries=64)
def _values(path: str, task: str, stamp: int, column: str) -> list[Any]:
    scan = run_folders.scan_predictions(Path(path), task, _columns(task))
    unique = scan.select(pl.col(column).unique(maintain_order=True))
    return run_folders.collect(unique, PREDICTIONS)[column].to_list()


def values(info: RunInfo, column: str) -> list[Any]:
    """The distinct values of ``column`` in ``info``'s predictions, in file order."""
    return _values(str(info.path), info.task, _stamp(info), column)


@st.cache_data(show_spinner=False, max_entries=64)
def _summary(path: str, task: str, stamp: int, name: str,
             _query: Callable[[pl.LazyFrame], pl.LazyFrame]) -> pl.DataFrame:
    scan = run_folders.scan_predictions(Path(path), task, _columns(task))
    return run_folders.collect(_query(scan), PREDICTIONS)


def summary(info: RunInfo, name: str, query: Callable[[pl.LazyFrame], pl.LazyFrame]
            ) -> pl.DataFrame:
    """``query`` (an aggregation of the predictions' scan, cached under ``name``)
    collected with polars' streaming engine: memory bounded by its result, not the file."""
    return _summary(str(info.path), info.task, _stamp(info), name, query)


def _stamp(info: RunInfo) -> int:
    return run_folders.file_stamp(info.path / PREDICTIONS)


@st.cache_data(show_spinner=False, max_entries=64)
def _inputs(path: str, stamp: int, variate: str, start: int, stop: int) -> pl.DataFrame:
    scan = run_folders.scan_run_parquet(Path(path), INPUTS)
    rows = scan.filter((pl.col("variate") == variate) & pl.col("row").is_between(
        start, stop, closed="left")).sort("row")
    return run_folders.collect(rows, INPUTS)


def inputs(info: RunInfo, variate: str, start: int, stop: int) -> pl.DataFrame:
    """Rows ``start..stop-1`` of ``variate`` in a forecasting run's inputs.parquet (``row``,
    ``timestamp``, ``variate``, ``value``); raises ``RunFileError`` when the run has none."""
    return _inputs(str(info.path), run_folders.file_stamp(info.path / INPUTS), variate, start,
                   stop)


@st.cache_data(show_spinner=False, max_entries=64)
def _curves(path: str, stamps: tuple[int, ...]) -> pl.DataFrame:
    return run_folders.read_curves(Path(path))


def curves(path: Path) -> pl.DataFrame:
    """Per-epoch training curves of a run folder (see ``tsssm.runs.read_curves``)."""
    return _curves(str(path), tuple(run_folders.file_stamp(f) for f in run_folders.log_files(path)))


@st.cache_data(show_spinner=False, max_entries=32)
def _study(path: str, stamps: tuple[int, ...]) -> StudyInfo:
    return read_study(Path(path))


def study(path: Path) -> StudyInfo:
    """study.json and trials.parquet of a study folder (see ``tsssm.runs.study``)."""
    return _study(str(path), tuple(run_folders.file_stamp(path / n) for n in (STUDY_JSON, TRIALS)))
