"""Recipes: a TOML config -> data -> model -> Lightning fit -> evaluation -> a run folder.

    config = load_config("recipes/etth1_smamba.toml", ["train.max_epochs=3"])
    recipe = Recipe.start(config, output_dir="runs")    # or Recipe.resume("runs/<run>")
    metrics = recipe.run()                               # also in <run>/metrics.json
"""

from .base import RUN_DIR_ENV, Recipe
from .config import (
    ConfigError,
    ModelConfig,
    RecipeConfig,
    RunConfig,
    TrainConfig,
    dump_config,
    from_dict,
    load_config,
    parse_override,
)
from .forecasting import ForecastingRecipe
from .lightning_module import ForecastingModule
from .loaders import EpochSampler, ResumableDataLoader, SplitDataModule
from .phase import PhaseRecipe
from .phase_module import PhaseModule
from .run_folder import RunFolder, list_runs, run_state
from .tasks import TASKS, ForecastingDataConfig, PhaseDataConfig, TaskSpec

__all__ = [
    "RUN_DIR_ENV",
    "TASKS",
    "ConfigError",
    "EpochSampler",
    "ForecastingDataConfig",
    "ForecastingModule",
    "ForecastingRecipe",
    "ModelConfig",
    "PhaseDataConfig",
    "PhaseModule",
    "PhaseRecipe",
    "Recipe",
    "RecipeConfig",
    "ResumableDataLoader",
    "RunConfig",
    "RunFolder",
    "SplitDataModule",
    "TaskSpec",
    "TrainConfig",
    "dump_config",
    "from_dict",
    "list_runs",
    "load_config",
    "parse_override",
    "run_state",
]
