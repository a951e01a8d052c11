"""``load_run``: a finished run folder back as predictors, one per trained model.

A predictor is rebuilt from three files the run wrote: ``config.toml`` (the resolved recipe:
the task, the data options, each model's options), the model's best checkpoint (named in
``metrics.json``; its hyperparameters rebuild the LightningModule, its ``state_dict`` the
weights; read with ``torch.load(weights_only=True)``) and ``preprocessing.json`` (what the
recipe learnt from the training data: scaling statistics, class names). Each task's predictor
then prepares new data exactly as the task's recipe prepared its test split, and writes the
rows of ``predictions.parquet`` through the recipe's own code.
"""

from __future__ import annotations

import importlib
import tomllib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tsssm.runs import CONFIG, METRICS, PREPROCESSING, RunFileError, RunFolder, read_json

if TYPE_CHECKING:
    import polars

    from tsssm.recipes import Recipe, RecipeConfig
    from tsssm.training.module import TaskModule

# task -> "module:class" of its predictor (imported when a run of that task is loaded)
PREDICTORS = {
    "forecasting": "tsssm.serving.forecasting:ForecastPredictor",
    "series_classification": "tsssm.serving.windows:SeriesPredictor",
    "eeg_classification": "tsssm.serving.windows:EEGPredictor",
    "phase": "tsssm.serving.phase:PhasePredictor",
}
# model task (tsssm.tasks.Task.model_task) -> the LightningModule its checkpoints hold
MODULES = {
    "forecasting": "ForecastingModule",
    "classification": "ClassificationModule",
    "phase": "PhaseModule",
}


class Predictor(ABC):
    """One trained model of a run folder; :meth:`predict` gives a polars frame in the
    columns of the run's ``predictions.parquet``.

    Attributes:
        run_dir: the run folder.
        model: the model's name (``run.models`` lists the run's models).
        config: the run's resolved recipe config.
        module: the trained LightningModule, in eval mode, on the CPU.
        inputs: the content of ``preprocessing.json``.
    """

    task: ClassVar[str]

    def __init__(self, run_dir: Path, model: str, config: RecipeConfig, module: TaskModule,
                 inputs: dict[str, Any]) -> None:
        self.run_dir, self.model, self.config = run_dir, model, config
        self.module, self.inputs = module, inputs
        self._models: dict[str, Predictor] = {model: self}

    @property
    def models(self) -> dict[str, Predictor]:
        """A predictor for every model of the run (main model first), loaded on first use."""
        for entry in self.config.models():
            if entry.name not in self._models:
                other = load_run(self.run_dir, entry.name)
                other._models = self._models
                self._models[entry.name] = other
        return {entry.name: self._models[entry.name] for entry in self.config.models()}

    def recipe(self) -> Recipe:
        """The run's recipe object, whose prediction code writes the rows (never run)."""
        from tsssm.recipes import Recipe

        return Recipe.for_config(self.config)(self.config, RunFolder(self.run_dir))

    @abstractmethod
    def predict(self, data: Any) -> polars.DataFrame:
        """Predictions for ``data`` (what it may be depends on the task)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.run_dir.name}: {self.model}, task {self.task})"


def load_run(run_dir: str | Path, model: str | None = None) -> Predictor:
    """The predictor of ``model`` (default: the run's main model) of the run in ``run_dir``.

    Raises:
        RunFileError: not a run folder, an unknown or unfinished model, a missing checkpoint
            or ``preprocessing.json`` (a run written before tsssm recorded it), or a task
            without a predictor; each message says which and what to do.
    """
    import torch

    from tsssm.recipes import load_config
    from tsssm.recipes.config import RunConfig

    path = Path(run_dir)
    if not (path / CONFIG).is_file() or not (path / METRICS).is_file():
        raise RunFileError(f"{path} is not a finished run folder (it needs {CONFIG} and "
                           f"{METRICS}; `tsssm show {path}` says what it holds)")
    # The task first (a task without a predictor is refused before its config is checked).
    task = tomllib.loads((path / CONFIG).read_text()).get("run", {}).get(
        "task", RunConfig.task)
    if task not in PREDICTORS:
        raise RunFileError(f"{path}: task {task!r} has no predictor; predicting works for "
                           f"runs of {', '.join(PREDICTORS)}")
    config = load_config(path / CONFIG)
    names = [entry.name for entry in config.models()]
    name = model or config.model.name
    if name not in names:
        raise RunFileError(f"{path}: no model {name!r} in this run; its models: "
                           f"{', '.join(names)}")
    entry = read_json(path / METRICS).get(name, {})
    if "checkpoint" not in entry:
        raise RunFileError(f"{path}: model {name!r} has not finished (no tested checkpoint in "
                           f"{METRICS}); resume the run: tsssm run --resume {path}")
    checkpoint = path / entry["checkpoint"]
    if not checkpoint.is_file():
        raise RunFileError(f"{path}: the checkpoint of {name!r}, {checkpoint}, is missing")
    if not (path / PREPROCESSING).is_file():
        raise RunFileError(f"{path}: no {PREPROCESSING} (the run was written by a tsssm "
                           "that did not record its preprocessing); run the recipe again")
    inputs = read_json(path / PREPROCESSING)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    module = _module_class(config)(**state["hyper_parameters"])
    module.load_state_dict(state["state_dict"])
    module.eval()
    module_path, _, class_name = PREDICTORS[task].partition(":")
    predictor = getattr(importlib.import_module(module_path), class_name)
    return predictor(path, name, config, module, inputs)


def _module_class(config: RecipeConfig) -> type[TaskModule]:
    """The LightningModule class of the run's task."""
    from tsssm import training
    from tsssm.tasks import get_task

    return getattr(training, MODULES[get_task(config.run.task).model_task])
