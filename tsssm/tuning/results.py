"""What a study leaves in its run folder for readers (the app, ``tsssm show``): one row per
trial in trials.parquet, and study.json with the objective, the best trial and the
parameter importances. Both are rewritten (atomically) after every trial."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import polars as pl

from tsssm.recipes.search_space import TuneConfig
from tsssm.runs import write_json, write_parquet
from tsssm.runs.study import STUDY_JSON, TRIALS

_FIXED = {"number": pl.Int64, "state": pl.String, "value": pl.Float64,
          "duration_s": pl.Float64, "epochs": pl.Int64, "curve": pl.List(pl.Float64),
          "started": pl.String, "run": pl.String, "host": pl.String}


def counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The finished trials that count towards ``--trials``: complete, pruned or failed, but
    not those a later trial retried (a crash is retried with the same parameters)."""
    # Not RetryHeartbeatStaleTrialCallback.retried_trial_number (experimental): the same
    # system attribute, read directly.
    retried = {t.system_attrs.get("failed_trial") for t in trials} - {None}
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL)
    return [t for t in trials if t.state in done and t.number not in retried]


def _run_path(trial: optuna.trial.FrozenTrial, folder: Path) -> str:
    """The trial's run folder, relative to the study folder when it lies inside it."""
    run = trial.user_attrs.get("run_dir", "")
    try:
        return str(Path(run).relative_to(folder)) if run else ""
    except ValueError:  # a trial of another process, with its own run folder
        return run


def trials_frame(trials: list[optuna.trial.FrozenTrial], tune: TuneConfig,
                 folder: Path) -> pl.DataFrame:
    """One row per trial: number, state, value (the objective), duration_s, epochs
    validated, curve (the objective at each epoch), started, run (its folder), host, then
    one column per searched parameter, named by its key (``train.lr``)."""
    rows: list[dict[str, Any]] = []
    for trial in trials:
        curve = [float(trial.intermediate_values[k]) for k in sorted(trial.intermediate_values)]
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        row: dict[str, Any] = {
            "number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "duration_s": duration, "epochs": len(curve), "curve": curve,
            "started": trial.datetime_start.isoformat(timespec="seconds")
            if trial.datetime_start else None,
            "run": _run_path(trial, folder), "host": trial.user_attrs.get("host"),
        }
        row.update({key: trial.params.get(key) for key in tune.space})
        rows.append(row)
    schema: dict[str, Any] = dict(_FIXED)
    for key, param in tune.space.items():
        values = [r[key] for r in rows if r[key] is not None]
        if param.kind == "int" or (param.kind == "categorical" and values and all(
                isinstance(v, int) and not isinstance(v, bool) for v in values)):
            schema[key] = pl.Int64
        elif param.kind == "float" or (values and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values)):
            schema[key] = pl.Float64
        elif values and all(isinstance(v, bool) for v in values):
            schema[key] = pl.Boolean
        else:  # strings, or choices of mixed types: shown as text
            schema[key] = pl.String
            for row in rows:
                row[key] = None if row[key] is None else str(row[key])
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(
        schema=schema)


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA parameter importances over the complete trials (the share of the
    objective's variance each parameter explains, in a seeded random forest), or {} while
    there are too few complete trials, or too little variety, to estimate them."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}
    if any("will be equal" in str(w.message) for w in caught):
        return {}
    return {k: float(v) for k, v in found.items()}


def best_of(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial, or None while there is none."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    finite = [t for t in complete if t.value is not None and math.isfinite(t.value)]
    if not finite:
        return None
    sign = 1 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1
    return min(finite, key=lambda t: (sign * t.value, t.number))


def write_results(study: optuna.Study, tune: TuneConfig, folder: Path,
                  summary: dict[str, Any]) -> dict[str, Any]:
    """Rewrite trials.parquet and study.json (``summary``: the study's name, storage and
    request, completed here with the counts, the best trial and the importances)."""
    trials = study.get_trials(deepcopy=False)
    write_parquet(folder / TRIALS, trials_frame(trials, tune, folder))
    best = best_of(study)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    content = {
        **summary, "trials_done": len(counted(trials)), "states": states,
        "best": None if best is None else {
            "number": best.number, "value": best.value, "params": best.params,
            "run": _run_path(best, folder)},
        "importances": importances(study),
    }
    write_json(folder / STUDY_JSON, content)
    return content
