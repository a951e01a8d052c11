"""``strategy = "ddp"`` on 2 CPU processes (gloo) gives the metrics of one process.

Same global batch (16: 8 per process vs 16 in one), same windows in every step (the recipe's
sampler shards each global batch across the ranks), dropout off (masks drawn for 2 x 8
windows cannot equal those drawn for 16): the gradients then differ only by the order of
float additions in the all-reduce, so the metrics agree to ~1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch.distributed

from .conftest import read_metrics, run_cli, tiny_recipe, write_recipe


@pytest.mark.slow
@pytest.mark.skipif(not (torch.distributed.is_available()
                         and torch.distributed.is_gloo_available()),
                    reason="this PyTorch build has no gloo backend to run DDP on the CPU")
def test_ddp_on_two_processes_matches_one(tmp_path: Path, tiny_csv: Path) -> None:
    recipe = write_recipe(tmp_path / "r.toml", tiny_recipe(
        tiny_csv, run={"baselines": ["dlinear"]}, model={"dropout": 0.0},
        train={"batch_size": 16, "accelerator": "cpu"},
    ))
    single = run_cli("run", str(recipe), "--output-dir", str(tmp_path / "single"), timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run_cli("run", str(recipe), "--output-dir", str(tmp_path / "ddp"),
                  "--set", "train.strategy=ddp", "--set", "train.devices=2", timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    # The second process wrote nothing of its own: one run folder, one table printed.
    (ddp_dir,) = (tmp_path / "ddp").iterdir()
    (single_dir,) = (tmp_path / "single").iterdir()
    assert ddp.stdout.count("run folder:") == 2
    environment = json.loads((ddp_dir / "environment.json").read_text())
    assert environment["world_size"] == 2 and environment["strategy"] == "DDPStrategy"
    assert json.loads((ddp_dir / "status.json").read_text())["state"] == "finished"

    expected, got = read_metrics(single_dir), read_metrics(ddp_dir)
    for model in ("smamba", "dlinear"):
        assert got[model]["steps"] == expected[model]["steps"]
        assert got[model]["val_loss"] == pytest.approx(expected[model]["val_loss"], rel=1e-4)
        for key in ("mse", "mae"):
            assert got[model]["test"][key] == pytest.approx(expected[model]["test"][key],
                                                            rel=1e-4), (model, key)
