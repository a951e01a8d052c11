"""Ablation of Chimera on ETTh1 (horizon 96) and ECG200: couplings, decoder, variate selection.

Each variant changes one option of the recipe's model (``recipes/etth1_chimera.toml``,
``recipes/ecg200_chimera.toml``: both couplings, the linear head, variate selection) and
trains through the recipe runner, as ``tsssm run RECIPE --set ...`` would, without the
recipe's baselines:

- ``couplings = "none"`` (the axes independent, 2-D Mamba) and ``"time_to_var"`` (the
  earlier one-way model: the time state feeds the variate axis only);
- ``decoder = "closed_loop"`` (forecasting only: the forecast fed back column by column);
- ``select_variates = false``.

Each variant is trained with the recipe's seed; the best epoch (lowest validation loss) is
tested. Prints one markdown table per data set (ETTh1: validation loss, test MSE / MAE;
ECG200: validation loss, test accuracy / AUROC; each with the epochs trained and the wall
time of the whole run: training, validation and test), the CPU model and torch's vector ISA.

    python benchmarks/chimera_ablation.py [--quick] [--max-epochs [DATASET=]N ...]
        [--datasets etth1 ecg200] [--variants recipe no-couplings ...] [--set KEY=VALUE ...]
        [--output-dir DIR]
        [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from chimera_ecg200 import QUIET
from chimera_ecg200 import RECIPE as ECG200_RECIPE
from chimera_etth1_speed import RECIPE as ETTH1_RECIPE
from kernels.bench_report import cpu_model

from tsssm.recipes import Recipe, load_config

#: key -> (the table's name for it, the model options it changes: ``--set`` overrides).
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "recipe": ("recipe (both couplings, linear, selection)", ()),
    "no-couplings": ("no couplings", ("model.couplings=none",)),
    "one-way": ("one-way coupling (time_to_var)", ("model.couplings=time_to_var",)),
    "closed-loop": ("closed-loop decoder", ("model.decoder=closed_loop",)),
    "no-selection": ("no variate selection", ("model.select_variates=false",)),
}
FORECASTING_ONLY = {"closed-loop"}


@dataclass(frozen=True)
class Dataset:
    """A recipe to ablate, how to read its figures, and its ``--quick`` settings."""

    recipe: Path
    forecasting: bool
    figures: Callable[[dict[str, Any]], dict[str, float]]  # metrics.json entry -> figures
    quick: tuple[str, ...]


DATASETS = {
    "etth1": Dataset(ETTH1_RECIPE, True, lambda entry: {
        "val loss": entry["val_loss"], "test MSE": entry["test"]["mse"],
        "test MAE": entry["test"]["mae"]},
        ("train.max_epochs=1", "train.limit_train_batches=0.05", "train.limit_val_batches=0.2")),
    "ecg200": Dataset(ECG200_RECIPE, False, lambda entry: {
        "val loss": entry["val_loss"], "test accuracy": entry["test"]["accuracy"],
        "test AUROC": entry["test"]["auroc"]},
        ("train.max_epochs=3",)),
}


def epoch_caps(values: list[str]) -> dict[str, int]:
    """``["1"]`` -> every data set 1; ``["etth1=1", "ecg200=20"]`` -> per data set."""
    caps: dict[str, int] = {}
    for value in values:
        name, _, epochs = value.rpartition("=")
        names = [name] if name else list(DATASETS)
        if name and name not in DATASETS:
            raise SystemExit(f"--max-epochs {value}: unknown data set {name!r}; choose one of "
                             f"{', '.join(DATASETS)}")
        if not epochs.isdigit() or int(epochs) < 1:
            raise SystemExit(f"--max-epochs {value}: the epochs must be a positive integer")
        caps.update(dict.fromkeys(names, int(epochs)))
    return caps


def run_variant(dataset: Dataset, overrides: list[str], output: Path) -> dict[str, Any]:
    """Train and test the recipe's model with ``overrides``: its figures, epochs trained and
    the wall seconds of the whole run."""
    config = load_config(dataset.recipe, [*QUIET, "run.baselines=[]", *overrides])
    start = time.perf_counter()
    entry = Recipe.start(config, output).run()[config.model.name]
    return {**dataset.figures(entry), "epochs": entry["epochs"],
            "wall s": time.perf_counter() - start}


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows: one per variant, the figures in the order they were recorded."""
    columns = list(next(iter(results.values())))
    lines = ["| variant | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for variant, figures in results.items():
        cells = [f"{figures[c]:.0f}" if c in ("epochs", "wall s") else f"{figures[c]:.3f}"
                 for c in columns]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: ETTh1 one epoch on 5 %% of its training windows, "
                             "ECG200 three epochs")
    parser.add_argument("--max-epochs", nargs="+", default=[], metavar="[DATASET=]N",
                        help="cap train.max_epochs, of every data set or of the one named "
                             "(after --quick's epochs)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="recipe overrides applied to every variant (model.coupling_init=0.5)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    caps = epoch_caps(args.max_epochs)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    machine = (f"CPU: {cpu_model()}; torch {torch.__version__}, vector ISA "
               f"{torch.backends.cpu.get_cpu_capability()}; 1 thread; load average at start "
               f"{os.getloadavg()[0]:.1f}")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    report = [machine]
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        for name in args.datasets:
            dataset = DATASETS[name]
            settings = [*(dataset.quick if args.quick else ()), *args.overrides]
            recipe_epochs = load_config(dataset.recipe).train.max_epochs
            if name in caps:
                settings.append(f"train.max_epochs={min(caps[name], recipe_epochs)}")
            results[name] = {
                VARIANTS[key][0]: run_variant(dataset, [*settings, *VARIANTS[key][1]], output)
                for key in args.variants if dataset.forecasting or key not in FORECASTING_ONLY
            }
            report += [f"\n{name} ({dataset.recipe.name}; recipe max_epochs {recipe_epochs}"
                       f"{', ' + ' '.join(settings) if settings else ''}):\n",
                       *table(results[name])]
    print("\n".join(report))  # after the runs, so that no training output splits it
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
