"""Cached loading for the app: ``st.cache_data`` over :mod:`tsssm.runs.reading`.

Every cached function takes the path as a string plus the modification times of the files it
reads, so an entry is reused while the files stay the same and reloaded as soon as a running
recipe rewrites one of them (each rewrite is an atomic rename, which changes the mtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from tsssm import runs as run_folders
from tsssm.runs import PREDICTIONS, RunFileError, RunInfo
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


@st.cache_data(show_spinner=False, max_entries=16)
def _predictions(path: str, task: str, stamp: int) -> pl.DataFrame:
    columns = TASKS[task].prediction_columns if task in TASKS else ()
    return run_folders.read_predictions(Path(path), task, columns)


def predictions(info: RunInfo) -> pl.DataFrame:
    """predictions.parquet of ``info``'s run, checked against its task's columns."""
    return _predictions(str(info.path), info.task, run_folders.file_stamp(info.path / PREDICTIONS))


@st.cache_data(show_spinner=False, max_entries=64)
def _curves(path: str, stamps: tuple[int, ...]) -> pl.DataFrame:
    return run_folders.read_curves(Path(path))


def curves(path: Path) -> pl.DataFrame:
    """Per-epoch training curves of a run folder (see ``tsssm.runs.read_curves``)."""
    return _curves(str(path), tuple(run_folders.file_stamp(f) for f in run_folders.log_files(path)))


@st.cache_data(show_spinner=False, max_entries=4)
def _series(data: dict[str, Any], stamp: int) -> pl.DataFrame:
    from tsssm.tasks.forecasting import read_series

    try:
        return read_series({"data": data})
    except (OSError, ValueError) as error:
        raise RunFileError(f"the run's data {data.get('dataset')} cannot be loaded: "
                           f"{error}") from None


def series(config: dict[str, Any]) -> pl.DataFrame:
    """The data file of a forecasting run (see ``tsssm.tasks.forecasting.read_series``)."""
    data = config.get("data", {})
    return _series(data, run_folders.file_stamp(Path(str(data.get("dataset", "")))))


@st.cache_data(show_spinner=False, max_entries=32)
def _study(path: str, stamps: tuple[int, ...]) -> StudyInfo:
    return read_study(Path(path))


def study(path: Path) -> StudyInfo:
    """study.json and trials.parquet of a study folder (see ``tsssm.runs.study``)."""
    return _study(str(path), tuple(run_folders.file_stamp(path / n) for n in (STUDY_JSON, TRIALS)))
