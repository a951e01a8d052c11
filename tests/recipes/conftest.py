"""Shared pieces of the recipe tests: a small synthetic series and tiny recipes over it.

Everything is sized to run in seconds on 2 CPU cores: 3 variates, lookback 24, horizon 12,
models with d_model 16, one intra-op thread per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tsssm.recipes import _toml

REPO = Path(__file__).resolve().parents[2]
N_ROWS = 600  # ratio split 70/10/20: 420 train rows, 60 val rows, 120 test rows
LOOKBACK, HORIZON, N_VARIATES = 24, 12, 3


def tiny_recipe(dataset: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A tiny recipe as a dict; ``sections`` update its tables (``train={"lr": 1e-2}``)."""
    recipe: dict[str, Any] = {
        "run": {"name": "tiny", "baselines": ["dlinear", "itransformer"]},
        "data": {"dataset": str(dataset), "lookback": LOOKBACK, "horizon": HORIZON},
        "model": {"name": "smamba", "d_model": 16, "d_ff": 16, "n_layers": 1},
        "train": {"max_epochs": 2, "batch_size": 16, "lr": 3e-3, "seed": 7, "threads": 1,
                  "checkpoint_every_n_steps": 5, "progress_bar": False},
        "baselines": {"itransformer": {"d_model": 16, "d_ff": 16, "n_heads": 2, "n_layers": 1},
                      "dlinear": {"train": {"lr": 1e-2}}},
    }
    for name, table in sections.items():
        recipe[name] = {**recipe.get(name, {}), **table}
    return recipe


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(_toml.dumps(recipe))
    return path


def run_cli(*args: str, timeout: float = 120, **popen: Any) -> subprocess.CompletedProcess:
    """``python -m tsssm.cli ARGS`` in a subprocess (the way Lightning's DDP relaunches it)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("TSSSM_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "tsssm.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO, **popen)


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hourly series of 3 noisy periodic variates (``date``, ``a``, ``b``, ``c``)."""
    rng = np.random.default_rng(0)
    t = np.arange(N_ROWS)
    frame = pl.DataFrame({
        "date": [datetime(2021, 1, 1) + timedelta(hours=int(i)) for i in t],
        "a": np.sin(t / 6) + 0.1 * rng.standard_normal(N_ROWS),
        "b": np.cos(t / 9) + 0.1 * rng.standard_normal(N_ROWS),
        "c": 5 + 2 * np.sin(t / 4) + 0.1 * rng.standard_normal(N_ROWS),
    })
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    frame.write_csv(path)
    return path
