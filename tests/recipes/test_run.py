"""A whole tiny run (main model + 2 baselines) through ``tsssm run``, and what it leaves."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from polars.testing import assert_frame_equal

from tsssm.cli import main
from tsssm.recipes import RUN_DIR_ENV, Recipe, load_config
from tsssm.runs import RunFolder, write_json

from .conftest import HORIZON, LOOKBACK, N_VARIATES, read_metrics, tiny_recipe, write_recipe

MODELS = ["smamba", "dlinear", "itransformer"]
TEST_WINDOWS = 120 - HORIZON + 1  # the last 20 % (120 rows) are forecast targets


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> tuple[Path, str]:
    """Run the tiny recipe once in this process; the run folder and what was printed."""
    root = tmp_path_factory.mktemp("run")
    recipe = write_recipe(root / "tiny.toml", tiny_recipe(tiny_csv))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("TSSSM_RUN_DIR", "")  # the run sets it; undone when the block ends
        assert main(["run", str(recipe), "--output-dir", str(root / "runs")]) == 0
    # The recipe trains with one thread (train.threads) and gives the caller's setting back.
    assert torch.get_num_threads() == 2
    torch.set_num_threads(threads)
    (run_dir,) = (root / "runs").iterdir()
    return run_dir, out.getvalue()


def test_prints_the_folder_and_a_metrics_table(run: tuple[Path, str]) -> None:
    run_dir, printed = run
    assert printed.splitlines()[0] == f"run folder: {run_dir}"
    assert printed.splitlines()[-1] == f"run folder: {run_dir}"
    assert run_dir.name.startswith("tiny-") and len(run_dir.name) == len("tiny-20250101-120000")
    for model in MODELS:
        assert any(line.startswith(model) for line in printed.splitlines())


def test_run_folder_holds_every_file(run: tuple[Path, str]) -> None:
    run_dir, _ = run
    for name in ("config.toml", "metrics.json", "predictions.parquet", "environment.json",
                 "status.json"):
        assert (run_dir / name).is_file(), name
    for model in MODELS:
        checkpoints = {p.name for p in (run_dir / "checkpoints" / model).iterdir()}
        assert {"best.ckpt", "last.ckpt"} <= checkpoints
        assert any(name.startswith("step=") for name in checkpoints)
        log = run_dir / "logs" / model / "version_0" / "metrics.csv"
        header = log.read_text().splitlines()[0].split(",")
        assert {"val_loss", "train_loss_epoch", "test_mse", "test_mae",
                f"test_mse_step{HORIZON}"} <= set(header)
    # Atomic writes leave no temporary files behind.
    leftovers = [p for p in run_dir.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_status_and_environment(run: tuple[Path, str]) -> None:
    run_dir, _ = run
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished" and status["error"] is None
    assert status["models"] == dict.fromkeys(MODELS, "finished")
    assert status["created"] <= status["finished"] and status["attempts"] == 1
    environment = json.loads((run_dir / "environment.json").read_text())
    assert {"python", "torch", "lightning", "tsssm", "platform", "device", "threads"} <= set(
        environment)
    assert environment["device"] == "cpu" and environment["threads"] == 1


def test_resolved_config_is_written(run: tuple[Path, str], tiny_csv: Path) -> None:
    run_dir, _ = run
    config = load_config(run_dir / "config.toml")
    assert config.data.dataset == str(tiny_csv.resolve())
    assert [m.name for m in config.models()] == MODELS
    assert config.train.max_epochs == 2


def test_metrics_for_main_model_and_baselines(run: tuple[Path, str]) -> None:
    run_dir, _ = run
    metrics = read_metrics(run_dir)
    assert list(metrics) == MODELS
    assert [metrics[m]["role"] for m in MODELS] == ["main", "baseline", "baseline"]
    for entry in metrics.values():
        test = entry["test"]
        assert test["windows"] == TEST_WINDOWS
        assert len(test["mse_per_step"]) == len(test["mae_per_step"]) == HORIZON
        assert np.isclose(test["mse"], np.mean(test["mse_per_step"]))
        assert 0 < test["mae"] < 2 and 0 < test["mse"] < 3
        assert entry["epochs"] == 2 and entry["steps"] == 2 * (385 // 16)
        assert entry["val_loss"] > 0 and entry["train_time_s"] > 0
        assert entry["windows_per_s"] > 0 and entry["parameters"] > 0
        assert entry["checkpoint"].endswith("best.ckpt")
    # DLinear learns a clean periodic series well; the untrained mean forecast scores ~1.
    assert metrics["dlinear"]["test"]["mse"] < 0.5
    assert metrics["dlinear"]["train"]["lr"] == 1e-2


def test_predictions(run: tuple[Path, str], tiny_csv: Path) -> None:
    run_dir, _ = run
    frame = pl.read_parquet(run_dir / "predictions.parquet")
    assert frame.columns == ["model", "window", "timestamp", "variate", "step", "truth",
                             "prediction", "truth_raw", "prediction_raw"]
    assert frame.height == len(MODELS) * TEST_WINDOWS * HORIZON * N_VARIATES
    assert set(frame["step"].unique()) == set(range(1, HORIZON + 1))
    assert set(frame["variate"].unique()) == {"a", "b", "c"}
    metrics = read_metrics(run_dir)
    for model in MODELS:
        rows = frame.filter(pl.col("model") == model)
        error = (rows["prediction"] - rows["truth"]).to_numpy().astype(np.float64)
        assert np.isclose(np.mean(error**2), metrics[model]["test"]["mse"], rtol=1e-5)
        raw = (rows["prediction_raw"] - rows["truth_raw"]).to_numpy()
        assert np.isclose(np.mean(raw**2), metrics[model]["test"]["mse_raw"], rtol=1e-6)
    # truth_raw is the file's value at (timestamp, variate): timestamps and scaling are right.
    source = pl.read_csv(tiny_csv, try_parse_dates=True).unpivot(
        index="date", variable_name="variate", value_name="value")
    joined = frame.join(source, left_on=["timestamp", "variate"], right_on=["date", "variate"])
    assert joined.height == frame.height
    assert np.allclose(joined["truth_raw"], joined["value"], atol=1e-5)
    first = frame.filter((pl.col("model") == "smamba") & (pl.col("step") == 1)).row(0,
                                                                                   named=True)
    assert first["window"] == 480 - LOOKBACK  # the test split's first window


def test_best_checkpoint_loads_with_weights_only(run: tuple[Path, str]) -> None:
    run_dir, _ = run
    checkpoint = torch.load(run_dir / "checkpoints" / "smamba" / "best.ckpt",
                            weights_only=True, map_location="cpu")
    assert checkpoint["hyper_parameters"]["model_name"] == "smamba"
    assert any(key.startswith("model.") for key in checkpoint["state_dict"])


def test_runs_and_show_commands(run: tuple[Path, str], capsys: pytest.CaptureFixture) -> None:
    run_dir, _ = run
    metrics = read_metrics(run_dir)
    assert main(["runs", "--runs", str(run_dir.parent)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["run", "started", "status", "test", "metrics", "per", "model"]
    assert listing[2].startswith(run_dir.name) and "finished" in listing[2]
    mse, mae = metrics["smamba"]["test"]["mse"], metrics["smamba"]["test"]["mae"]
    assert f"smamba mse={mse:.4f} mae={mae:.4f}" in listing[2]

    assert main(["show", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert f"run:      {run_dir}" in shown and "status:   finished" in shown
    assert f"{mse:.4f}" in shown and "itransformer" in shown
    for name in ("config.toml", "metrics.json", "predictions.parquet", "environment.json",
                 "status.json", "checkpoints/smamba/best.ckpt"):
        assert f"  {name}  (" in shown
    # A bare run name is looked up in --runs.
    assert main(["show", run_dir.name, "--runs", str(run_dir.parent)]) == 0
    assert f"run:      {run_dir.parent / run_dir.name}" in capsys.readouterr().out


def test_resume_evaluates_a_trained_model_without_training_it(
    run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # As if the run had been killed while testing smamba: trained, not evaluated.
    run_dir = Path(shutil.copytree(run[0], tmp_path / run[0].name))
    folder = RunFolder(run_dir)
    dead = subprocess.Popen(["true"])
    dead.wait()
    folder.update_status(state="running", pid=dead.pid, models={"smamba": "evaluating"})
    before = read_metrics(run_dir)
    write_json(run_dir / "metrics.json", {**before, "smamba": {
        k: before["smamba"][k] for k in ("val_loss", "epochs", "steps", "train_time_s")}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUN_DIR", "")
        assert main(["run", "--resume", str(run_dir)]) == 0
    assert f"run folder: {run_dir}" in capsys.readouterr().out
    after = read_metrics(run_dir)
    for key in ("mse", "mae", "mse_per_step", "mae_per_step"):
        assert after["smamba"]["test"][key] == pytest.approx(before["smamba"]["test"][key])
    assert after["smamba"]["steps"] == before["smamba"]["steps"]
    assert after["dlinear"] == before["dlinear"]  # finished models are left alone
    assert folder.status()["state"] == "finished" and folder.status()["attempts"] == 2
    # No training happened: the checkpoints are those of the first attempt.
    for model in MODELS:
        for ckpt in (run_dir / "checkpoints" / model).iterdir():
            original = run[0] / "checkpoints" / model / ckpt.name
            assert ckpt.read_bytes() == original.read_bytes()
    frame = pl.read_parquet(run_dir / "predictions.parquet")
    assert frame.height == len(MODELS) * TEST_WINDOWS * HORIZON * N_VARIATES


def test_evaluation_writes_predictions_in_chunks_with_the_same_results(
    run: tuple[Path, str], tmp_path: Path
) -> None:
    # Evaluate smamba again with chunks of 100 rows: the file is written 100 rows at a time
    # (no row group holds more), and the rows and test metrics are those of the first
    # evaluation, whose chunks (2**18 rows) held every row at once.
    run_dir = Path(shutil.copytree(run[0], tmp_path / run[0].name))
    folder = RunFolder(run_dir)
    folder.update_status(state="failed", pid=None, models={"smamba": "evaluating"})
    before = read_metrics(run_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TSSSM_RUN_DIR", "")
        patch.setattr("tsssm.runs.folder.CHUNK_ROWS", 100)
        Recipe.resume(run_dir).run()
    assert read_metrics(run_dir)["smamba"]["test"] == before["smamba"]["test"]
    file = pq.ParquetFile(run_dir / "predictions.parquet")
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
    assert max(sizes) <= 100 and sum(sizes) == len(MODELS) * TEST_WINDOWS * HORIZON * N_VARIATES
    original = pl.read_parquet(run[0] / "predictions.parquet")
    rewritten = pl.read_parquet(run_dir / "predictions.parquet")
    # The other models' rows come first, as they were; then smamba's.
    assert rewritten["model"].unique(maintain_order=True).to_list() == [*MODELS[1:], MODELS[0]]
    assert_frame_equal(rewritten.sort("model", maintain_order=True),
                       original.sort("model", maintain_order=True))


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_run_folders_never_collide(tmp_path: Path) -> None:
    first, second = RunFolder.create(tmp_path, "x"), RunFolder.create(tmp_path, "x")
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()


def test_preset_run_dir_is_created_where_asked(
    tmp_path: Path, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torchrun/SLURM start every process themselves; they agree on the folder in advance.
    target = tmp_path / "shared" / "run-a"
    monkeypatch.setenv(RUN_DIR_ENV, str(target))
    config = load_config(write_recipe(tmp_path / "tiny.toml", tiny_recipe(tiny_csv)))
    recipe = Recipe.start(config, output_dir=tmp_path / "runs")
    assert recipe.folder.path == target
    assert (target / "config.toml").is_file()
    assert not (tmp_path / "runs").exists()


def test_an_output_dir_that_cannot_hold_folders_is_one_line(
        tiny_csv: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)  # an earlier run in this process set it
    recipe = write_recipe(tmp_path / "r.toml", tiny_recipe(tiny_csv))
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(recipe), "--output-dir", "/dev/null"])
    assert stopped.value.code == 2
    assert "cannot create a run folder in /dev/null" in capsys.readouterr().err
