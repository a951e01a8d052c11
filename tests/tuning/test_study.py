"""Whole tiny studies through ``tsssm tune``: trials in their own run folders (never
tested), best.toml that ``tsssm run`` accepts, the best and the default tested once, and a
resume after an interrupted trial that repeats no finished trial."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import optuna
import polars as pl
import pytest

from tsssm.cli import main
from tsssm.recipes import ConfigError, Recipe, load_config
from tsssm.runs import read_run
from tsssm.tuning import StudyRun

from .conftest import tiny_study_recipe


def quietly(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> tuple[Path, str]:
    """A 3-trial study of the tiny recipe; its folder and what ``tsssm tune`` printed."""
    root = tmp_path_factory.mktemp("study")
    recipe = tiny_study_recipe(root / "tiny.toml", tiny_csv)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUN_DIR", "")
        printed = quietly(["tune", str(recipe), "--output-dir", str(root / "runs")])
    (folder,) = (root / "runs").iterdir()
    return folder, printed


def test_trials_train_the_tuned_model_and_never_test(study: tuple[Path, str]) -> None:
    folder, printed = study
    assert folder.name.startswith("tiny-tune-")
    trials = pl.read_parquet(folder / "trials.parquet").sort("number")
    assert trials["number"].to_list() == [0, 1, 2]
    assert set(trials["state"]) <= {"complete", "pruned"} and trials["value"].null_count() < 3
    assert {"train.lr", "model.d_model", "run", "curve", "duration_s"} <= set(trials.columns)
    for row in trials.iter_rows(named=True):
        run = folder / row["run"]
        assert f"trial {row['number']} {row['state']}" in printed
        info = read_run(run)
        assert info.models == ["smamba"]  # the baselines are not trained in trials
        assert "test" not in info.metrics.get("smamba", {})
        assert not (run / "predictions.parquet").exists()
        if row["state"] == "pruned":
            assert info.status["state"] == "pruned" and "pruned after epoch" in info.status[
                "error"]
        else:
            assert info.status["models"] == {"smamba": "trained"}
            assert info.metrics["smamba"]["objective"]["val_loss"] == pytest.approx(row["value"])
            assert row["epochs"] == 2 and min(row["curve"]) == pytest.approx(row["value"])
            assert info.config["train"]["lr"] == pytest.approx(row["train.lr"])


def test_best_toml_is_a_recipe_with_the_best_values(study: tuple[Path, str],
                                                    tmp_path: Path) -> None:
    folder, _ = study
    summary = json.loads((folder / "study.json").read_text())
    trials = pl.read_parquet(folder / "trials.parquet")
    best = trials.filter(pl.col("state") == "complete").sort("value").row(0, named=True)
    assert summary["best"]["number"] == best["number"] and summary["trials_done"] == 3
    config = load_config(folder / "best.toml")
    assert config.train.lr == pytest.approx(best["train.lr"])
    assert config.model.options["d_model"] == best["model.d_model"]
    assert [m.name for m in config.models()] == ["smamba", "dlinear", "itransformer"]
    assert config.tune is None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUN_DIR", "")
        printed = quietly(["run", str(folder / "best.toml"), "--set", "run.baselines=[]",
                           "--output-dir", str(tmp_path)])
    assert "smamba" in printed


def test_best_and_default_are_tested_once_side_by_side(study: tuple[Path, str]) -> None:
    folder, printed = study
    info = read_run(folder)
    summary = json.loads((folder / "study.json").read_text())
    assert info.status["state"] == "finished" and not info.problems
    assert set(info.metrics) == {"smamba", "smamba_default"}
    tuned, default = info.metrics["smamba"], info.metrics["smamba_default"]
    assert (tuned["role"], default["role"]) == ("tuned", "default")
    assert tuned["trial"] == summary["best"]["number"] and default["params"] == {}
    assert tuned["val_loss"] == pytest.approx(summary["best"]["value"])  # same seed, same fit
    assert tuned["options"]["d_model"] == summary["best"]["params"]["model.d_model"]
    recipe = load_config(folder / "recipe.toml")
    assert default["options"] == recipe.model.options and default["train"]["lr"] == 3e-3
    for entry in (tuned, default):
        assert {"mse", "mae"} <= set(entry["test"])
    predictions = pl.read_parquet(folder / "predictions.parquet")
    assert set(predictions["model"]) == {"smamba", "smamba_default"}
    assert "smamba_default" in quietly(["show", str(folder)])
    with pytest.raises(ConfigError, match="continue it with `tsssm tune --resume"):
        Recipe.resume(folder)
    assert "test mse" in printed


def test_resume_after_an_interrupted_trial_repeats_no_finished_trial(
        tmp_path: Path, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tiny_study_recipe(tmp_path / "tiny.toml", tiny_csv, pruner="none")
    monkeypatch.setenv("TSSSM_RUN_DIR", "")
    study = StudyRun.start(load_config(recipe), tmp_path / "runs")
    run = Recipe.run
    calls = []

    def interrupted_second_trial(self: Recipe, *args: object, **kwargs: object) -> object:
        calls.append(self.folder.path.name)
        if len(calls) == 2:  # as SIGTERM does: the recipe exits with 143 mid-training
            raise SystemExit(143)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Recipe, "run", interrupted_second_trial)
    with pytest.raises(SystemExit):
        study.run(trials=3, test=False, report=lambda line: None)
    assert read_run(study.folder.path).status["state"] == "interrupted"
    stored = optuna.load_study(study_name=study.study_name,
                               storage=f"sqlite:///{study.folder.path / 'study.db'}")
    crashed = stored.trials[1]
    assert [t.state for t in stored.trials] == [optuna.trial.TrialState.COMPLETE,
                                                optuna.trial.TrialState.RUNNING]

    monkeypatch.setattr(Recipe, "run", run)
    lines: list[str] = []
    summary = StudyRun.resume(study.folder.path).run(trials=3, test=False,
                                                     report=lines.append)
    assert "trial 1 was left running by a crash: queued again" in lines
    stored = optuna.load_study(study_name=study.study_name,
                               storage=f"sqlite:///{study.folder.path / 'study.db'}")
    states = [t.state.name for t in stored.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert stored.trials[2].params == crashed.params  # the crashed trial, retried as it was
    assert summary["trials_done"] == 3
    assert calls == ["trial-0000", "trial-0001"]  # trial 0 ran once, in the first attempt
    folders = sorted(p.name for p in (study.folder.path / "trials").iterdir())
    assert folders == ["trial-0000", "trial-0001", "trial-0002", "trial-0003"]
    # Nothing is left to do: a second resume runs no trial.
    again = StudyRun.resume(study.folder.path).run(trials=3, test=False, report=lines.append)
    assert again["trials_done"] == 3 and len(optuna.load_study(
        study_name=study.study_name,
        storage=f"sqlite:///{study.folder.path / 'study.db'}").trials) == 4


def test_a_timeout_tests_the_best_trial_so_far_and_resume_runs_the_rest(
        tmp_path: Path, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tiny_study_recipe(tmp_path / "tiny.toml", tiny_csv, pruner="none")
    monkeypatch.setenv("TSSSM_RUN_DIR", "")
    study = StudyRun.start(load_config(recipe), tmp_path / "runs")
    lines: list[str] = []
    # Optuna checks the timeout after each trial: one trial runs, then the search stops.
    summary = study.run(trials=3, timeout=1e-3, report=lines.append)
    assert summary["trials_done"] == 1
    assert any("1 of 3 trials done (timeout)" in line for line in lines)
    info = read_run(study.folder.path)
    assert set(info.metrics) == {"smamba", "smamba_default"}
    assert info.metrics["smamba"]["trial"] == 0
    assert (study.folder.path / "best.toml").is_file()
    again = StudyRun.resume(study.folder.path).run(trials=3, report=lines.append)
    assert again["trials_done"] == 3
    assert read_run(study.folder.path).metrics["smamba"]["trial"] == again["best"]["number"]
