"""The task registry: every task is whole (config, checks, recipe, columns, headline metrics,
models, an app view and a recipe file), and the light readers never load the training stack."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tsssm.app.views.run import METRICS_VIEWS, TASK_VIEWS
from tsssm.models import list_models
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import RunConfig
from tsssm.tasks import TASKS, get_task

REPO = Path(__file__).resolve().parents[2]
MODEL_TASKS = {"forecasting", "classification", "pretraining", "reconstruction", "phase"}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_has_every_part(name: str) -> None:
    task = TASKS[name]
    assert task.name == name and task.summary
    assert issubclass(task.recipe, Recipe) and task.recipe.task == name
    assert dataclasses.is_dataclass(task.data_config)
    assert "dataset" in {f.name for f in dataclasses.fields(task.data_config)}
    assert task.path_kind in ("file", "dir") and callable(task.validate)
    assert task.model_task in MODEL_TASKS and list_models(task.model_task)
    assert task.headline_metrics
    if task.prediction_columns:
        assert task.prediction_columns[0] == "model"
        assert len(set(task.prediction_columns)) == len(task.prediction_columns)
        assert name in TASK_VIEWS
    else:
        assert name in METRICS_VIEWS  # no predictions: a metrics-only page
    assert isinstance(task.bundled(), frozenset)


def test_the_app_has_a_view_for_each_task_and_no_other() -> None:
    assert set(TASK_VIEWS) | set(METRICS_VIEWS) == set(TASKS)
    assert not set(TASK_VIEWS) & set(METRICS_VIEWS)


def test_every_task_has_a_recipe_file_and_every_recipe_a_task() -> None:
    default = RunConfig.__dataclass_fields__["task"].default
    tasks = {tomllib.loads(path.read_text())["run"].get("task", default)
             for path in (REPO / "recipes").glob("*.toml")}
    assert tasks == set(TASKS)


def test_recipe_and_model_tasks_share_no_word_with_another_meaning() -> None:
    # A recipe task named like a model task must train that model task.
    for task in TASKS.values():
        if task.name in MODEL_TASKS:
            assert task.model_task == task.name


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="tasks: forecasting, phase"):
        get_task("forecast")


LIGHT = """
import sys
import tsssm, tsssm.runs, tsssm.tasks, tsssm.app.main, tsssm.cli
assert tsssm.__version__
for argv in (["runs", "--runs", sys.argv[1]], ["show", sys.argv[2]]):
    assert tsssm.cli.main(argv) == 0
try:
    tsssm.cli.main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "lightning", "mne", "optuna", "tsssm.training.fitting")
               if m in sys.modules)
assert not heavy, heavy
"""


def test_app_and_run_readers_load_neither_torch_nor_lightning(tmp_path: Path) -> None:
    from tsssm.runs import RunFolder, write_json, write_text

    folder = RunFolder.create(tmp_path, "tiny")
    write_text(folder.file("config.toml"), '[run]\nname = "tiny"\ntask = "forecasting"\n')
    folder.start_attempt(["smamba"])
    write_json(folder.file("metrics.json"), {"smamba": {"test": {"mse": 0.5, "mae": 0.4}}})
    result = subprocess.run([sys.executable, "-c", LIGHT, str(tmp_path), str(folder.path)],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mse=0.5000" in result.stdout
