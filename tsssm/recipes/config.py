"""Typed recipe configs: a TOML recipe file (plus ``--set key=value`` overrides) parses into
dataclasses; an unknown or mistyped key is a :class:`ConfigError` naming the key and the file.

Layout of a recipe file::

    [run]      name, task, output_dir, baselines = ["dlinear", ...]
    [data]     the task's data (its ``tsssm.tasks`` module): dataset (a bundled name or a
               path, relative to the recipe file), then e.g. lookback, horizon
    [model]    name = "smamba", then the model's own options (d_model = 256, ...)
    [train]    max_epochs, batch_size, lr, patience, seed, strategy, devices, ...
    [baselines.<name>]        options of one baseline (default: the model's defaults)
    [baselines.<name>.train]  training settings of that model only (lr, batch_size, ...)
    [tune]     what ``tsssm tune`` searches (``search_space``); ``tsssm run`` ignores it
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsssm.training.config import SCHEDULES, TrainConfig

from . import _toml
from ._schema import ConfigError, Context, as_table, build, check_keys, check_type, suggest
from .search_space import TuneConfig, check_space, parse_tune, resolve_model

if TYPE_CHECKING:
    from tsssm.tasks.spec import Task

# Training settings one model may change for itself; the rest (seed, devices, strategy, ...)
# describe the run and must be the same for every model in it.
PER_MODEL_TRAIN = (
    "max_epochs", "max_steps", "batch_size", "lr", "lr_decay", "weight_decay", "patience",
    "schedule", "warmup_epochs", "min_lr", "gradient_clip_val", "layer_decay",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass
class RunConfig:
    """What the run is called, what it solves, where it goes, what it is compared with."""

    name: str
    task: str = "forecasting"
    output_dir: str = "runs"
    baselines: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    """A registered model: its name, the options passed to ``create_model`` and the training
    settings it changes for itself (keys of ``PER_MODEL_TRAIN``)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecipeConfig:
    """A whole recipe. ``source`` is where it was read from (for messages), not a setting."""

    run: RunConfig
    data: Any  # the task's data table: ``tsssm.tasks.get_task(run.task).data_config``
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    baselines: list[ModelConfig] = field(default_factory=list)
    source: str = "<config>"
    tune: TuneConfig | None = None  # the [tune] table, for `tsssm tune`

    def models(self) -> list[ModelConfig]:
        """The main model first, then the baselines in the order of ``run.baselines``."""
        return [self.model, *self.baselines]

    def train_for(self, model: ModelConfig) -> TrainConfig:
        """The training settings of ``model``: ``[train]`` with the model's own changes."""
        return dataclasses.replace(self.train, **model.train)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict in the recipe-file layout (``from_dict`` reads it back)."""
        tables: dict[str, Any] = {
            "run": dataclasses.asdict(self.run),
            "data": dataclasses.asdict(self.data),
            "model": _model_table(self.model, with_name=True),
            "train": dataclasses.asdict(self.train),
        }
        baselines = {m.name: _model_table(m) for m in self.baselines if m.options or m.train}
        if baselines:
            tables["baselines"] = baselines
        if self.tune is not None:
            tables["tune"] = self.tune.table()
        return tables


def _model_table(model: ModelConfig, with_name: bool = False) -> dict[str, Any]:
    table: dict[str, Any] = {"name": model.name} if with_name else {}
    table.update(model.options)
    if model.train:
        table["train"] = dict(model.train)
    return table


def dump_config(config: RecipeConfig) -> str:
    """TOML text of ``config``; ``load_config`` of that text gives ``config`` back."""
    return _toml.dumps(config.to_dict())


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> RecipeConfig:
    """Read the recipe at ``path`` and apply ``overrides`` ("train.lr=1e-3", ...).

    An override's value is read as a TOML value (``3``, ``1e-3``, ``true``, ``["a", "b"]``,
    ``"text"``); anything that is not one is taken as a plain string (``strategy=ddp``).
    A relative ``data.dataset`` path is relative to the recipe file, or to the working
    directory when it comes from an override.

    Raises:
        ConfigError: unreadable file, invalid TOML, bad override, unknown key, wrong type or
            invalid value; the message names the file (and the override) and the key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the recipe ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a recipe: a recipe is a TOML text file (UTF-8), this "
                          "file is not text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    origins: dict[str, str] = {}
    for override in overrides:
        key, value = parse_override(override, str(path))
        _set_dotted(raw, key, value, f"{path} (--set {override})")
        origins[key] = override
    return from_dict(raw, source=str(path), base_dir=path.parent, origins=origins)


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)``; a bad one is a ConfigError."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.match(key):
        raise ConfigError(
            f"{source}: bad override {text!r}: expected KEY=VALUE with a dotted key, "
            f"e.g. train.lr=1e-4 or model.d_model=128"
        )
    try:
        return key, tomllib.loads(f"value = {value.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()


def _set_dotted(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    table = raw
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"{source}: cannot set {key!r}: {where!r} is not a table")
    table[parts[-1]] = value


def from_dict(
    raw: Mapping[str, Any],
    source: str = "<config>",
    base_dir: str | Path | None = None,
    origins: Mapping[str, str] | None = None,
) -> RecipeConfig:
    """Build and validate a :class:`RecipeConfig` from a nested dict (a parsed recipe)."""
    from tsssm.models import list_models
    from tsssm.tasks import TASKS

    ctx = Context(source, origins or {})
    known = ("run", "data", "model", "train", "baselines", "tune")
    check_keys(raw, known, "", ctx)
    for section in ("run", "data", "model"):
        if section not in raw:
            raise ctx.error(section, f"missing table [{section}]")
    run = build(RunConfig, raw["run"], "run", ctx)
    _validate_run(run, TASKS, ctx)
    spec = TASKS[run.task]
    data = build(spec.data_config, raw["data"], "data", ctx)
    train = build(TrainConfig, raw.get("train", {}), "train", ctx)
    _check_dataset(data, spec, base_dir, ctx)
    spec.validate(data, ctx)
    _validate_train(train, "train", ctx)
    model = _model(raw["model"], "model", None, spec, ctx)
    extra = as_table(raw.get("baselines", {}), "baselines", ctx)
    if model.name in run.baselines:
        raise ctx.error("run.baselines", f"run.baselines repeats the main model {model.name!r}")
    baselines = [
        _model(extra.get(name, {}), f"baselines.{name}", name, spec, ctx)
        for name in run.baselines
    ]
    # Settings of a registered model left out of run.baselines are kept inactive (so that
    # `--set run.baselines=[]` works); any other name is a typo.
    check_keys(extra, list_models(spec.model_task), "baselines", ctx)
    config = RecipeConfig(run, data, model, train, baselines, source)
    if "tune" in raw:
        config.tune = _tune(raw["tune"], config, spec, ctx)
    return config


def _tune(raw: Any, config: RecipeConfig, task: Task, ctx: Context) -> TuneConfig:
    """The ``[tune]`` table, checked against the recipe: a validation metric of the task as
    the objective, a model of the recipe, and a space whose every bound and choice builds."""
    tune = parse_tune(raw, ctx)
    if tune.objective not in task.validation_metrics:
        hint = (" (test metrics are never an objective: a search must not see the test split)"
                if tune.objective.startswith("test") else "")
        raise ctx.error("tune.objective", f"tune.objective {tune.objective!r} is not a "
                                          f"validation metric of task {task.name!r}{hint}; "
                                          f"it has: {', '.join(task.validation_metrics)}")
    resolve_model(tune, config.model.name, config.run.baselines, ctx)
    check_space(config.to_dict(), tune, ctx.source)
    return tune


def _model(
    value: Any, section: str, name: str | None, task: Task, ctx: Context
) -> ModelConfig:
    """A model table: ``name`` (main model only), its options and a ``train`` sub-table."""
    from tsssm.models import list_models, model_entry

    table = dict(as_table(value, section, ctx))
    if name is None:
        if "name" not in table:
            raise ctx.error(f"{section}.name", f"missing key '{section}.name'")
        name = check_type(table.pop("name"), str, f"{section}.name", ctx)
    known = list_models(task.model_task)
    if name not in known:
        raise ctx.error(
            f"{section}.name" if section == "model" else "run.baselines",
            f"unknown model {name!r}{suggest(name, known)}; {task.name} models: "
            f"{', '.join(known)}",
        )
    train = as_table(table.pop("train", {}), f"{section}.train", ctx)
    check_keys(train, PER_MODEL_TRAIN, f"{section}.train", ctx)
    hints = typing.get_type_hints(TrainConfig)
    train = {k: check_type(v, hints[k], f"{section}.train.{k}", ctx) for k, v in train.items()}
    _validate_train(dataclasses.replace(TrainConfig(), **train), f"{section}.train", ctx)

    config_cls = model_entry(name).config_cls
    derived = task.derived
    options = {f.name for f in dataclasses.fields(config_cls)} - set(derived)
    for key in table:
        if key in derived:
            raise ctx.error(
                f"{section}.{key}",
                f"'{section}.{key}' is set from the data; set it in [data] instead",
            )
    check_keys(table, sorted(options), section, ctx)
    hints = typing.get_type_hints(config_cls)
    typed = {k: check_type(v, hints[k], f"{section}.{k}", ctx) for k, v in table.items()}
    _check_model_values(typed, section, ctx)
    return ModelConfig(name, typed, train)


# Model options that are sizes or counts (at least 1 wherever a model has them).
_SIZES = frozenset({
    "d_model", "d_ff", "d_state", "d_conv", "expand", "n_layers", "n_heads", "n_blocks",
    "embed_dim", "head_dim", "patch_chans", "patch_times", "n_local_layers",
    "n_global_layers", "local_window", "season_period", "head_features", "moving_average"})


def _check_model_values(options: Mapping[str, Any], section: str, ctx: Context) -> None:
    """Values every model shares a meaning for, checked where the recipe is read (before a
    run folder exists): sizes and counts >= 1, ``dropout`` in [0, 1), ``n_heads`` dividing
    ``d_model``, forecast ``quantiles`` (levels in (0, 1), increasing, with the median). Each
    model's config checks the rest when the model is built."""
    from tsssm.models.shapes import check_quantiles

    if "quantiles" in options:
        try:
            check_quantiles(options["quantiles"], f"{section}.quantiles")
        except ValueError as error:
            raise ctx.error(f"{section}.quantiles", str(error)) from None
    for key, value in options.items():
        if key in _SIZES and isinstance(value, int) and value < 1:
            raise ctx.error(f"{section}.{key}", f"{section}.{key} must be at least 1, not "
                                                f"{value}")
    dropout = options.get("dropout")
    if isinstance(dropout, int | float) and not 0 <= dropout < 1:
        raise ctx.error(f"{section}.dropout", f"{section}.dropout must lie in [0, 1), not "
                                              f"{dropout}")
    heads, width = options.get("n_heads"), options.get("d_model")
    if isinstance(heads, int) and isinstance(width, int) and heads >= 1 and width % heads:
        raise ctx.error(f"{section}.n_heads", f"{section}.n_heads {heads} must divide "
                                              f"{section}.d_model {width}")


def resolve_dataset(dataset: str, bundled: frozenset[str], base_dir: str | Path | None,
                    from_override: bool) -> str:
    """A bundled name stays a name; a relative path becomes absolute (relative to the recipe
    file, or to the working directory when it comes from a ``--set`` override)."""
    if dataset in bundled:
        return dataset
    path = Path(dataset).expanduser()
    if not path.is_absolute() and base_dir is not None and not from_override:
        path = Path(base_dir) / path
    return str(path.resolve())


def _check_dataset(data: Any, spec: Task, base_dir: str | Path | None,
                   ctx: Context) -> None:
    """Resolve ``data.dataset`` (see :func:`resolve_dataset`); a path must exist."""
    bundled = spec.bundled()
    data.dataset = resolve_dataset(data.dataset, bundled, base_dir,
                                   "data.dataset" in ctx.origins)
    if data.dataset in bundled:
        return
    exists = Path(data.dataset).is_dir() if spec.path_kind == "dir" else Path(
        data.dataset).is_file()
    if not exists:
        kind = "folder" if spec.path_kind == "dir" else "file"
        raise ctx.error("data.dataset", f"data.dataset: no {kind} {data.dataset} (bundled data "
                                        f"sets: {', '.join(sorted(bundled))})")


def _validate_run(run: RunConfig, tasks: Mapping[str, Task], ctx: Context) -> None:
    if not _NAME.match(run.name):
        raise ctx.error("run.name", f"run.name {run.name!r} must be a plain folder name "
                                    "(letters, digits, '.', '_', '-')")
    if run.task not in tasks:
        raise ctx.error("run.task", f"unknown task {run.task!r}{suggest(run.task, tasks)}; "
                                    f"tasks: {', '.join(tasks)}")
    if len(set(run.baselines)) != len(run.baselines):
        raise ctx.error("run.baselines", f"run.baselines repeats a model: {run.baselines}")


def _validate_train(train: TrainConfig, section: str, ctx: Context) -> None:
    for item in dataclasses.fields(train):
        value = getattr(train, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ctx.error(f"{section}.{item.name}", f"{section}.{item.name} must be a "
                                                      f"finite number, not {value}")
    positive = ("max_epochs", "batch_size", "num_nodes", "checkpoint_every_n_steps",
                "log_every_n_steps")
    for key in positive:
        if getattr(train, key) < 1:
            raise ctx.error(f"{section}.{key}", f"{section}.{key} must be at least 1")
    for key in ("lr", "lr_decay"):
        if not getattr(train, key) > 0:
            raise ctx.error(f"{section}.{key}", f"{section}.{key} must be positive")
    if train.schedule not in SCHEDULES:
        raise ctx.error(f"{section}.schedule", f"{section}.schedule must be one of "
                                               f"{list(SCHEDULES)}, not {train.schedule!r}")
    if not 0 < train.layer_decay <= 1:
        raise ctx.error(f"{section}.layer_decay", f"{section}.layer_decay must lie in (0, 1], "
                                                  f"not {train.layer_decay}")
    for key in ("patience", "weight_decay", "num_workers", "threads", "warmup_epochs",
                "min_lr", "gradient_clip_val"):
        if getattr(train, key) < 0:
            raise ctx.error(f"{section}.{key}", f"{section}.{key} must not be negative")
    for key in ("limit_train_batches", "limit_val_batches"):
        # Early stopping and the best checkpoint need validation; training needs batches.
        value = getattr(train, key)
        if not value > 0 or (isinstance(value, float) and value > 1):
            raise ctx.error(f"{section}.{key}", f"{section}.{key} must be a fraction in (0, 1] "
                                                f"or a positive number of batches, not {value}")
    if isinstance(train.devices, int) and train.devices < 1 and train.devices != -1:
        raise ctx.error(f"{section}.devices", f"{section}.devices must be at least 1 (or -1: "
                                              f"all), not {train.devices}")
    if train.max_steps < -1 or train.max_steps == 0:
        raise ctx.error(f"{section}.max_steps", f"{section}.max_steps must be -1 (no limit) "
                                                "or positive")
