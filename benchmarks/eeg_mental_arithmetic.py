"""Mental arithmetic vs rest on held-out subjects: FEMBA trained from scratch, FEMBA fine-tuned
from masked-reconstruction pre-training, and log band power + logistic regression
(``tsssm.classic.band_power_classifier``), all on the same windows in one script.

The recipes are those of ``recipes/``: ``eeg_pretrain.toml`` (mental arithmetic training
subjects + EEGMMIDB), then ``eeg_mental_arithmetic.toml`` without baselines, from scratch and
from the pre-trained encoder (fine-tuned whole, or frozen with only the head trained). The
subjects of the test split (06, 07) are never trained on. The band-power model reads the same
preprocessed windows (train + validation subjects).
Each FEMBA figure is the mean (± standard deviation) over ``--seeds`` training seeds; the
pre-training runs once. Prints balanced accuracy and AUROC over the test windows, and the mean
over the two test subjects of the AUROC within each subject (blind to a shift of scores from
one subject to the other).

    python benchmarks/eeg_mental_arithmetic.py [--seeds 3] [--output-dir DIR] [--pretrained RUN]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsssm.classic import band_power_classifier
from tsssm.metrics import window_classification_report
from tsssm.recipes import Recipe, load_config
from tsssm.runs import RunFolder
from tsssm.tasks.eeg_classification import EEGRecipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
QUIET = ["train.progress_bar=false", "train.threads=1"]


def run_recipe(name: str, output: Path, overrides: list[str]) -> tuple[dict[str, Any], Path]:
    """Run ``recipes/<name>.toml`` with ``overrides`` into ``output``: (metrics, run folder)."""
    config = load_config(RECIPES / f"{name}.toml", [*QUIET, *overrides])
    recipe = Recipe.start(config, output)
    return recipe.run(), recipe.folder.path


def arrays(windows) -> tuple[np.ndarray, np.ndarray]:
    """Windows [N, C, T] and labels [N] of a windows Dataset."""
    items = [windows[i] for i in range(len(windows))]
    return (torch.stack([x for x, _ in items]).numpy(),
            torch.stack([y for _, y in items]).numpy())


def band_power_report(output: Path, name: str = "eeg_mental_arithmetic") -> dict[str, Any]:
    """Band power + logistic regression on the windows of ``recipes/<name>.toml`` (fitted on
    its train + validation windows): ``window_classification_report`` of its test windows,
    per group when the split has groups."""
    config = load_config(RECIPES / f"{name}.toml", QUIET)
    recipe = EEGRecipe(config, RunFolder.create(output, "band_power"))
    split = recipe.load_windows()
    x_train, y_train = (np.concatenate(parts) for parts in zip(
        arrays(split.train), arrays(split.val), strict=True))
    x_test, y_test = arrays(split.test)
    model = band_power_classifier(sfreq=split.train.sfreq).fit(x_train, y_train)
    groups = None if split.group_column is None else split.test_metadata[
        split.group_column].to_numpy()
    return window_classification_report(y_test, model.predict_proba(x_test), split.class_names,
                                        groups)


def band_power_scores(output: Path) -> dict[str, float]:
    """Band power + logistic regression on the windows of the fine-tuning recipe."""
    report = band_power_report(output)
    return summary(report["overall"], report["per_group"])


def summary(test: dict[str, float], per_group: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "balanced_accuracy": test["balanced_accuracy"],
        "auroc": test["auroc"],
        "subject_auroc": statistics.mean(g["auroc"] for g in per_group.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="a finished run of recipes/eeg_pretrain.toml to fine-tune from "
                             "(default: run it first)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        if args.pretrained is None:
            pretrain, pretrain_dir = run_recipe("eeg_pretrain", output, [])
        else:
            pretrain_dir = args.pretrained
            pretrain = RunFolder(pretrain_dir).metrics()
        start = f'data.pretrained="{pretrain_dir}"'
        variants = {"FEMBA, from scratch": [],
                    "FEMBA, pre-trained, fine-tuned": [start],
                    "FEMBA, pre-trained, frozen encoder": [start, "data.freeze_encoder=true"]}
        rows: dict[str, list[dict[str, float]]] = {label: [] for label in variants}
        for seed in range(args.seeds):
            common = ["run.baselines=[]", f"train.seed={seed}"]
            for label, extra in variants.items():
                metrics, _ = run_recipe("eeg_mental_arithmetic", output, common + extra)
                entry = metrics["femba"]
                rows[label].append(summary(entry["test"], entry["per_group"]))
        baseline = band_power_scores(output)

    recon = pretrain["femba_pretrain"]["test"]
    print(f"pre-training: held-out reconstruction loss {recon['reconstruction_loss']:.4f} "
          f"(predicting zeros: {recon['zero_loss']:.4f}) on {recon['windows']} test windows")
    print(f"\nheld-out subjects 06-07, {args.seeds} seed(s) per FEMBA row")
    header = f"{'model':34s} {'balanced acc.':>16s} {'AUROC':>16s} {'AUROC within subject':>22s}"
    print(header)
    print("-" * len(header))
    for label, runs in rows.items():
        cells = [mean_sd([r[key] for r in runs]) for key in
                 ("balanced_accuracy", "auroc", "subject_auroc")]
        print(f"{label:34s} {cells[0]:>16s} {cells[1]:>16s} {cells[2]:>22s}")
    print(f"{'band power + logistic regression':34s} {baseline['balanced_accuracy']:>16.3f} "
          f"{baseline['auroc']:>16.3f} {baseline['subject_auroc']:>22.3f}")


def mean_sd(values: list[float]) -> str:
    """``values`` as "mean ± sd" (three decimals), or the one value alone."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


if __name__ == "__main__":
    main()
