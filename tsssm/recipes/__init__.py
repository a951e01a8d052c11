"""Recipes: a TOML config -> data -> model -> Lightning fit -> evaluation -> a run folder.

    config = load_config("recipes/etth1_smamba.toml", ["train.max_epochs=3"])
    recipe = Recipe.start(config, output_dir="runs")    # or Recipe.resume("runs/<run>")
    metrics = recipe.run()                               # also in <run>/metrics.json
"""

from .anomaly import AnomalyRecipe
from .augmentation import AUGMENTATIONS, SignalAugmentation
from .base import RUN_DIR_ENV, Recipe
from .classification import (
    ClassificationModule,
    WindowClassificationRecipe,
    WindowDataModule,
    WindowDataset,
    WindowSplit,
)
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
from .eeg import EEGRecipe
from .forecasting import ForecastingRecipe
from .lightning_module import ForecastingModule
from .loaders import EpochSampler, ResumableDataLoader, SplitDataModule
from .phase import PhaseRecipe
from .phase_module import PhaseModule
from .pretraining import EEGPretrainRecipe, PretrainModule
from .reconstruction import ReconstructionModule, ReconstructionWindows
from .run_folder import RunFolder, list_runs, run_state
from .tasks import (
    TASKS,
    AnomalyDataConfig,
    EEGDataConfig,
    EEGPretrainDataConfig,
    EEGWindowsConfig,
    ForecastingDataConfig,
    PhaseDataConfig,
    TaskSpec,
    UCRDataConfig,
)
from .ucr import UCRRecipe, stratified_holdout, ucr_split

__all__ = [
    "AUGMENTATIONS",
    "RUN_DIR_ENV",
    "TASKS",
    "AnomalyDataConfig",
    "AnomalyRecipe",
    "ClassificationModule",
    "ConfigError",
    "EEGDataConfig",
    "EEGPretrainDataConfig",
    "EEGPretrainRecipe",
    "EEGRecipe",
    "EEGWindowsConfig",
    "EpochSampler",
    "ForecastingDataConfig",
    "ForecastingModule",
    "ForecastingRecipe",
    "ModelConfig",
    "PhaseDataConfig",
    "PhaseModule",
    "PhaseRecipe",
    "PretrainModule",
    "Recipe",
    "RecipeConfig",
    "ReconstructionModule",
    "ReconstructionWindows",
    "ResumableDataLoader",
    "RunConfig",
    "RunFolder",
    "SignalAugmentation",
    "SplitDataModule",
    "TaskSpec",
    "TrainConfig",
    "UCRDataConfig",
    "UCRRecipe",
    "WindowClassificationRecipe",
    "WindowDataModule",
    "WindowDataset",
    "WindowSplit",
    "dump_config",
    "from_dict",
    "list_runs",
    "load_config",
    "parse_override",
    "run_state",
    "stratified_holdout",
    "ucr_split",
]
