"""A recipe's search space as Optuna suggestions, and the sampler that draws them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from tsssm.recipes.search_space import SearchParam


def suggest(trial: optuna.Trial, space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """One value per parameter of ``space``, drawn by ``trial`` under the parameter's own key
    (``train.lr``), so that trial ``params`` are recipe keys ready for ``--set``."""
    values: dict[str, Any] = {}
    for key, param in space.items():
        if param.kind == "categorical":
            values[key] = trial.suggest_categorical(key, list(param.choices or ()))
        elif param.kind == "int":
            values[key] = trial.suggest_int(key, int(param.low), int(param.high),
                                            step=int(param.step or 1), log=param.log)
        else:
            values[key] = trial.suggest_float(key, float(param.low), float(param.high),
                                              step=param.step, log=param.log)
    return values


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """``"tpe"`` (Optuna's TPESampler, its default start-up of 10 random trials) or
    ``"random"``, seeded."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")
