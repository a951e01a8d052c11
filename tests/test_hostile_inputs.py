"""The hostile-input battery of issue 14: every bad input is a clear error of the right type
that names the problem, raised before any training and before any run folder exists.

One line per case: (input -> expected error type + message fragment). Each case is cheap: a
tiny series written to a temporary folder, a config parsed in-process, a kernel called on
empty tensors; one case goes through the `tsssm` command itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch

from tsssm.data import DataError
from tsssm.data.cholec80 import read_phase_file
from tsssm.estimators import Forecaster
from tsssm.kernels import selective_scan, selective_scan_2d, selective_state_update
from tsssm.recipes import Recipe, _toml, load_config
from tsssm.runs import RunFileError, RunFolder, write_text
from tsssm.training.callbacks import check_finite_metrics
from tsssm.training.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
ROWS = 120
HOURS = [datetime(2021, 1, 1) + timedelta(hours=i) for i in range(ROWS)]
WAVE = np.sin(np.arange(ROWS) / 5.0)


# --- tiny inputs ---------------------------------------------------------------------------

def series(**columns: Any) -> pl.DataFrame:
    """An hourly series: ``date`` then the given columns (default: one sine ``a``)."""
    return pl.DataFrame({"date": HOURS, **(columns or {"a": WAVE})})


def recipe(dataset: Path | str) -> dict[str, Any]:
    """A tiny forecasting recipe over ``dataset`` as a dict."""
    return {
        "run": {"name": "hostile"},
        "data": {"dataset": str(dataset), "lookback": 8, "horizon": 4, "split": "ratio"},
        "model": {"name": "smamba", "d_model": 8, "d_ff": 8, "n_layers": 1},
        "train": {"max_epochs": 1, "batch_size": 8, "threads": 1, "progress_bar": False},
    }


def write(path: Path, frame_or_text: pl.DataFrame | str | bytes) -> Path:
    if isinstance(frame_or_text, pl.DataFrame):
        frame_or_text.write_csv(path)
    elif isinstance(frame_or_text, bytes):
        path.write_bytes(frame_or_text)
    else:
        path.write_text(frame_or_text)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def recipe_file(workdir: Path) -> Path:
    path = workdir / "recipe.toml"
    path.write_text(_toml.dumps(recipe(write(workdir / "good.csv", series()))))
    return path


def start(recipe_path: Path, output: Path, *overrides: str) -> None:
    """Parse the recipe and start it as `tsssm run` does (data and models checked first),
    in ``output`` unless an override sets ``run.output_dir``."""
    config = load_config(recipe_path, overrides)
    explicit = any(o.startswith("run.output_dir=") for o in overrides)
    Recipe.start(config, config.run.output_dir if explicit else output)


# --- recipe values: parsed where the recipe is read -------------------------------------------

@pytest.mark.parametrize(("override", "fragment"), [
    ("model.d_state=0", "model.d_state must be at least 1, not 0"),
    ("model.d_conv=0", "model.d_conv must be at least 1, not 0"),
    ("model.expand=0", "model.expand must be at least 1, not 0"),
    ("model.n_layers=-1", "model.n_layers must be at least 1, not -1"),
    ("model.d_model=0", "model.d_model must be at least 1, not 0"),
    ("model.dropout=2.0", "model.dropout must lie in [0, 1), not 2.0"),
    ("train.devices=-2", "train.devices must be at least 1"),
    ("train.limit_train_batches=1.5", "train.limit_train_batches must be a fraction"),
    ("train.lr=inf", "train.lr must be a finite number, not inf"),
    ("train.lr=nan", "train.lr must be a finite number, not nan"),
    ("train.gradient_clip_val=-1.0", "train.gradient_clip_val must not be negative"),
    ("data.lookback=0", "data.lookback must be at least 1"),
])
def test_recipe_value(recipe_file: Path, override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"--set {override}")) as error:
        load_config(recipe_file, [override])
    assert fragment in str(error.value)


@pytest.mark.parametrize(("shipped", "override", "fragment"), [
    ("etth1_smamba.toml", "baselines.itransformer.n_heads=3",
     "baselines.itransformer.n_heads 3 must divide baselines.itransformer.d_model 256"),
    ("eeg_pretrain.toml", "model.masking=bogus",
     "'model.masking' must be one of 'token', 'zero', not string 'bogus'"),
    ("eeg_pretrain.toml", "model.decoder_kernel=[3]",
     "'model.decoder_kernel' must be an array of 2 integers"),
    ("eeg_pretrain.toml", "model.patch_times=0", "model.patch_times must be at least 1"),
])
def test_shipped_recipe_value(shipped: str, override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"--set {override}")) as error:
        load_config(REPO / "recipes" / shipped, [override])
    assert fragment in str(error.value)


@pytest.mark.parametrize(("content", "fragment"), [
    (bytes(range(256)), "not a recipe: a recipe is a TOML text file"),
    ("[run\nname = 1\n", "not valid TOML"),
])
def test_recipe_file_that_is_not_a_recipe(workdir: Path, content: str | bytes,
                                          fragment: str) -> None:
    path = write(workdir / "bad.toml", content)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


# --- checked when the run starts, before its folder exists -----------------------------------

@pytest.mark.parametrize(("overrides", "error", "fragment"), [
    (("model.name=chimera", "model.trend_dt_min=-1.0"), ConfigError,
     "[model] chimera: ChimeraConfig: trend_dt_min and trend_dt_max must satisfy 0 < min"),
    (("model.name=chimera", "model.season_period=100"), ConfigError,
     "season_period (100) is longer than the series (lookback=8)"),
    (("model.backend=bogus",), ConfigError, "backend 'bogus' is not one of auto, ref, cpu"),
    (("model.name=chimera", "model.backend=bogus"), ConfigError,
     "SelectiveSSM2D: backend 'bogus' is not one of"),
    (("train.devices=-1",), ConfigError, "`devices` selected with `CPUAccelerator`"),
    (("run.output_dir=/dev/null",), ConfigError, "cannot create a run folder in /dev/null"),
])
def test_run_start_refuses(recipe_file: Path, tmp_path: Path, overrides: tuple[str, ...],
                           error: type[Exception], fragment: str) -> None:
    output = tmp_path / "runs"
    with pytest.raises(error) as caught:
        start(recipe_file, output, *overrides)
    assert fragment in str(caught.value)
    assert not output.exists() or not any(output.iterdir())


def _uneven() -> pl.DataFrame:
    frame = series()
    return frame.filter(pl.int_range(pl.len()) != 50)


DATA_CASES: dict[str, tuple[Callable[[], pl.DataFrame | str], str]] = {
    "1e300 column": (lambda: series(a=WAVE, big=WAVE * 1e300),
                     "column 'big' has 119 values beyond float32's range"),
    "constant 1e39 column": (lambda: series(a=WAVE, flat=np.full(ROWS, 1e39)),
                             "column 'flat' has 120 values beyond float32's range"),
    "values beyond float32": (lambda: series(a=np.where(np.arange(ROWS) == 7, 5e38, WAVE)),
                              "first at row 7 (line 9 of the file)"),
    "irregular spacing": (_uneven, "row 50 (line 52 of the file): the series is not evenly "
                                   "spaced: 2021-01-03 03:00:00 follows 2021-01-03 01:00:00"),
    "duplicate columns": (lambda: "date,a,a\n" + "\n".join(
        f"{t:%Y-%m-%d %H:%M:%S},{v},{v}" for t, v in zip(HOURS, WAVE, strict=True)),
        "the header names column 'a' 2 times"),
    "timezone-aware": (lambda: "date,a\n" + "\n".join(
        f"{t:%Y-%m-%dT%H:%M:%S}+02:00,{v}" for t, v in zip(HOURS, WAVE, strict=True)),
        "holds timezone-aware timestamps (UTC)"),
    "descending dates": (lambda: series().reverse(), "timestamps must be strictly increasing"),
    "a text file": (lambda: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/sh\n",
                    "has no date column 'date' (its header has 1 columns)"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_forecasting_data(case: str, tmp_path: Path) -> None:
    make, fragment = DATA_CASES[case]
    data = write(tmp_path / "series.csv", make())
    path = write(tmp_path / "recipe.toml", _toml.dumps(recipe(data)))
    output = tmp_path / "runs"
    with pytest.raises(DataError) as error:
        start(path, output)
    assert fragment in str(error.value) and str(data) in str(error.value)
    assert "root:x" not in str(error.value)  # a file's content is never echoed
    assert not output.exists()


def test_irregular_spacing_can_be_accepted_explicitly(tmp_path: Path) -> None:
    data = write(tmp_path / "series.csv", _uneven())
    config = load_config(write(tmp_path / "r.toml", _toml.dumps(recipe(data))),
                         ["data.allow_irregular=true"])
    recipe_ = Recipe.for_config(config)(config, None)
    recipe_.setup()
    assert len(recipe_.data.timestamps) == ROWS - 1


# --- estimators -------------------------------------------------------------------------------

def forecaster() -> Forecaster:
    return Forecaster(lookback=8, horizon=4, model="dlinear", max_epochs=1, device="cpu")


@pytest.mark.parametrize(("fit_on", "fragment"), [
    (series(a=WAVE * 1e300), "`y`: column 'a' has 119 values beyond float32's range"),
    (series().reverse(), "`y`: the dates of column 'date' must increase"),
    (_uneven(), "`y`: the dates of column 'date' are not evenly spaced: row 50"),
    (_uneven().to_pandas().set_index("date"),
     "`y`: the dates of column 'date' are not evenly spaced: row 50"),
    (np.full((40, 2), 1e39), "`y`: column '0' has 40 values beyond float32's range"),
])
def test_forecaster_fit_refuses(fit_on: Any, fragment: str) -> None:
    with pytest.raises(ValueError) as error:
        forecaster().fit(fit_on)
    assert fragment in str(error.value)


def test_forecaster_never_returns_inf() -> None:
    fitted = forecaster().fit(series())
    with pytest.raises(DataError, match="`y`: column 'a' has 119 values beyond"):
        fitted.update(series(a=WAVE * 1e300), update_params=False)
    # Within float32, but the model's outputs overflow.
    fitted.update(series(a=WAVE * 3e38), update_params=False)
    with pytest.raises(FloatingPointError, match="the forecast holds NaN or infinite values"):
        fitted.predict(fh=[1])


@pytest.mark.parametrize(("estimator", "X", "fragment"), [
    ("AnomalyDetector", np.r_[WAVE, 1e300][:, None],
     "`X`: column 'channel 0' has 1 values beyond float32's range (+-3.4e38), the first at "
     "step 120"),
    ("WindowClassifier", np.r_[np.zeros((3, 8)), np.full((1, 8), 1e39)],
     "X holds values beyond float32's range (+-3.4e38), the first in window 3"),
])
def test_other_estimators_refuse_values_beyond_float32(estimator: str, X: np.ndarray,
                                                       fragment: str) -> None:
    import tsssm.estimators

    cls = getattr(tsssm.estimators, estimator)
    with pytest.raises(ValueError) as error:
        if estimator == "WindowClassifier":
            cls(model="smamba_classifier", max_epochs=1, device="cpu").fit(X, [0, 1, 0, 1])
        else:
            cls(model="chimera_anomaly", window=8, max_epochs=1, device="cpu").fit(X)
    assert fragment in str(error.value)


# --- other loaders ----------------------------------------------------------------------------

@pytest.mark.parametrize(("lines", "fragment"), [
    (["0\tPreparation", "25\tPreparation", "75\tCalotTriangleDissection"],
     "line 4: frame 75 follows frame 25, but the file annotates every 25 frames"),
    (["50\tPreparation", "75\tPreparation"], "line 2: the annotations start at frame 50, not 0"),
    (["0\tPreparation", "0\tPreparation"], "line 3: frame 0 is not after frame 0"),
    (["0\tPreparation", "x\tPreparation"], "line 3: the frame number is not an integer"),
])
def test_cholec80_label_files_are_never_filled_in(tmp_path: Path, lines: list[str],
                                                  fragment: str) -> None:
    path = write(tmp_path / "video01-phase.txt", "Frame\tPhase\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=str(path)) as error:
        read_phase_file(path)
    assert fragment in str(error.value)


def test_anomaly_csv_beyond_float32_is_named(tmp_path: Path) -> None:
    from tsssm.data.anomaly import read_anomaly_csv

    path = write(tmp_path / "a.csv", pl.DataFrame(
        {"value": np.r_[WAVE[:10], 1e300], "label": np.zeros(11, dtype=np.int64)}))
    with pytest.raises(DataError, match=r"column 'value' has 1 values beyond float32's range"):
        read_anomaly_csv(path, train_end=5)


# --- kernels: empty dimensions never reach the compiled code ----------------------------------

def _scan_args(batch: int, dim: int, length: int, state: int) -> dict[str, torch.Tensor]:
    return {"u": torch.zeros(batch, dim, length), "delta": torch.zeros(batch, dim, length),
            "A": -torch.ones(dim, state), "B": torch.zeros(batch, state, length),
            "C": torch.zeros(batch, state, length)}


def _scan2d_args(batch: int, dim: int, n_vars: int, length: int, state: int
                 ) -> dict[str, torch.Tensor]:
    grid, bc = torch.zeros(batch, dim, n_vars, length), torch.zeros(batch, state, n_vars, length)
    return {"u": grid, "delta_time": grid, "delta_var": grid, "A_time": -torch.ones(dim, state),
            "A_var": -torch.ones(dim, state), "B_time": bc, "C_time": bc, "B_var": bc,
            "C_var": bc, "A_var_to_time": torch.zeros(dim, state),
            "A_time_to_var": torch.zeros(dim, state)}


KERNEL_CASES: dict[str, Callable[[], Any]] = {
    "scan state=0 (cpu)": lambda: selective_scan(**_scan_args(2, 4, 5, 0), backend="cpu"),
    "scan state=0 (chunked)": lambda: selective_scan(**_scan_args(2, 4, 5, 0),
                                                     backend="chunked"),
    "scan batch=0": lambda: selective_scan(**_scan_args(0, 4, 5, 8)),
    "scan dim=0": lambda: selective_scan(**_scan_args(2, 0, 5, 8), backend="ref"),
    "scan length=0": lambda: selective_scan(**_scan_args(2, 4, 0, 8)),
    "step state=0": lambda: selective_state_update(
        torch.zeros(2, 4, 0), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(4, 0),
        torch.zeros(2, 0), torch.zeros(2, 0)),
    "2-D scan state=0 (coupled, cpu)": lambda: selective_scan_2d(
        **_scan2d_args(2, 3, 2, 5, 0), backend="cpu"),
    "2-D scan n_vars=0": lambda: selective_scan_2d(**_scan2d_args(2, 3, 0, 5, 4)),
    "2-D scan batch=0 (chunked)": lambda: selective_scan_2d(**_scan2d_args(0, 3, 2, 5, 4),
                                                            backend="chunked"),
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel_refuses_empty_dimensions(case: str) -> None:
    with pytest.raises(ValueError, match=r"every size >= 1 \(an empty dimension"):
        KERNEL_CASES[case]()


# --- non-finite numbers stop a run ------------------------------------------------------------

@pytest.mark.parametrize(("metrics", "allow_nan", "fragment"), [
    ({"val_loss": torch.tensor(float("nan"))}, False, "the validation metric val_loss is nan"),
    ({"val_loss": 0.5, "val_mse": float("inf")}, False, "val_mse is inf"),
    ({"mse_raw": float("-inf")}, True, "mse_raw is -inf"),
])
def test_non_finite_metric(metrics: dict[str, Any], allow_nan: bool, fragment: str) -> None:
    with pytest.raises(FloatingPointError, match=fragment):
        check_finite_metrics(metrics, "validation" if not allow_nan else "test", allow_nan)


def test_an_undefined_score_is_not_an_overflow() -> None:
    check_finite_metrics({"auroc": float("nan"), "mse": 0.1}, "test", allow_nan=True)


def test_non_finite_validation_stops_the_run_and_status_says_so(tmp_path: Path) -> None:
    # Train rows are a sine; validation and test rows are 1e30 times larger: the validation
    # loss overflows float32 while the training loss stays finite.
    scale = np.where(np.arange(ROWS) < 84, 1.0, 1e30)
    data = write(tmp_path / "series.csv", series(a=WAVE * scale))
    config = load_config(write(tmp_path / "r.toml", _toml.dumps(recipe(data))),
                         ["train.limit_train_batches=1"])
    recipe_ = Recipe.start(config, tmp_path / "runs")
    with pytest.raises(FloatingPointError, match="the validation metric val_loss is inf"):
        recipe_.run()
    status = recipe_.folder.status()
    assert status["state"] == "failed"
    assert status["error"].startswith("FloatingPointError: the validation metric val_loss")


# --- damaged run folders, files the run writes -------------------------------------------------

def test_resume_of_a_damaged_status_names_it(tmp_path: Path, recipe_file: Path) -> None:
    folder = RunFolder.create(tmp_path, "damaged")
    write_text(folder.file("config.toml"), recipe_file.read_text())
    folder.file("status.json").write_text('{"state": "runn')
    with pytest.raises(RunFileError, match=r"status\.json"):
        Recipe.resume(folder.path)


def test_run_files_respect_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_text(tmp_path / "status.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "status.json").stat().st_mode & 0o777 == 0o640


def test_eeg_cache_refuses_a_symlinked_entry(tmp_path: Path) -> None:
    from tsssm.data.eeg import EEGWindows, load_mental_arithmetic

    recordings = load_mental_arithmetic()[:1]
    EEGWindows.from_recordings(recordings, 4.0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.json")
    elsewhere = write(tmp_path.parent / "elsewhere.json", "{}")
    entry.unlink()
    entry.symlink_to(elsewhere)
    with pytest.raises(DataError, match=r"cache entry .*\.json is a symlink"):
        EEGWindows.from_recordings(recordings, 4.0, cache_dir=tmp_path)
    assert not (tmp_path / f"{entry.stem}.npy.tmp").exists()


# --- one case through the command itself -----------------------------------------------------

def tsssm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("TSSSM_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "tsssm.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)


def test_cli_is_one_line_and_leaves_no_folder(recipe_file: Path, tmp_path: Path) -> None:
    result = tsssm("run", str(recipe_file), "--set", 'data.dataset="/etc/passwd"', "--set",
                   f"run.output_dir={tmp_path / 'runs'}")
    assert result.returncode == 2
    assert result.stderr.startswith("tsssm: error: /etc/passwd has no date column 'date'")
    assert "Traceback" not in result.stderr and "root:" not in result.stderr
    assert not (tmp_path / "runs").exists()
