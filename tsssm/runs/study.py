"""The files ``tsssm tune`` adds to a run folder, and reading them (no torch, no Optuna)::

    study.json       study name, storage, objective and direction, the tuned model, trials
                     asked for and done, counts per state, the best trial, the importances
    trials.parquet   one row per trial (number, state, value, duration_s, epochs, curve,
                     started, run, host, then one column per searched parameter)
    study.db         the Optuna study (SQLite), unless it lives on a shared server
    recipe.toml      the recipe as given (resolved, every model, with its [tune] table)
    best.toml        that recipe with the best trial's values: `tsssm run best.toml`
    trials/trial-<number>/    each trial's run folder (trained and validated, never tested)
    final/trial-<number>/, final/default/   the best trial's and the untuned recipe's model,
                     trained and tested once; their metrics are the study's metrics.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .reading import RunFileError, read_small_file

STUDY_JSON, TRIALS, STUDY_DB = "study.json", "trials.parquet", "study.db"
RECIPE, BEST_RECIPE = "recipe.toml", "best.toml"
TRIALS_DIR, FINAL_DIR = "trials", "final"


def is_study(path: Path) -> bool:
    """Whether the run folder ``path`` is a study's (``tsssm tune`` wrote study.json)."""
    return (path / STUDY_JSON).is_file()


@dataclass(frozen=True)
class StudyInfo:
    """study.json and trials.parquet of one study folder (``trials`` empty before the
    first trial ends)."""

    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    trials: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def parameters(self) -> list[str]:
        """The searched keys: the trials' columns that hold parameters."""
        fixed = {"number", "state", "value", "duration_s", "epochs", "curve", "started", "run",
                 "host"}
        return [c for c in self.trials.columns if c not in fixed]


def read_study(path: Path) -> StudyInfo:
    """The study of the run folder ``path``.

    Raises:
        RunFileError: study.json is missing or damaged, or trials.parquet cannot be read.
    """
    try:
        summary = json.loads(read_small_file(path / STUDY_JSON))
    except FileNotFoundError:
        raise RunFileError(f"{STUDY_JSON} is missing: not a study folder") from None
    except (OSError, ValueError, RunFileError) as error:
        raise RunFileError(f"{STUDY_JSON} cannot be read: {error}") from None
    if not isinstance(summary, dict):
        raise RunFileError(f"{STUDY_JSON} holds a {type(summary).__name__}, not a table")
    trials = pl.DataFrame()
    if (path / TRIALS).is_file():
        try:
            trials = pl.read_parquet(path / TRIALS)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise RunFileError(f"{TRIALS} cannot be read: {error}") from None
    return StudyInfo(path, summary, trials)
