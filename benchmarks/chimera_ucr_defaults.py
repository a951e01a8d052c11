"""How ``ChimeraClassifier``'s defaults were chosen: candidate settings scored by stratified
k-fold cross-validation inside the TRAIN files of small UCR sets (the TEST files are never
read), beside 1-NN Euclidean on the same folds.

Each candidate is a set of ``ChimeraClassifier`` arguments (model options, epochs, batch,
learning rate); ``defaults`` is ``ChimeraClassifier()`` as it now stands. For every set and
fold the candidate is fitted on the other folds (one thread) and scored on the held out
one; the table gives each set's mean validation accuracy over the folds (and over the
``--seeds``, each seeding both the folds and the model), their mean over the sets, and the
mean and longest fit in seconds. ``--json`` keeps the results: a later run
with the same file skips the candidates already measured and prints the whole table.

    python benchmarks/chimera_ucr_defaults.py [--candidates defaults small ...]
        [--datasets ECG200 GunPoint ...] [--folds 3] [--seeds 0 1] [--json study.json]
        [--list]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from tsssm.data import load_ucr
from tsssm.estimators import ChimeraClassifier

DATASETS = ("ECG200", "GunPoint", "ItalyPowerDemand", "ArrowHead")
# The last small configuration tried before this study (validation splits of the four TRAIN
# files; behind 1-NN on three TEST files): each candidate below changes it step by step.
SMALL = {"d_model": 32, "n_layers": 1, "d_ff": 64}
SMALL_RUN = {"max_epochs": 40, "batch_size": 16, "lr": 3e-3}
# The time axis's own step sizes: Mamba's usual range (0.001-0.1) split between the heads;
# "fast" moves both heads' ranges up a decade, for series of tens to hundreds of steps.
FAST_DT = {"trend_dt_min": 0.01, "trend_dt_max": 0.1, "seasonal_dt_min": 0.1,
           "seasonal_dt_max": 1.0}
# A half cosine from the rate down to 0 over the run, stepped per batch: the last epoch's
# weights are the ones kept (no validation split), and a vanishing rate settles them.
COSINE = {"schedule": "cosine", "lr": 3e-3, "weight_decay": 1e-2}
# MONAI signal transforms of the training windows (``augment``), each drawn half the time.
SCALE = {"name": "SignalRandScale", "prob": 0.5, "boundaries": [0.8, 1.2]}
NOISE = {"name": "SignalRandAddGaussianNoise", "prob": 0.5, "boundaries": [0.0, 0.1]}
NOISE2 = {**NOISE, "boundaries": [0.0, 0.2]}
DROP = {"name": "SignalRandDrop", "prob": 0.5, "boundaries": [0.05, 0.15]}
KERNEL9 = {**SMALL, "embed_kernel": 9}
CANDIDATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "small": {"model_options": SMALL, **SMALL_RUN},
    "small_znorm": {"model_options": {**SMALL, "normalize": True}, **SMALL_RUN},
    "small_cells_fast": {"model_options": {**SMALL, **FAST_DT}, **SMALL_RUN},
    "small_cosine": {"model_options": SMALL, **SMALL_RUN, "optimization": COSINE},
    "small_head1": {"model_options": {**SMALL, "head_features": 1}, **SMALL_RUN},
    "small_dropout3": {"model_options": {**SMALL, "dropout": 0.3}, **SMALL_RUN},
    "small_batch8": {"model_options": SMALL, **SMALL_RUN, "batch_size": 8},
    "kernel5": {"model_options": {**SMALL, "embed_kernel": 5}, **SMALL_RUN},
    "kernel9": {"model_options": {**SMALL, "embed_kernel": 9}, **SMALL_RUN},
    "kernel15": {"model_options": {**SMALL, "embed_kernel": 15}, **SMALL_RUN},
    "kernel9_mean_max": {"model_options": {**SMALL, "embed_kernel": 9, "head": "mean_max"},
                         **SMALL_RUN},
    "kernel9_batch8": {"model_options": {**SMALL, "embed_kernel": 9}, **SMALL_RUN,
                       "batch_size": 8},
    "kernel9_dropout3": {"model_options": {**SMALL, "embed_kernel": 9, "dropout": 0.3},
                         **SMALL_RUN},
    "kernel9_wd1": {"model_options": {**SMALL, "embed_kernel": 9}, **SMALL_RUN,
                    "weight_decay": 0.1},
    "kernel9_lr1e-2": {"model_options": {**SMALL, "embed_kernel": 9}, **SMALL_RUN,
                       "lr": 1e-2},
    "kernel9_cosine": {"model_options": {**SMALL, "embed_kernel": 9}, **SMALL_RUN,
                       "optimization": COSINE},
    "kernel9_dropout3_cosine": {"model_options": {**SMALL, "embed_kernel": 9, "dropout": 0.3},
                                **SMALL_RUN, "optimization": COSINE},
    "kernel9_dropout3_80_epochs": {"model_options": {**SMALL, "embed_kernel": 9,
                                                     "dropout": 0.3},
                                   **SMALL_RUN, "max_epochs": 80},
    "kernel9_scale": {"model_options": KERNEL9, **SMALL_RUN, "augment": [SCALE]},
    "kernel9_noise": {"model_options": KERNEL9, **SMALL_RUN, "augment": [NOISE]},
    "kernel9_noise2": {"model_options": KERNEL9, **SMALL_RUN, "augment": [NOISE2]},
    "kernel9_noise_80_epochs": {"model_options": KERNEL9, **SMALL_RUN, "augment": [NOISE],
                                "max_epochs": 80},
    "kernel9_drop": {"model_options": KERNEL9, **SMALL_RUN, "augment": [DROP]},
    "kernel9_scale_noise": {"model_options": KERNEL9, **SMALL_RUN, "augment": [SCALE, NOISE]},
    "kernel9_scale_noise_80_epochs": {"model_options": KERNEL9, **SMALL_RUN,
                                      "augment": [SCALE, NOISE], "max_epochs": 80},
    "kernel9_ensemble3": {"model_options": KERNEL9, **SMALL_RUN, "n_models": 3},
    "kernel9_noise_ensemble3": {"model_options": KERNEL9, **SMALL_RUN, "augment": [NOISE],
                                "n_models": 3},
    "kernel9_ensemble5": {"model_options": KERNEL9, **SMALL_RUN, "n_models": 5},
}


def z_normalised(X: np.ndarray) -> np.ndarray:
    """[n_cases, n_chans, n_times] -> [n_cases, n_chans * n_times], each series z-normalised."""
    mean = X.mean(axis=-1, keepdims=True)
    spread = X.std(axis=-1, keepdims=True)
    return ((X - mean) / np.where(spread > 0, spread, 1.0)).reshape(len(X), -1)


def folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (train, validation) index pairs of one TRAIN file."""
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def nearest_neighbour(X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray,
                      seed: int) -> tuple[float, float]:
    """(validation accuracy, fit seconds) of 1-NN Euclidean on z-normalised series."""
    model = KNeighborsClassifier(n_neighbors=1).fit(z_normalised(X[train]), y[train])
    return float(model.score(z_normalised(X[val]), y[val])), 0.0


class BareChimera(ChimeraClassifier):
    """``ChimeraClassifier`` without its preset's defaults: the model's own options, the base
    optimiser and training settings; a candidate states everything it changes, so its row
    does not move when the defaults do."""

    default_model_options: ClassVar[dict[str, Any]] = {}
    default_optimization: ClassVar[dict[str, float]] = {}
    default_training: ClassVar[dict[str, int]] = {}


def chimera(name: str):
    """A scorer of candidate ``name`` on one fold: ``ChimeraClassifier()`` for
    ``"defaults"``, else ``BareChimera(**arguments, random_state=seed)``, where an
    ``"optimization"`` entry (schedule, warm-up... beyond ``lr`` and ``weight_decay``) is
    the candidate's ``default_optimization``."""
    arguments = dict(CANDIDATES[name])
    optimization = arguments.pop("optimization", {})
    estimator = ChimeraClassifier if name == "defaults" else type(
        "CandidateChimera", (BareChimera,), {"default_optimization": optimization})

    def score(X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, seed: int
              ) -> tuple[float, float]:
        model = estimator(**arguments, verbose=0, random_state=seed)
        start = time.perf_counter()
        model.fit(X[train], y[train])
        seconds = time.perf_counter() - start
        return float(model.score(X[val], y[val])), seconds
    return score


def evaluate(scorer, datasets: list[str], n_folds: int, seed: int) -> dict[str, Any]:
    """Per set: mean validation accuracy over the folds; all fits' seconds."""
    accuracy, seconds = {}, []
    for name in datasets:
        data = load_ucr(name, "train")
        scores = []
        for train, val in folds(data.y, n_folds, seed):
            score, fit_s = scorer(data.X, data.y, train, val, seed)
            scores.append(score)
            seconds.append(fit_s)
        accuracy[name] = float(np.mean(scores))
    return {"accuracy": accuracy, "fit_s": seconds}


def row(name: str, results: list[dict[str, Any]], datasets: list[str]) -> str:
    """A table row: per set, the mean over the seeds' results (each a mean over folds)."""
    scores = [np.mean([r["accuracy"][d] for r in results]) for d in datasets]
    cells = " | ".join(f"{s:.3f}" for s in scores)
    fit = [s for r in results for s in r["fit_s"]]
    return (f"| {name} | {cells} | {np.mean(scores):.3f} | {np.mean(fit):.1f} | "
            f"{np.max(fit):.1f} |")


def study_key(n_folds: int, datasets: list[str], seed: int) -> str:
    """Where one seed's results live in the ``--json`` file."""
    return f"{n_folds} folds, seed {seed}: " + ", ".join(datasets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="each seeds the folds and the model; the table averages them")
    parser.add_argument("--json", default=None, help="results kept here across runs")
    parser.add_argument("--list", action="store_true", help="print the candidates and exit")
    args = parser.parse_args()
    if args.list:
        for name, arguments in CANDIDATES.items():
            print(f"{name}: {arguments}")
        return
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    path = Path(args.json) if args.json else None
    results = json.loads(path.read_text()) if path is not None and path.exists() else {}
    studies = [results.setdefault(study_key(args.folds, args.datasets, seed), {})
               for seed in args.seeds]
    header = (f"| candidate | {' | '.join(args.datasets)} | mean | mean fit s | longest fit s |\n"
              f"|---|{'---|' * (len(args.datasets) + 3)}")
    print(f"Validation accuracy, {args.folds}-fold stratified inside each TRAIN file, mean "
          f"over seeds {args.seeds}\n")
    print(header, flush=True)
    for name in ["1-NN Euclidean", *args.candidates]:
        for seed, study in zip(args.seeds, studies, strict=True):
            if name not in study:
                scorer = (nearest_neighbour if name == "1-NN Euclidean"
                          else chimera(name))
                study[name] = evaluate(scorer, args.datasets, args.folds, seed)
                if path is not None:
                    path.write_text(json.dumps(results, indent=2))
        print(row(name, [study[name] for study in studies], args.datasets), flush=True)


if __name__ == "__main__":
    main()
