"""``ChimeraClassifier()`` with its default settings on small UCR sets, beside 1-NN Euclidean
and MiniRocket, all fitted on each set's TRAIN file and scored on its TEST file in one run.

The sets are ECG200 (bundled with tsssm) and univariate problems that the installed aeon
package ships in its own files (read offline through :func:`tsssm.data.load_ucr`; nothing is
downloaded). 1-NN Euclidean is scikit-learn's ``KNeighborsClassifier(1)`` on z-normalised
series (the UCR archive's baseline); MiniRocket is
``tsssm.classic.time_series_classifier("auto")``. Chimera's estimator is used exactly as a
user would first try it: no options but ``verbose=0`` and the seed. Prints a markdown table
(test accuracy, fit seconds) with the CPU model, torch's vector ISA and the thread count, and
on how many sets Chimera beats 1-NN.

    python benchmarks/chimera_ucr.py [--datasets ECG200 GunPoint ...] [--threads 1]
        [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from typing import Any

import numpy as np
import torch
from kernels.bench_report import cpu_model
from sklearn.metrics import accuracy_score
from sklearn.neighbors import KNeighborsClassifier

from tsssm.classic import time_series_classifier
from tsssm.data import load_ucr
from tsssm.estimators import ChimeraClassifier

DATASETS = ("ECG200", "GunPoint", "ItalyPowerDemand", "ArrowHead")


def z_normalised(X: np.ndarray) -> np.ndarray:
    """[n_cases, n_chans, n_times] -> the same, each series to mean 0 and deviation 1,
    flattened to [n_cases, n_chans * n_times] for a distance."""
    mean = X.mean(axis=-1, keepdims=True)
    spread = X.std(axis=-1, keepdims=True)
    return ((X - mean) / np.where(spread > 0, spread, 1.0)).reshape(len(X), -1)


def timed_fit(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def evaluate(name: str) -> dict[str, Any]:
    """Test accuracies of the three classifiers on one set and Chimera's fit seconds."""
    train, test = load_ucr(name, "train"), load_ucr(name, "test")
    chimera = ChimeraClassifier(verbose=0, random_state=0)
    chimera_s = timed_fit(chimera, train.X, train.y)
    neighbour = KNeighborsClassifier(n_neighbors=1)
    neighbour.fit(z_normalised(train.X), train.y)
    rocket = time_series_classifier("auto", random_state=0)
    rocket_s = timed_fit(rocket, train.X, train.y)
    return {
        "n_train": len(train.y), "n_chans": train.X.shape[1], "length": train.X.shape[2],
        "chimera": float(accuracy_score(test.y, chimera.predict(test.X))),
        "chimera_fit_s": chimera_s,
        "1nn": float(accuracy_score(test.y, neighbour.predict(z_normalised(test.X)))),
        "minirocket": float(accuracy_score(test.y, rocket.predict(test.X))),
        "minirocket_fit_s": rocket_s,
    }


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| set | train cases | length | Chimera() | fit s | 1-NN Euclidean | MiniRocket |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['n_train']} | {r['length']} | {r['chimera']:.3f} | "
                     f"{r['chimera_fit_s']:.0f} | {r['1nn']:.3f} | {r['minirocket']:.3f} |")
    wins = sum(r["chimera"] > r["1nn"] for r in results.values())
    lines.append(f"\nChimera() beats 1-NN Euclidean on {wins} of {len(results)} sets.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    header = (f"CPU: {cpu_model()}; torch {torch.__version__}, vector ISA "
              f"{torch.backends.cpu.get_cpu_capability()}; {args.threads} thread(s); load "
              f"average at start {os.getloadavg()[0]:.1f}")
    results = {name: evaluate(name) for name in args.datasets}
    print("\n".join([header, "", *table(results)]))
    if args.json is not None:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
