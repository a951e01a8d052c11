"""Recipes: a TOML config -> the task's data -> model -> ``tsssm.training.fit`` -> evaluation
-> a run folder.

    config = load_config("recipes/etth1_smamba.toml", ["train.max_epochs=3"])
    recipe = Recipe.start(config, output_dir="runs")    # or Recipe.resume("runs/<run>")
    metrics = recipe.run()                               # also in <run>/metrics.json

The recipe of each task lives in its module of ``tsssm.tasks``; this package holds the
typed configs and the runner. Names load on first use.
"""

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "RUN_DIR_ENV": ".base",
    "Recipe": ".base",
    "ConfigError": ".config",
    "ModelConfig": ".config",
    "RecipeConfig": ".config",
    "RunConfig": ".config",
    "TrainConfig": ".config",
    "dump_config": ".config",
    "from_dict": ".config",
    "load_config": ".config",
    "parse_override": ".config",
})
