"""The ``[tune]`` table of a recipe: what ``tsssm tune`` searches, typed and checked.

    [tune]
    objective = "val_loss"        # a validation metric of the task (never a test one)
    direction = "minimize"        # default: minimize a *loss, maximize anything else
    sampler = "tpe"               # or "random"
    pruner = "median"             # or "successive_halving", "none"
    model = "smamba"              # the model of the recipe each trial trains (default: the
                                  # main model; a baseline's name tunes that baseline alone)
    trials = 20                   # default of `tsssm tune --trials`
    seed = 0                      # the sampler's seed (default: train.seed)

    [tune.space]                  # a recipe key, as `--set` writes it -> its range
    train.lr = { low = 1e-5, high = 1e-3, log = true }     # float (a float bound), log scale
    model.n_layers = { low = 1, high = 4 }                 # int (integer bounds), step 1
    model.dropout = { low = 0.0, high = 0.3, step = 0.05 }
    model.d_model = { choices = [64, 128, 256] }

Everything here is plain Python (no Optuna): the recipe parser checks a space before any
run folder exists, by building the recipe a trial would train at every bound and choice
(:func:`check_space`), so a key the model does not take, or a value it rejects, is an error
naming the file and the key. ``tsssm.tuning`` turns the space into Optuna suggestions.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._schema import Context, check_keys, suggest, toml_type

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "successive_halving", "none")
DIRECTIONS = ("minimize", "maximize")
_RANGE_KEYS = ("low", "high", "log", "step")
_SETTINGS = ("objective", "direction", "sampler", "pruner", "model", "trials", "seed", "space")


@dataclass(frozen=True)
class SearchParam:
    """One searched setting: ``key`` (dotted, as ``--set`` writes it) and either a range
    ``low``..``high`` (both ends included; ``int`` when both bounds are integers, else
    ``float``; ``log`` scale; an optional ``step``) or a list of ``choices``."""

    key: str
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def kind(self) -> str:
        """``"categorical"``, ``"int"`` or ``"float"``."""
        if self.choices is not None:
            return "categorical"
        return "int" if isinstance(self.low, int) and isinstance(self.high, int) else "float"

    def probes(self) -> list[Any]:
        """The values :func:`check_space` builds a recipe with: both bounds, or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def table(self) -> dict[str, Any]:
        """The TOML table of this parameter (``parse_tune`` reads it back)."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        table: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            table["log"] = True
        if self.step is not None:
            table["step"] = self.step
        return table


@dataclass
class TuneConfig:
    """A recipe's ``[tune]`` table (see the module docstring). ``model`` is resolved to the
    name of the tuned model and ``direction`` to minimize/maximize when the recipe is read."""

    space: dict[str, SearchParam] = field(default_factory=dict)
    objective: str = "val_loss"
    direction: str = ""
    sampler: str = "tpe"
    pruner: str = "median"
    model: str = ""
    trials: int = 20
    seed: int | None = None

    def table(self) -> dict[str, Any]:
        """The ``[tune]`` table as a recipe file writes it."""
        table: dict[str, Any] = {key: getattr(self, key) for key in _SETTINGS[:-1]}
        table["space"] = _nest({key: param.table() for key, param in self.space.items()})
        return table


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train.lr": v}`` -> ``{"train": {"lr": v}}`` (how TOML dotted keys parse)."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        table = nested
        *parents, last = key.split(".")
        for part in parents:
            table = table.setdefault(part, {})
        table[last] = value
    return nested


def _leaves(table: Mapping[str, Any], prefix: str, ctx: Context) -> Iterator[tuple[str, Any]]:
    """(dotted key, range table) of every parameter of ``[tune.space]``, which TOML may have
    nested (``train.lr = {...}``) or kept flat (``"train.lr" = {...}``)."""
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if not isinstance(value, dict):
            raise ctx.error(f"tune.space.{key}", f"tune.space.{key} must be a table such as "
                            "{ low = 1e-5, high = 1e-3, log = true } or { choices = [...] }, "
                            f"not {toml_type(value)} {value!r}")
        if {"low", "high", "choices"} & set(value):
            yield key, value
        elif not value:
            raise ctx.error(f"tune.space.{key}", f"tune.space.{key} is empty: give low and "
                                                 "high, or choices")
        else:
            yield from _leaves(value, key, ctx)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_param(key: str, table: Mapping[str, Any], ctx: Context) -> SearchParam:
    """One ``[tune.space]`` entry, checked: a non-empty list of distinct choices, or finite
    numeric bounds with low < high (low == high is no search), log only with low > 0 and no
    step, a positive step not wider than the range."""
    where = f"tune.space.{key}"
    if "choices" in table:
        check_keys(table, ["choices"], where, ctx)
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            raise ctx.error(where, f"{where}.choices must be a non-empty array, not "
                                   f"{toml_type(choices)} {choices!r}")
        if any(isinstance(c, dict | list) for c in choices):
            raise ctx.error(where, f"{where}.choices must hold plain values (numbers, strings, "
                                   f"booleans), not {choices!r}")
        if len({repr(c) for c in choices}) != len(choices):
            raise ctx.error(where, f"{where}.choices repeats a value: {choices!r}")
        return SearchParam(key, choices=tuple(choices))
    check_keys(table, _RANGE_KEYS, where, ctx)
    for bound in ("low", "high"):
        if bound not in table:
            raise ctx.error(where, f"{where} needs both low and high (or choices)")
        value = table[bound]
        if not _number(value) or not math.isfinite(value):
            raise ctx.error(where, f"{where}.{bound} must be a finite number, not "
                                   f"{toml_type(value)} {value!r}")
    low, high, log, step = table["low"], table["high"], table.get("log", False), table.get("step")
    if not low < high:
        what = "empty" if low == high else "inverted"
        raise ctx.error(where, f"{where}: the range is {what} (low {low!r}, high {high!r}); "
                               "low must be below high")
    if not isinstance(log, bool):
        raise ctx.error(where, f"{where}.log must be true or false, not {log!r}")
    if log and low <= 0:
        raise ctx.error(where, f"{where}: a log range needs low > 0, not {low!r}")
    if step is not None:
        if not _number(step) or not step > 0:
            raise ctx.error(where, f"{where}.step must be a positive number, not {step!r}")
        if log:
            raise ctx.error(where, f"{where}: a log range takes no step")
        if step > high - low:
            raise ctx.error(where, f"{where}.step {step!r} is wider than the range "
                                   f"{low!r}..{high!r}")
        integer = isinstance(low, int) and isinstance(high, int)
        if integer and not isinstance(step, int):
            raise ctx.error(where, f"{where}: an integer range takes an integer step, not "
                                   f"{step!r}")
    return SearchParam(key, low, high, log, step)


def parse_tune(raw: Any, ctx: Context) -> TuneConfig:
    """The ``[tune]`` table ``raw`` as a :class:`TuneConfig`: known keys, types and ranges.
    Which model it tunes and whether the recipe takes every value is checked later, against
    the built recipe (:func:`check_space`)."""
    if not isinstance(raw, dict):
        raise ctx.error("tune", f"'tune' must be a table, not {toml_type(raw)}")
    check_keys(raw, _SETTINGS, "tune", ctx)
    strings = {key: raw.get(key, default) for key, default in (
        ("objective", "val_loss"), ("direction", ""), ("sampler", "tpe"), ("pruner", "median"),
        ("model", ""))}
    for key, value in strings.items():
        if not isinstance(value, str):
            raise ctx.error(f"tune.{key}", f"'tune.{key}' must be a string, not "
                                           f"{toml_type(value)} {value!r}")
    for key, choices in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        if strings[key] not in choices:
            raise ctx.error(f"tune.{key}", f"tune.{key} must be one of {list(choices)}, not "
                                           f"{strings[key]!r}{suggest(strings[key], choices)}")
    direction = strings["direction"] or (
        "minimize" if strings["objective"].endswith("loss") else "maximize")
    if direction not in DIRECTIONS:
        raise ctx.error("tune.direction", f"tune.direction must be one of {list(DIRECTIONS)}, "
                                          f"not {direction!r}")
    trials, seed = raw.get("trials", 20), raw.get("seed")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ctx.error("tune.trials", f"tune.trials must be a positive integer, not {trials!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ctx.error("tune.seed", f"tune.seed must be an integer, not {seed!r}")
    space_table = raw.get("space", {})
    if not isinstance(space_table, dict) or not space_table:
        raise ctx.error("tune.space", "tune.space must be a table of at least one parameter, "
                                      "e.g. [tune.space] train.lr = { low = 1e-5, high = 1e-3, "
                                      "log = true }")
    space = {key: parse_param(key, table, ctx) for key, table in _leaves(space_table, "", ctx)}
    return TuneConfig(space, strings["objective"], direction, strings["sampler"],
                      strings["pruner"], strings["model"], trials, seed)


# ---------------------------------------------------------------------------------------------
# The recipe a trial trains
# ---------------------------------------------------------------------------------------------


def trial_recipe(recipe: Mapping[str, Any], model: str, values: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """The recipe (a dict in the recipe-file layout, without ``[tune]``) of one trial: the
    ``values`` set at their dotted keys (as ``--set`` does), then only ``model`` kept (the
    main model, or a baseline promoted to the main model with its ``[baselines.<name>]``
    settings), so that a trial trains and validates the tuned model alone."""
    from .config import _set_dotted

    table = copy.deepcopy(dict(recipe))
    table.pop("tune", None)
    for key, value in values.items():
        _set_dotted(table, key, value, "[tune]")
    if table["model"]["name"] != model:
        table["model"] = {"name": model, **table.get("baselines", {}).get(model, {})}
    table["run"] = {**table["run"], "baselines": []}
    table.pop("baselines", None)
    return table


def apply_values(recipe: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The whole recipe (every model, without ``[tune]``) with ``values`` at their keys: the
    tuned recipe that ``best.toml`` holds."""
    from .config import _set_dotted

    table = copy.deepcopy(dict(recipe))
    table.pop("tune", None)
    for key, value in values.items():
        _set_dotted(table, key, value, "[tune]")
    return table


def resolve_model(tune: TuneConfig, main: str, baselines: list[str], ctx: Context) -> None:
    """Fill ``tune.model`` (default: the main model) and check that it is a model of the
    recipe and that every key of the space reaches it (a trial trains it alone)."""
    tune.model = tune.model or main
    models = [main, *baselines]
    if tune.model not in models:
        raise ctx.error("tune.model", f"tune.model {tune.model!r} is not a model of the recipe "
                                      f"(its models: {', '.join(models)})")
    for key in tune.space:
        top = key.split(".")[0]
        reaches = {"train": True, "data": True, "model": tune.model == main,
                   "baselines": key.startswith(f"baselines.{tune.model}.")}
        if not reaches.get(top, False):
            why = ("the run's name, task and baselines are not searched" if top == "run" else
                   f"trials train {tune.model!r} alone (tune.model)"
                   if top in reaches else f"{top!r} is no table of a recipe")
            raise ctx.error(f"tune.space.{key}", f"tune.space.{key}: cannot search {key!r}: "
                                                 f"{why}")


def check_space(recipe: Mapping[str, Any], tune: TuneConfig, source: str) -> None:
    """Build the recipe of a trial at both bounds (or every choice) of each parameter, the
    others left as ``recipe`` (resolved, in the recipe-file layout) has them, so that a key
    the model or config does not take, or a value it rejects, is a ConfigError now, before
    anything trains. The message names the file, the parameter and the value tried."""
    from .config import from_dict

    for param in tune.space.values():
        for value in param.probes():
            from_dict(trial_recipe(recipe, tune.model, {param.key: value}),
                      source=f"{source}: [tune.space] {param.key} = {value!r}")
