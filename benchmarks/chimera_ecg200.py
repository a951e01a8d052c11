"""ECG200 (UCR; 100 TRAIN, 100 TEST heartbeats of 96 samples, normal vs myocardial
infarction): Chimera vs S-Mamba's encoder used as a classifier vs MiniRocket (1-NN Euclidean
without aeon), in one script, on the same cases.

The deep models train through ``recipes/ecg200_chimera.toml`` (``chimera_classifier``, with
``smamba_classifier`` as its baseline): 20 % of TRAIN (stratified) picks the best epoch and
stops training early; TEST is used only for the figures. Each deep figure is the mean (±
standard deviation) over ``--seeds`` training seeds (``train.seed``; the validation cases stay
the same). MiniRocket fits on all of TRAIN. Prints test accuracy and AUROC (of the class
"1").

    python benchmarks/chimera_ecg200.py [--seeds 3] [--output-dir DIR] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import accuracy_score, roc_auc_score

from tsssm.classic import time_series_classifier
from tsssm.data import load_ucr
from tsssm.recipes import Recipe, load_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "ecg200_chimera.toml"
QUIET = ["train.progress_bar=false", "train.threads=1"]


def deep_models(seed: int, output: Path) -> dict[str, dict[str, float]]:
    """Test accuracy, AUROC and training time of every model of the recipe, trained with
    ``seed``."""
    recipe = Recipe.start(load_config(RECIPE, [*QUIET, f"train.seed={seed}"]), output)
    return {name: {"accuracy": entry["test"]["accuracy"], "auroc": entry["test"]["auroc"],
                   "fit_s": entry["train_time_s"]}
            for name, entry in recipe.run().items()}


def minirocket() -> tuple[str, dict[str, float]]:
    """The classic classifier's name and its figures, fitted on all of TRAIN."""
    train, test = load_ucr("ECG200", "train"), load_ucr("ECG200", "test")
    model = time_series_classifier("auto", random_state=0)
    start = time.perf_counter()
    model.fit(train.X, train.y)
    seconds = time.perf_counter() - start
    scores = model.decision_function(test.X)  # grows with the odds of classes_[1]
    name = model.steps[0][0] if hasattr(model, "steps") else type(model).__name__
    return name, {"accuracy": float(accuracy_score(test.y, model.predict(test.X))),
                  "auroc": float(roc_auc_score(test.y == model.classes_[1], scores)),
                  "fit_s": seconds}


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and standard deviation of each figure over seeds."""
    out: dict[str, Any] = {"seeds": len(runs)}
    for key in runs[0]:
        values = [r[key] for r in runs]
        out[key] = statistics.mean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        per_seed = [deep_models(seed, output) for seed in range(args.seeds)]
    results = {name: summarise([runs[name] for runs in per_seed]) for name in per_seed[0]}
    name, figures = minirocket()
    results[name] = summarise([figures])
    print(f"ECG200 test (100 cases), mean ± std over {args.seeds} seeds for the deep models")
    print(f"{'model':<20} {'accuracy':>16} {'AUROC':>16} {'fit s':>8}")
    for model, r in results.items():
        print(f"{model:<20} {r['accuracy']:>8.3f} ± {r['accuracy_std']:.3f} "
              f"{r['auroc']:>8.3f} ± {r['auroc_std']:.3f} {r['fit_s']:>8.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
