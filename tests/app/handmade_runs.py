"""HAND-MADE run folders for the app's phase, EEG and anomaly pages.

These are stand-ins, written with the ``RunFolder`` API from small synthetic prediction
frames in the schemas of ``tsssm.recipes.prediction_columns``, because the phase, EEG and
anomaly recipes do not exist yet. Replace each with a real tiny run of its recipe when the
recipe lands (as ``conftest.forecasting_run`` does for forecasting).

Also here: run folders in the states the app must explain (running, interrupted and resumed,
damaged files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsssm.data import CHOLEC80_PHASES
from tsssm.recipes import _toml
from tsssm.recipes.prediction_columns import ANOMALY, EEG, PHASE
from tsssm.recipes.run_folder import CONFIG, RunFolder, write_text

MODELS = ("main_model", "baseline_model")


def _folder(runs_dir: Path, name: str, task: str, dataset: str) -> RunFolder:
    folder = RunFolder.create_at(runs_dir / name)
    write_text(folder.file(CONFIG), _toml.dumps({
        "run": {"name": name, "task": task, "baselines": [MODELS[1]]},
        "data": {"dataset": dataset}, "model": {"name": MODELS[0]},
    }))
    folder.start_attempt(list(MODELS))
    return folder


def _finish(folder: RunFolder, frames: dict[str, pl.DataFrame],
            metrics: dict[str, dict[str, Any]]) -> Path:
    for i, model in enumerate(MODELS):
        folder.record_predictions(model, frames[model])
        folder.record_metrics(model, {"role": "main" if i == 0 else "baseline",
                                      **metrics[model]})
    folder.update_status(state="finished", models=dict.fromkeys(MODELS, "finished"))
    return folder.path


def _accuracy(truth: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.mean(truth == prediction))


def phase_run(runs_dir: Path) -> Path:
    """Two Cholec80-like videos of 7 phases at 1 fps; the baseline errs more often."""
    rng = np.random.default_rng(1)
    frames, metrics = {}, {}
    for noise, model in zip((0.05, 0.3), MODELS, strict=True):
        parts, per_sequence = [], []
        for video, length in (("video41", 140), ("video42", 105)):
            truth = np.array(CHOLEC80_PHASES)[np.arange(length) * 7 // length]
            predicted = truth.copy()
            wrong = rng.random(length) < noise
            predicted[wrong] = rng.choice(CHOLEC80_PHASES, wrong.sum())
            progress = np.linspace(0, 1, length)
            parts.append(pl.DataFrame({
                "model": model, "sequence": video, "second": np.arange(length, dtype=float),
                "truth": truth, "prediction": predicted,
                "progress": np.clip(progress + rng.normal(0, noise, length), 0, 1),
                "truth_progress": progress, "confidence": rng.uniform(0.4, 1.0, length),
            }))
            per_sequence.append({"sequence": video, "accuracy": _accuracy(truth, predicted),
                                 "transitions": int(np.sum(predicted[1:] != predicted[:-1]))})
        frames[model] = pl.concat(parts).select(PHASE)
        everything = frames[model]
        metrics[model] = {
            "test": {"accuracy": _accuracy(everything["truth"].to_numpy(),
                                           everything["prediction"].to_numpy()),
                     "jaccard": 0.5, "edit_score": 70.0},
            "per_sequence": per_sequence,
        }
    return _finish(_folder(runs_dir, "handmade-phase", "phase", "cholec80"), frames, metrics)


def eeg_run(runs_dir: Path) -> Path:
    """Binary seizure detection: 2 subjects × 2 recordings of 40 windows of 4 s."""
    rng = np.random.default_rng(2)
    frames, metrics = {}, {}
    for noise, model in zip((0.15, 0.35), MODELS, strict=True):
        parts = []
        for subject in ("s01", "s02"):
            for night in (1, 2):
                seizure = np.zeros(40, dtype=bool)
                seizure[15:25] = True
                probability = np.clip(seizure * 0.8 + 0.1 + rng.normal(0, noise, 40), 0, 1)
                parts.append(pl.DataFrame({
                    "model": model, "recording": f"{subject}_r{night}", "subject": subject,
                    "start_s": np.arange(40) * 4.0,
                    "label": np.where(seizure, "seizure", "background"),
                    "prediction": np.where(probability >= 0.5, "seizure", "background"),
                    "probability": probability,
                }))
        frames[model] = pl.concat(parts).select(EEG)
        metrics[model] = {"test": {"accuracy": _accuracy(
            frames[model]["label"].to_numpy(), frames[model]["prediction"].to_numpy())}}
    return _finish(_folder(runs_dir, "handmade-eeg", "eeg", "chb-mit"), frames, metrics)


def anomaly_run(runs_dir: Path) -> Path:
    """Two sine series of 150 steps with labelled spikes; a threshold of 2."""
    rng = np.random.default_rng(3)
    frames, metrics = {}, {}
    for noise, model in zip((0.2, 0.8), MODELS, strict=True):
        parts = []
        for series in ("machine-1", "machine-2"):
            time = np.arange(150, dtype=float)
            label = ((time >= 60) & (time < 70)) | ((time >= 120) & (time < 125))
            parts.append(pl.DataFrame({
                "model": model, "series": series, "time": time,
                "value": np.sin(time / 8) + 3 * label, "score":
                np.abs(3 * label + rng.normal(0, noise, 150)), "threshold": 2.0,
                "label": label.astype(np.int64),
            }))
        frames[model] = pl.concat(parts).select(ANOMALY)
        metrics[model] = {"test": {"f1": 0.9}}
    return _finish(_folder(runs_dir, "handmade-anomaly", "anomaly", "smd"), frames, metrics)


def troubled_runs(runs_dir: Path, source: Path) -> dict[str, Path]:
    """Run folders the app must explain, made from copies of the small files of the real run
    ``source``: bad JSON, unreadable Parquet, no config, still running, interrupted after a
    resume."""
    made = {}
    for name in ("bad-json", "bad-parquet", "no-config", "running", "interrupted"):
        path = runs_dir / name
        path.mkdir(parents=True)
        for file in ("config.toml", "status.json", "metrics.json", "predictions.parquet"):
            (path / file).write_bytes((source / file).read_bytes())
        made[name] = path
    (made["bad-json"] / "metrics.json").write_text('{"smamba": {"test": ')
    (made["bad-parquet"] / "predictions.parquet").write_bytes(b"not parquet")
    (made["no-config"] / "config.toml").unlink()
    for name, pid in (("running", os.getpid()), ("interrupted", _dead_pid())):
        folder = RunFolder(made[name])
        (folder.file("metrics.json")).unlink()
        (folder.file("predictions.parquet")).unlink()
        folder.start_attempt(["smamba"])  # a second attempt: resumed
        folder.update_status(pid=pid)
    return made


def _dead_pid() -> int:
    """A process id that no process of this machine has now."""
    pid = 2**22 - 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
