"""REAL tiny runs of every recipe, for the app tests: the bundled data, tiny models, one
epoch (a few seconds in all on 2 CPU cores). Only the damaged run folders the app must
explain are made by hand (``troubled_runs``)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from tsssm.cli import main
from tsssm.recipes import Recipe, from_dict

from ..recipes.conftest import tiny_recipe, write_recipe

TRAIN = {"max_epochs": 1, "batch_size": 8, "lr": 3e-3, "seed": 5, "threads": 1,
         "progress_bar": False}
PHASE_SSM = {"name": "phase_ssm", "d_model": 8, "d_state": 4, "n_local_layers": 1,
             "n_global_layers": 1, "local_window": 4}
FEMBA = {"embed_dim": 4, "n_blocks": 1, "d_state": 4, "expand": 1, "patch_times": 32}
EEG_DATA = {"dataset": "mental_arithmetic", "window_s": 4.0,
            "preprocessing": [{"step": "robust_scale"}], "train": ["Subject00"],
            "val": ["Subject02"], "test": ["Subject03", "Subject04"]}
QUANTILES = [0.1, 0.5, 0.9]  # of the forecasting run's main model
CHIMERA = {"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4}

# Recipes as dicts, by the key the tests use for their run.
RECIPES: dict[str, dict[str, Any]] = {
    "phase": {
        "run": {"name": "cholec80_phase", "task": "phase", "baselines": ["phase_mlp"]},
        "data": {"dataset": "cholec80", "train": [1, 2], "val": [3], "test": [41, 42]},
        "model": PHASE_SSM, "train": {**TRAIN, "batch_size": 2},
        "baselines": {"phase_mlp": {"d_model": 8, "n_layers": 1}},
    },
    "sleep": {
        "run": {"name": "sleep_edf_staging", "task": "phase"},
        "data": {"dataset": "sleep_edf", "train": [0], "val": [5], "test": [6]},
        "model": PHASE_SSM, "train": {**TRAIN, "batch_size": 2},
    },
    "eeg": {
        "run": {"name": "eeg_mental_arithmetic", "task": "eeg_classification",
                "baselines": ["femba_mamba_head"]},
        "data": EEG_DATA, "model": {"name": "femba", **FEMBA}, "train": TRAIN,
        "baselines": {"femba_mamba_head": {**FEMBA, "head_dim": 8}},
    },
    "eeg_pretrain": {
        "run": {"name": "eeg_pretrain", "task": "eeg_pretraining"},
        "data": EEG_DATA, "model": {"name": "femba_pretrain", **FEMBA}, "train": TRAIN,
    },
    "classification": {
        "run": {"name": "ecg200_chimera", "task": "series_classification",
                "baselines": ["smamba_classifier"]},
        "data": {"dataset": "ECG200"},
        "model": {"name": "chimera_classifier", **CHIMERA}, "train": {**TRAIN, "batch_size": 16},
        "baselines": {"smamba_classifier": {"d_model": 16, "d_ff": 16, "n_layers": 1,
                                            "d_state": 2}},
    },
    "anomaly": {
        "run": {"name": "kdd_tsad_chimera", "task": "anomaly_detection"},
        "data": {"dataset": "KDD-TSAD_135", "window": 32, "stride": 16, "score_stride": 16},
        "model": {"name": "chimera_anomaly", **CHIMERA}, "train": {**TRAIN, "batch_size": 16},
    },
}


def recipe_run(runs_dir: Path, recipe: dict[str, Any]) -> Path:
    """Train and test ``recipe`` into a new folder of ``runs_dir``; that folder."""
    run = Recipe.start(from_dict(recipe, source="app test"), runs_dir)
    with contextlib.redirect_stdout(io.StringIO()):
        run.run()
    return run.folder.path


def forecasting_run(runs_dir: Path, recipe_dir: Path, dataset: Path) -> Path:
    """One tiny forecasting run through ``tsssm run``: S-Mamba forecasting quantiles (0.1,
    0.5, 0.9), DLinear and iTransformer forecasting points."""
    recipe = write_recipe(recipe_dir / "tiny.toml", tiny_recipe(
        dataset, train={"max_epochs": 2, "limit_train_batches": 8},
        model={"quantiles": QUANTILES}))
    before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("TSSSM_RUN_DIR", "")
        assert main(["run", str(recipe), "--output-dir", str(runs_dir)]) == 0
    (run_dir,) = set(runs_dir.iterdir()) - before
    return run_dir


def every_run(runs_dir: Path, recipe_dir: Path, dataset: Path) -> dict[str, Path]:
    """A real run of every recipe in ``runs_dir``, by key: "forecasting" (on the series
    ``dataset``) and the keys of :data:`RECIPES`."""
    runs = {"forecasting": forecasting_run(runs_dir, recipe_dir, dataset)}
    runs.update({key: recipe_run(runs_dir, recipe) for key, recipe in RECIPES.items()})
    return runs
