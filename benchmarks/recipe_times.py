"""How long each of the README's recipes takes with its published settings on this machine.

Runs every recipe that needs no data beyond what tsssm bundles, as ``tsssm run RECIPE``
would (through the recipe runner, with its baselines, its epochs and its thread count; no
``--set`` except those given here), one after another, and prints one markdown table: the
wall time of the whole run (data loading, training, validation, test, plots), each model's
training time and epochs, and whether the run stayed under the 5-minute mark, beside the CPU
model, torch's vector ISA and the load average before each run (times measured on a shared
machine are not this CPU's). The recipes that read data you download (ECL, Traffic, the TUH
corpora...) are left out; ``--recipes`` names any subset.

    python benchmarks/recipe_times.py [--recipes etth1_smamba ecg200_chimera ...]
        [--set KEY=VALUE ...] [--output-dir DIR] [--json times.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from kernels.bench_report import cpu_model

from tsssm.recipes import Recipe, load_config

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"

#: The README's recipes whose data tsssm bundles, in the README's order.
BUNDLED = ("etth1_smamba", "etth1_chimera", "ecg200_chimera", "kdd_tsad_chimera",
           "cholec80_phase", "sleep_edf_staging", "eeg_pretrain", "eeg_mental_arithmetic",
           "bonn_pretrain", "bonn_seizure")

#: The mark the speed issue set for a recipe on a 2-core CPU.
LIMIT_S = 300.0


def time_recipe(name: str, overrides: list[str], output: Path) -> dict[str, Any]:
    """Run ``recipes/<name>.toml``: wall seconds of the whole run and, per model, its
    training seconds and epochs."""
    config = load_config(RECIPES_DIR / f"{name}.toml", ["train.progress_bar=false", *overrides])
    load = os.getloadavg()[0]
    start = time.perf_counter()
    metrics = Recipe.start(config, output).run()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "load_before": load,
            "models": {model: {"train_s": entry.get("train_time_s"),
                               "epochs": entry.get("epochs")}
                       for model, entry in metrics.items()}}


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown rows, one per recipe."""
    lines = ["| recipe | whole run s | under 5 min | models: training s (epochs) | "
             "load before |", "|---|---|---|---|---|"]
    for name, result in results.items():
        models = ", ".join(
            f"{model} {figures['train_s']:.0f} ({figures['epochs']})"
            if figures["train_s"] is not None else model
            for model, figures in result["models"].items())
        verdict = "yes" if result["wall_s"] < LIMIT_S else "no"
        lines.append(f"| {name} | {result['wall_s']:.0f} | {verdict} | {models} | "
                     f"{result['load_before']:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(BUNDLED),
                        help="recipe names (files of recipes/, without .toml)")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides applied to every recipe (the figures are then not "
                             "the published settings')")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    unknown = [name for name in args.recipes if not (RECIPES_DIR / f"{name}.toml").is_file()]
    if unknown:
        raise SystemExit(f"no such recipe in {RECIPES_DIR}: {', '.join(unknown)}")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        results = {name: time_recipe(name, args.overrides, output) for name in args.recipes}
    report = [f"CPU: {cpu_model()}; torch {torch.__version__}, vector ISA "
              f"{torch.backends.cpu.get_cpu_capability()}; {os.cpu_count()} cores"
              + (f"; overrides: {' '.join(args.overrides)}" if args.overrides else ""), "",
              *table(results)]
    print("\n".join(report))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
