"""Tiny studies for the tuning tests: the recipe tests' 600-row series and tiny models, one
or two short epochs per trial (a trial takes about a second on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..recipes.conftest import tiny_csv, tiny_recipe, write_recipe

__all__ = ["tiny_csv", "tiny_study_recipe"]

SPACE = {"train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
         "model": {"d_model": {"choices": [8, 16]}}}


def tiny_study_recipe(path: Path, dataset: Path, **tune: Any) -> Path:
    """The tiny forecasting recipe (S-Mamba beside DLinear and iTransformer) with a [tune]
    table over the learning rate and the width; ``tune`` updates the table."""
    recipe = tiny_recipe(dataset, train={"max_epochs": 2, "limit_train_batches": 4,
                                         "limit_val_batches": 2, "checkpoint_every_n_steps": 50})
    recipe["tune"] = {"trials": 3, "space": SPACE, **tune}
    return write_recipe(path, recipe)
