"""``tsssm run --resume``: a run killed with SIGKILL, or stopped by SIGTERM (pre-emption) or
SIGINT (Ctrl+C), in the middle of an epoch, then resumed, ends with exactly the metrics of a
run never interrupted; a signalled run saves a checkpoint, says "interrupted" and exits with
the signal's status so that a scheduler requeues it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tsssm.recipes import ConfigError
from tsssm.runs import run_state
from tsssm.training.callbacks import checkpoint_step, latest_checkpoint

from .conftest import REPO, read_metrics, run_cli, tiny_recipe, write_recipe

STEPS_PER_EPOCH = 385 // 8  # 385 training windows, batch 8, last partial batch dropped


def start(recipe: Path, output: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TSSSM_RUN_DIR"}
    return subprocess.Popen(
        [sys.executable, "-m", "tsssm.cli", "run", str(recipe), "--output-dir", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env,
    )


def wait_for_step_checkpoint(output: Path, process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = list(output.glob("*/checkpoints/smamba/step=*.ckpt"))
        if found:
            return found[0].parents[2]
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before its first "
                        "step checkpoint")
        time.sleep(0.005)
    pytest.fail("no step checkpoint within 90 s")


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_resume_after_a_stop_matches_an_uninterrupted_run(stop: signal.Signals, tmp_path: Path,
                                                          tiny_csv: Path) -> None:
    # Dropout on: the resumed run must also draw the same dropout masks.
    recipe = write_recipe(tmp_path / "r.toml", tiny_recipe(
        tiny_csv, run={"baselines": ["dlinear"]}, model={"dropout": 0.2},
        train={"batch_size": 8, "checkpoint_every_n_steps": 4, "max_epochs": 2},
    ))
    reference = start(recipe, tmp_path / "reference")  # runs alongside, on the other core
    killed = start(recipe, tmp_path / "killed")
    run_dir = wait_for_step_checkpoint(tmp_path / "killed", killed)
    killed.send_signal(stop)
    returncode = killed.wait(timeout=120)

    status = json.loads((run_dir / "status.json").read_text())
    assert status["models"]["smamba"] == "training"
    if stop == signal.SIGKILL:
        assert status["state"] == "running"  # it had no chance to say more
    else:
        assert returncode == 128 + stop and status["state"] == "interrupted"
        assert (run_dir / "checkpoints" / "smamba" / "interrupted.ckpt").is_file()
    assert run_state(status) == "interrupted"  # its process is gone
    resume_from = latest_checkpoint(run_dir / "checkpoints" / "smamba")
    assert resume_from is not None
    assert checkpoint_step(resume_from) % STEPS_PER_EPOCH != 0  # killed mid-epoch

    resumed = run_cli("run", "--resume", str(run_dir), timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"run folder: {run_dir}" in resumed.stdout
    assert reference.wait(timeout=180) == 0
    (reference_dir,) = (tmp_path / "reference").iterdir()

    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished" and status["attempts"] == 2
    assert sorted(p.name for p in (run_dir / "logs" / "smamba").iterdir()) == [
        "version_0", "version_1"]
    expected, got = read_metrics(reference_dir), read_metrics(run_dir)
    for model in ("smamba", "dlinear"):
        for key in ("mse", "mae", "mse_per_step", "mae_per_step"):
            assert got[model]["test"][key] == pytest.approx(expected[model]["test"][key],
                                                            rel=1e-6, abs=1e-7), (model, key)
        assert got[model]["val_loss"] == pytest.approx(expected[model]["val_loss"], rel=1e-6)
        assert got[model]["steps"] == expected[model]["steps"] == 2 * STEPS_PER_EPOCH
    predictions = [pl.read_parquet(d / "predictions.parquet") for d in (reference_dir, run_dir)]
    assert predictions[0].height == predictions[1].height
    assert (predictions[0]["prediction"] - predictions[1]["prediction"]).abs().max() < 1e-5


def test_ctrl_c_stops_at_a_step_with_a_checkpoint(tmp_path: Path, tiny_csv: Path) -> None:
    recipe = write_recipe(tmp_path / "r.toml", tiny_recipe(
        tiny_csv, run={"baselines": []},
        train={"batch_size": 8, "checkpoint_every_n_steps": 4, "max_epochs": 2},
    ))
    process = start(recipe, tmp_path / "runs")
    run_dir = wait_for_step_checkpoint(tmp_path / "runs", process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and "SIGINT" in status["error"]
    assert checkpoint_step(run_dir / "checkpoints" / "smamba" / "interrupted.ckpt") > 0


def test_a_damaged_status_or_unreadable_checkpoints_say_what_to_do(tmp_path: Path,
                                                                    tiny_csv: Path) -> None:
    from tsssm.recipes import Recipe
    from tsssm.runs import RunFileError, RunFolder, write_text

    folder = RunFolder.create(tmp_path, "tiny")
    recipe = write_recipe(tmp_path / "r.toml", tiny_recipe(tiny_csv))
    write_text(folder.file("config.toml"), recipe.read_text())
    folder.file("status.json").write_text('{"state": "runn')
    with pytest.raises(RunFileError, match=r"status\.json is damaged"):
        Recipe.resume(folder.path)
    folder.file("status.json").write_text('{"state": "failed", "models": {"smamba": "training"}}')
    checkpoints = folder.checkpoints("smamba")
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ConfigError, match="no checkpoint can be read"):
        Recipe.resume(folder.path)
