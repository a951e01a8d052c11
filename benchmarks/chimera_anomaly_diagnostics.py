"""Why a reconstruction detector misses anomalies: trains ``ChimeraAnomalyDetector`` with each
objective on one series' normal prefix (as ``benchmarks/chimera_anomaly.py`` does) and prints

- the test figures with the threshold taken from the scores of the steps trained on
  (``in-sample``) and of the held-out last 20 % of the prefix (``held-out``, the default);
- a copy test: a spike of +3 (standardised units) added to steps 40-47 of normal test
  windows; ``gain`` is the mean change of the output over those steps divided by 3 (1: the
  spike is passed through), beside the squared error on the spike steps and on normal steps.

    python benchmarks/chimera_anomaly_diagnostics.py [--dataset KDD-TSAD_135]
        [--objectives reconstruct predict]
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import torch
from chimera_anomaly import CHIMERA, HELD_OUT, QUANTILE, training_prefix

from tsssm.data.anomaly import load_anomaly
from tsssm.estimators import ChimeraAnomalyDetector
from tsssm.metrics import detection_metrics, train_threshold

WINDOW, SCORE_STRIDE, SPIKE = 64, 4, slice(40, 48)


def copy_test(detector: ChimeraAnomalyDetector, normal: np.ndarray) -> dict[str, float]:
    """Spike normal windows of ``normal`` [T, C] (standardised) and see what comes out."""
    starts = np.arange(100, 2000, 150)
    windows = np.stack([normal[a:a + WINDOW].T for a in starts])  # [W, C, L]
    spiked = windows.copy()
    spiked[:, :, SPIKE] += 3.0
    model = detector.module_.eval()
    with torch.no_grad():
        clean, out = (model(torch.as_tensor(w)).numpy() for w in (windows, spiked))
    return {"gain": float((out - clean)[:, :, SPIKE].mean() / 3.0),
            "error_spike": float(((out - spiked) ** 2)[:, :, SPIKE].mean()),
            "error_normal": float(((clean - windows) ** 2)[:, :, 8:].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="KDD-TSAD_135")
    parser.add_argument("--objectives", nargs="+", default=["reconstruct", "predict"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    series = load_anomaly(args.dataset)
    end = training_prefix(series)
    cut = end - round(HELD_OUT * end)
    labels = series.labels[end:]
    for objective in args.objectives:
        detector = ChimeraAnomalyDetector(
            window=WINDOW, stride=1, score_stride=SCORE_STRIDE,
            model_options={**CHIMERA, "objective": objective}, quantile=QUANTILE,
            max_epochs=10, patience=3, validation_fraction=HELD_OUT, random_state=args.seed,
        ).fit(series.values[:end])
        scores = detector.score_samples(series.values)[end:]
        scaled = detector.scaler_.transform(series.values).astype(np.float32)
        for source, part in (("in-sample", scaled[:cut]), ("held-out", scaled[cut:end])):
            threshold = train_threshold(
                detector.module_.series_scores(part, SCORE_STRIDE), "quantile", QUANTILE)
            row = detection_metrics(labels, scores, threshold)
            print(f"{args.dataset} {objective:<12} threshold {source:<9} f1 {row['f1']:.3f} "
                  f"f1 PA {row['f1_point_adjusted']:.3f} auroc {row['auroc']:.3f} "
                  f"aupr {row['aupr']:.3f} flagged {row['flagged']}")
        copied = copy_test(detector, scaled[end:])
        print(f"{args.dataset} {objective:<12} spike gain {copied['gain']:.2f}, squared error "
              f"on the spike {copied['error_spike']:.4f}, on normal steps "
              f"{copied['error_normal']:.4f}")


if __name__ == "__main__":
    main()
