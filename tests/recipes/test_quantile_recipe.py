"""A forecasting recipe with ``model.quantiles``: pinball-trained median and quantiles in the
run folder, beside point baselines; bad levels refused before a run folder exists."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsssm.cli import main
from tsssm.recipes import Recipe, from_dict, load_config
from tsssm.tasks import TASKS

from .conftest import HORIZON, N_VARIATES, read_metrics, tiny_recipe, write_recipe

LEVELS = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def quantile_run(tiny_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = tiny_recipe(tiny_csv, run={"baselines": ["dlinear"]},
                         model={"quantiles": LEVELS}, train={"max_epochs": 2})
    run = Recipe.start(from_dict(recipe, source="test"), tmp_path_factory.mktemp("runs"))
    with contextlib.redirect_stdout(io.StringIO()):
        run.run()
    return run.folder.path


def test_metrics_hold_the_quantile_scores(quantile_run: Path) -> None:
    metrics = read_metrics(quantile_run)
    test = metrics["smamba"]["test"]
    assert test["quantiles"] == LEVELS
    assert set(test["pinball_per_level"]) == {"0.1", "0.5", "0.9"}
    for key in ("pinball", "wql", "crps", "width_80", "wql_raw", "crps_raw"):
        assert np.isfinite(test[key]) and test[key] > 0, key
    assert 0.0 <= test["coverage_80"] <= 1.0
    assert test["crps"] == pytest.approx(2 * test["pinball"])
    assert "quantiles" not in metrics["dlinear"]["test"]  # the baseline forecasts points
    assert "val_mse" in (quantile_run / "logs").rglob("metrics.csv").__next__().read_text()
    # The resolved config reads back with the levels as the model's tuple.
    saved = load_config(quantile_run / "config.toml")
    assert saved.model.options["quantiles"] == tuple(LEVELS)


def test_predictions_have_quantile_columns_and_the_median_as_prediction(
        quantile_run: Path) -> None:
    frame = pl.read_parquet(quantile_run / "predictions.parquet")
    assert TASKS["forecasting"].missing_columns(frame.columns) == []
    smamba = frame.filter(pl.col("model") == "smamba")
    np.testing.assert_array_equal(smamba["q0.5"], smamba["prediction"])
    np.testing.assert_allclose(smamba["q0.5_raw"], smamba["prediction_raw"], rtol=1e-6)
    assert (smamba["q0.1"] <= smamba["q0.5"]).all() and (smamba["q0.5"] <= smamba["q0.9"]).all()
    assert (smamba["q0.1_raw"] <= smamba["q0.9_raw"]).all()
    assert smamba.height % (HORIZON * N_VARIATES) == 0
    # The point baseline has no quantiles: its rows are null there.
    assert frame.filter(pl.col("model") == "dlinear")["q0.1"].null_count() == \
        frame.filter(pl.col("model") == "dlinear").height
    # The metrics.json coverage is that of these columns (normalised scale).
    inside = (smamba["q0.1"] <= smamba["truth"]) & (smamba["truth"] <= smamba["q0.9"])
    coverage = read_metrics(quantile_run)["smamba"]["test"]["coverage_80"]
    assert inside.mean() == pytest.approx(coverage)


def test_bad_levels_stop_the_run_before_its_folder(tiny_csv: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    recipe = write_recipe(tmp_path / "q.toml", tiny_recipe(tiny_csv))
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(recipe), "--output-dir", str(runs),
              "--set", "model.quantiles=[0.1, 0.5, 1.0]"])
    assert stopped.value.code == 2
    assert "model.quantiles: every quantile level must lie strictly inside (0, 1)" in \
        capsys.readouterr().err
    assert not runs.exists()
