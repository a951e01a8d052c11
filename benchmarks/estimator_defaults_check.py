"""The estimators' defaults against their alternatives, on held-out data.

``benchmarks/tune_estimator_defaults.py`` (and ``tune_smamba_etth1.py`` for S-Mamba) tune
each preset on a validation split. This script checks the choice where it matters to a
user: each estimator is built with no arguments beyond the data's shape
(``SMambaForecaster(lookback=96, horizon=96)``, ``FEMBAClassifier()``, ``PhaseRecognizer()``),
fitted on the bundled data set's training part and scored on its test part, beside the same
estimator given each alternative (:data:`ALTERNATIVES`: the defaults before the study, or
the study's values where the preset kept its own) explicitly, in one run:

- S-Mamba: ETTh1, the standard 12/4/4-month split, MSE and MAE over every test window on
  the standardised scale (``windowed_mse``);
- FEMBA: Bonn seizure vs not, the recipe's windows (5.9 s, robust-scaled per recording) and
  segment split (60/20/20, seed 0; training + validation parts fit, test scored), balanced
  accuracy;
- PhaseRecognizer: Sleep-EDF subjects 0-4 fit, subject 6 scored (macro F1, Cohen's kappa).

    python benchmarks/estimator_defaults_check.py [--families smamba femba phase]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score

from tsssm.data import bundled_dataset, load_series, load_sleep_edf, sleep_edf_split
from tsssm.data.eeg import EEGWindows, load_bonn, subject_split
from tsssm.estimators import FEMBAClassifier, PhaseRecognizer, SMambaForecaster

# The alternatives to each preset's defaults, given explicitly: the defaults a preset had
# before its study, and the study's values where the preset kept its own.
ALTERNATIVES: dict[str, dict[str, dict[str, Any]]] = {
    "smamba": {"previous defaults": {"lr": 1e-3, "weight_decay": 0.0, "model_options": {
        "d_model": 128, "d_ff": 128, "n_layers": 2, "d_state": 2, "dropout": 0.1}}},
    "femba": {
        "Bonn study (the recipe's sizes)": {"lr": 5.4e-3, "weight_decay": 1.1e-4,
                                            "model_options": {
            "embed_dim": 64, "n_blocks": 1, "patch_chans": 1, "patch_times": 16,
            "d_state": 8, "expand": 2, "dropout": 0.0}},
        "Bonn study's lr, decay, depth at paper sizes": {
            "lr": 5.4e-3, "weight_decay": 1.1e-4,
            "model_options": {"n_blocks": 1, "dropout": 0.0}}},
    "phase": {"previous defaults": {"lr": 1e-3, "weight_decay": 1e-2, "model_options": {
        "n_local_layers": 2, "n_global_layers": 2, "local_window": 16, "dropout": 0.1}}},
}
HOURS_PER_MONTH = 30 * 24


def check_smamba(arguments: dict[str, Any]) -> dict[str, float]:
    frame = load_series(bundled_dataset("ETTh1")).drop("date")
    val_end, test_end = (m * HOURS_PER_MONTH for m in (16, 20))
    # The last quarter of the first 16 months (the standard validation months) stops early.
    forecaster = SMambaForecaster(lookback=96, horizon=96, validation_fraction=0.25,
                                  verbose=0, **arguments)
    forecaster.fit(frame[:val_end].to_numpy())
    test = frame[val_end - 96:test_end].to_numpy()
    return {"test mse": forecaster.windowed_mse(test)}


def _arrays(part: EEGWindows) -> tuple[np.ndarray, np.ndarray]:
    """The windows of ``part`` as arrays: x [n, n_chans, n_times], y [n]."""
    pairs = [part[i] for i in range(len(part))]
    return (np.stack([x.numpy() for x, _ in pairs]), np.array([int(y) for _, y in pairs]))


def check_femba(arguments: dict[str, Any]) -> dict[str, float]:
    # recipes/bonn_seizure.toml's data: seizure (S) vs the rest, 5.9-s windows robust-scaled
    # per recording, segments split 60/20/20 with seed 0.
    recordings = load_bonn(classes={"Z": 0, "O": 0, "N": 0, "F": 0, "S": 1})
    windows = EEGWindows.from_recordings(recordings, window_s=5.9,
                                         preprocessing=[{"step": "robust_scale"}])
    split = subject_split(windows, fractions=(0.6, 0.2, 0.2), seed=0)
    (x_train, y_train), (x_val, y_val) = _arrays(split.train), _arrays(split.val)
    x_test, y_test = _arrays(split.test)
    # The estimator holds out the last quarter of what it is given: the validation part.
    clf = FEMBAClassifier(validation_fraction=0.25, verbose=0, **arguments)
    clf.fit(np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]))
    return {"test balanced accuracy": balanced_accuracy_score(y_test, clf.predict(x_test))}


def check_phase(arguments: dict[str, Any]) -> dict[str, float]:
    split = sleep_edf_split(load_sleep_edf())
    recognizer = PhaseRecognizer(verbose=0, **arguments)
    recognizer.fit([s.inputs.numpy() for s in split.train],
                   [s.labels.numpy() for s in split.train])
    truth = np.concatenate([s.labels.numpy() for s in split.test])
    predicted = np.concatenate(recognizer.predict([s.inputs.numpy() for s in split.test]))
    return {"test macro F1": f1_score(truth, predicted, average="macro"),
            "test kappa": cohen_kappa_score(truth, predicted)}


CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "smamba": check_smamba, "femba": check_femba, "phase": check_phase}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", choices=sorted(CHECKS),
                        default=sorted(CHECKS))
    args = parser.parse_args(argv)
    print(f"CPU: {platform.processor() or platform.machine()}, torch's vector ISA: "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    print("| family | defaults | figures | seconds |\n|---|---|---|---|")
    for name in args.families:
        for label, arguments in {"defaults (now)": {}, **ALTERNATIVES[name]}.items():
            start = time.perf_counter()
            figures = CHECKS[name](arguments)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
            print(f"| {name} | {label} | {shown} | {time.perf_counter() - start:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
