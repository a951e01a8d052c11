"""The S-Mamba recipes of the LTSF archive's data sets: each loads once given a file in its
format (written small here), and the two formats without dates train end to end."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsssm.recipes import ConfigError, Recipe, from_dict, load_config

from .conftest import REPO

ARCHIVE_RECIPES = {
    "ettm1": "ETTm1.csv", "ettm2": "ETTm2.csv", "ecl": "electricity.csv",
    "weather": "weather.csv", "traffic": "traffic.csv", "exchange": "exchange_rate.csv",
    "solar": "solar_AL.txt", "pems03": "PEMS03.npz", "pems04": "PEMS04.npz",
    "pems07": "PEMS07.npz", "pems08": "PEMS08.npz",
}
TINY = ["model.d_model=8", "model.d_ff=8", "model.n_layers=1", "model.d_state=2",
        "data.lookback=16", "data.horizon=4", "train.max_epochs=1", "train.batch_size=16",
        "train.threads=1", "train.progress_bar=false"]


def write_file(path: Path, rows: int = 300, variates: int = 3) -> Path:
    """A small file in the format ``path``'s name says (CSV with dates, Solar, PEMS)."""
    values = np.random.default_rng(0).uniform(0, 10, size=(rows, variates))
    if path.suffix == ".npz":
        np.savez(path, data=np.stack([values, values, values], axis=-1))
    elif path.suffix == ".txt":
        path.write_text("\n".join(",".join(f"{v:.3f}" for v in row) for row in values) + "\n")
    else:
        dates = [datetime(2016, 7, 1) + timedelta(minutes=15 * i) for i in range(rows)]
        pl.DataFrame({"date": dates, **{f"v{i}": values[:, i] for i in range(variates)}}
                     ).write_csv(path)
    return path


def test_every_archive_recipe_is_there() -> None:
    assert {p.stem.removesuffix("_smamba") for p in (REPO / "recipes").glob("*_smamba.toml")
            } >= set(ARCHIVE_RECIPES)


@pytest.mark.parametrize("name", sorted(ARCHIVE_RECIPES))
def test_archive_recipe_loads_given_its_file(name: str, tmp_path: Path) -> None:
    data = write_file(tmp_path / ARCHIVE_RECIPES[name])
    config = load_config(REPO / "recipes" / f"{name}_smamba.toml", [f"data.dataset={data}"])
    assert config.model.name == "smamba" and config.data.lookback == 96
    assert config.data.horizon == (12 if name.startswith("pems") else 96)


@pytest.mark.parametrize("name", ["solar", "pems08"])
def test_undated_formats_train(name: str, tmp_path: Path) -> None:
    data = write_file(tmp_path / ARCHIVE_RECIPES[name])
    config = load_config(REPO / "recipes" / f"{name}_smamba.toml",
                         [f"data.dataset={data}", *TINY])
    recipe = Recipe.start(config, tmp_path / "runs")
    metrics = recipe.run()["smamba"]["test"]
    predictions = pl.read_parquet(recipe.folder.file("predictions.parquet"))
    assert np.isfinite(metrics["mse"]) and set(predictions["variate"]) == {"0", "1", "2"}
    step = predictions["timestamp"].unique().sort().diff()[1]
    assert step == timedelta(minutes=10 if name == "solar" else 5)


def test_a_file_without_dates_needs_a_start(tmp_path: Path) -> None:
    data = write_file(tmp_path / "solar_AL.txt")
    recipe = {"run": {"name": "s"}, "data": {"dataset": str(data)},
              "model": {"name": "smamba"}}
    with pytest.raises(ConfigError, match=r"data.start: solar_AL.txt \(solar format\) holds "
                                          "no dates"):
        from_dict(recipe, source="test")
