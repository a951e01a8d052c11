"""Choose the amplitude scaling of ``recipes/eeg_mental_arithmetic.toml`` without its test
subjects: leave-one-subject-out over the six non-test subjects (00-05).

Each fold holds out one subject H for scoring, stops training early on the next subject E
(cyclically) and trains on the other four; the test subjects 06-07 are never read. Variants
(the recipe with its last preprocessing step, or its window length, changed):

- ``robust_scale``: per recording ``(x - median) / IQR`` (the recipe's choice). Rest and task
  are separate recordings, so this also removes any amplitude difference between them.
- ``scale 1e5``: one fixed factor for every recording (volts -> units of 10 µV).
- ``scale 1e5, 8 s``: the same with 8-s windows (stride 4 s) instead of 4-s ones.

For every fold the script trains the recipe's FEMBA (from scratch, ``--max-epochs``, one
thread) with ``--seeds`` seeds, and fits log band power + logistic regression on the same
training and early-stopping windows. It prints, per variant, the AUROC (within H, so it is
blind to a shift of scores between subjects) and the balanced accuracy on H, per fold and as
the mean over folds. The selection rule, fixed before running: the highest mean FEMBA AUROC.

    python benchmarks/eeg_preprocessing_selection.py [--folds 6] [--seeds 1] [--max-epochs 8]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from eeg_mental_arithmetic import QUIET, RECIPES, arrays

from tsssm.classic import band_power_classifier
from tsssm.metrics import window_classification_report
from tsssm.recipes import Recipe, RecipeConfig, load_config
from tsssm.runs import RunFolder
from tsssm.tasks.eeg_classification import EEGRecipe

SUBJECTS = [f"Subject{i:02d}" for i in range(6)]  # 06-07 are the recipe's test subjects
FIXED_SCALE = {"step": "scale", "factor": 1e5}
# variant -> (last preprocessing step, window_s, stride_s); None keeps the recipe's
VARIANTS: dict[str, tuple[dict | None, float | None, float | None]] = {
    "robust_scale": (None, None, None),
    "scale 1e5": (FIXED_SCALE, None, None),
    "scale 1e5, 8 s": (FIXED_SCALE, 8.0, 4.0),
}
METRICS = ("auroc", "balanced_accuracy")


def fold_config(variant: str, held_out: int, overrides: list[str]) -> RecipeConfig:
    """The recipe for one fold: subject ``held_out`` scored (as its test part), the next one
    for early stopping, the other four of 00-05 for training; preprocessing as ``variant``."""
    stop = (held_out + 1) % len(SUBJECTS)
    train = [s for i, s in enumerate(SUBJECTS) if i not in {held_out, stop}]
    split = [f"data.train={train}", f'data.val=["{SUBJECTS[stop]}"]',
             f'data.test=["{SUBJECTS[held_out]}"]', "run.baselines=[]"]
    config = load_config(RECIPES / "eeg_mental_arithmetic.toml", [*QUIET, *split, *overrides])
    last_step, window_s, stride_s = VARIANTS[variant]
    if config.data.preprocessing[-1]["step"] != "robust_scale":
        raise ValueError("the recipe's chain no longer ends with robust_scale; update VARIANTS")
    if last_step is not None:
        config.data.preprocessing = [*config.data.preprocessing[:-1], last_step]
    if window_s is not None:
        config.data.window_s, config.data.stride_s = window_s, stride_s
    return config


def femba_scores(config: RecipeConfig, output: Path) -> dict[str, float]:
    """Test-part (held-out subject) metrics of the recipe's FEMBA trained from scratch."""
    return Recipe.start(config, output).run()["femba"]["test"]


def band_power_scores(config: RecipeConfig, output: Path) -> dict[str, float]:
    """Log band power + logistic regression fitted on the training and early-stopping
    windows, scored on the held-out subject."""
    split = EEGRecipe(config, RunFolder.create(output, "band_power")).load_windows()
    x_fit, y_fit = (np.concatenate(parts) for parts in zip(
        arrays(split.train), arrays(split.val), strict=True))
    x_test, y_test = arrays(split.test)
    model = band_power_classifier(sfreq=split.train.sfreq).fit(x_fit, y_fit)
    return window_classification_report(y_test, model.predict_proba(x_test),
                                        split.class_names)["overall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=len(SUBJECTS),
                        help="held-out subjects, from 05 downwards (default: all six)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    held_out = list(range(len(SUBJECTS)))[::-1][: args.folds]
    # (model, variant) -> metric -> one value per fold (FEMBA: mean over seeds)
    table: dict[tuple[str, str], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in args.variants:
            femba = table.setdefault(("FEMBA", variant), {m: [] for m in METRICS})
            bands = table.setdefault(("band power", variant), {m: [] for m in METRICS})
            for subject in held_out:
                runs = [femba_scores(fold_config(variant, subject, [
                    f"train.seed={seed}", f"train.max_epochs={args.max_epochs}"]), Path(scratch))
                    for seed in range(args.seeds)]
                base = band_power_scores(fold_config(variant, subject, []), Path(scratch))
                for metric in METRICS:
                    femba[metric].append(statistics.mean(r[metric] for r in runs))
                    bands[metric].append(base[metric])
                print(f"{variant:16s} held out {SUBJECTS[subject]}: FEMBA AUROC "
                      f"{femba['auroc'][-1]:.3f}, band power AUROC {bands['auroc'][-1]:.3f}",
                      flush=True)
    names = [SUBJECTS[s][-2:] for s in held_out]
    print(f"\nleave-one-subject-out over {', '.join(names)} (test subjects 06-07 unused); "
          f"FEMBA: {args.seeds} seed(s), at most {args.max_epochs} epochs")
    for metric in METRICS:
        header = f"{metric:30s} " + " ".join(f"{n:>6s}" for n in names) + f" {'mean':>7s}"
        print(f"\n{header}\n{'-' * len(header)}")
        for (model, variant), values in table.items():
            cells = " ".join(f"{v:6.3f}" for v in values[metric])
            print(f"{model + ', ' + variant:30s} {cells} {statistics.mean(values[metric]):7.3f}")
    femba_means = {v: statistics.mean(table["FEMBA", v]["auroc"]) for v in args.variants}
    print(f"\nselected (highest mean FEMBA AUROC): {max(femba_means, key=femba_means.get)}")


if __name__ == "__main__":
    main()
