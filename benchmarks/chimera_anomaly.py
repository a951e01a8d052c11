"""Anomaly detection on KDD-TSAD_135, mitdb and yahoo: Chimera's reconstruction error
(``ChimeraAnomalyDetector``) vs a classic detector, the distance of each window to its
nearest training window, on the same split, in one script.

Training data: KDD-TSAD_135's own anomaly-free prefix (1,200 steps); mitdb and yahoo define
none, so the first third of each series is taken (a rule that reads no label; the loader
checks that it holds no labelled anomaly). Everything after the prefix is the test.

- Chimera: windows of ``--window`` steps (64; stride 1) of the prefix, the last 20 % of it
  held out for early stopping and the threshold; step score = squared error averaged over
  the windows (``--score-stride`` apart) covering the step; threshold = 0.99 quantile of the
  held-out stretch's scores. ``chimera`` is the default model (``objective="predict"``: each step
  predicted from the steps before it, a window's first 8 steps left out of the scores);
  ``chimera_period`` is ``chimera`` with each step's score averaged over one dominant period
  of the training prefix (its autocorrelation's, no label read; ``smoothing="period"``), for
  collective anomalies; ``chimera_reconstruct`` reconstructs each step from the whole window,
  its own value included (``objective="reconstruct"``, the earlier default).
- Nearest neighbour (a time-series discord score, as in matrix-profile methods): every window
  is z-normalised per channel; the windows of the first 80 % of the prefix are the reference;
  a window's score is its Euclidean distance to the nearest reference window, a step's score
  the mean over the windows covering it; threshold = 0.99 quantile of the scores of the
  prefix's last 20 % (never matched against itself).

Prints over the test steps: point-wise F1 (the headline), point-adjusted F1 (inflated: a
segment counts as found once any step of it is flagged), composite F1 (point-wise precision,
event-wise recall), the UCR archive's top-score hit (1: the highest score lies within 100
steps of the anomaly), AUROC and AUPR.

    python benchmarks/chimera_anomaly.py [--datasets KDD-TSAD_135 mitdb yahoo]
        [--detectors chimera chimera_period chimera_reconstruct nearest_neighbour]
        [--window 64] [--lead 1] [--json out]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from tsssm.data.anomaly import AnomalySeries, fold_window_scores, load_anomaly, sliding_windows
from tsssm.estimators import ChimeraAnomalyDetector
from tsssm.metrics import detection_metrics, train_threshold

QUANTILE, HELD_OUT = 0.99, 0.2
CHIMERA = {"d_model": 32, "d_state": 8, "d_ff": 64, "n_layers": 2, "dropout": 0.1,
           "season_period": 12}
SHOWN = ("f1", "f1_point_adjusted", "composite_f1", "top_score_hit", "auroc", "aupr",
         "flagged")


def training_prefix(series: AnomalySeries) -> int:
    """The series' own anomaly-free prefix, else its first third (checked label-free)."""
    if series.train_end is not None:
        return series.train_end
    end = len(series.values) // 3
    AnomalySeries(series.name, series.values, series.labels, end, series.channel_names,
                  series.path)  # raises if the first third holds a labelled anomaly
    return end


def chimera_scores(values: np.ndarray, end: int, window: int, score_stride: int, seed: int,
                   objective: str, lead: int = 1, smoothing: int | str = 1
                   ) -> tuple[np.ndarray, float]:
    """Chimera's test scores [T - end] and its threshold."""
    detector = ChimeraAnomalyDetector(
        window=window, stride=1, score_stride=score_stride, smoothing=smoothing,
        model_options={**CHIMERA, "objective": objective,
                       **({"lead": lead} if objective == "predict" else {})},
        quantile=QUANTILE, max_epochs=10, batch_size=32, lr=1e-3, patience=3,
        validation_fraction=HELD_OUT, random_state=seed,
    ).fit(values[:end])
    if smoothing == "period":
        print(f"  dominant period of the training prefix: {detector.smoothing_} steps")
    return detector.score_samples(values)[end:], detector.threshold_


def znormalized(windows: np.ndarray) -> np.ndarray:
    """Windows [W, C, L], each channel of each minus its mean over its std (1 if constant),
    flattened to [W, C * L]."""
    std = windows.std(axis=2, keepdims=True)
    flat = (windows - windows.mean(axis=2, keepdims=True)) / np.where(std > 0, std, 1.0)
    return flat.reshape(len(windows), -1)


def neighbour_scores(values: np.ndarray, end: int, window: int, score_stride: int
                     ) -> tuple[np.ndarray, float]:
    """Nearest-training-window distance: test scores [T - end] and the threshold."""
    values = values.astype(np.float64)
    cut = end - round(HELD_OUT * end)
    index = NearestNeighbors(n_neighbors=1).fit(znormalized(sliding_windows(values[:cut],
                                                                            window)))

    def step_scores(part: np.ndarray) -> np.ndarray:
        windows = sliding_windows(part, window, score_stride)
        distance = index.kneighbors(znormalized(windows))[0][:, 0]
        return fold_window_scores(distance, len(part), window, score_stride)

    threshold = train_threshold(step_scores(values[cut:end]), "quantile", QUANTILE)
    return step_scores(values)[end:], threshold


DETECTORS = ("chimera", "chimera_period", "chimera_reconstruct", "nearest_neighbour")


def benchmark(name: str, detectors: list[str], window: int, score_stride: int, seed: int,
              lead: int) -> dict[str, Any]:
    series = load_anomaly(name)
    end = training_prefix(series)
    labels = series.labels[end:]
    out: dict[str, Any] = {"train_end": end, "test_steps": len(labels),
                           "anomalous_steps": int(labels.sum())}
    scorers = {"chimera": partial(chimera_scores, seed=seed, objective="predict", lead=lead),
               "chimera_period": partial(chimera_scores, seed=seed, objective="predict",
                                         lead=lead, smoothing="period"),
               "chimera_reconstruct": partial(chimera_scores, seed=seed,
                                              objective="reconstruct"),
               "nearest_neighbour": neighbour_scores}
    for detector in detectors:
        scorer = scorers[detector]
        start = time.perf_counter()
        scores, threshold = scorer(series.values, end, window, score_stride)
        out[detector] = {**detection_metrics(labels, scores, threshold),
                         "seconds": time.perf_counter() - start}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["KDD-TSAD_135", "mitdb", "yahoo"])
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    parser.add_argument("--window", type=int, default=64, help="window length (steps)")
    parser.add_argument("--score-stride", type=int, default=4)
    parser.add_argument("--lead", type=int, default=1,
                        help="chimera predicts each step from the steps this many before it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    results = {name: benchmark(name, args.detectors, args.window, args.score_stride, args.seed,
                               args.lead)
               for name in args.datasets}
    print(f"{'data set':<14} {'detector':<20} " + " ".join(f"{k:>17}" for k in SHOWN))
    for name, result in results.items():
        for detector in args.detectors:
            row = result[detector]
            print(f"{name:<14} {detector:<20} " + " ".join(
                f"{row[k]:>17.3f}" if isinstance(row[k], float) else f"{row[k]:>17}"
                for k in SHOWN))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
