"""Training speed of Chimera beside S-Mamba with the settings of recipes/etth1_chimera.toml.

Both models (and Chimera without its couplings, and with one variate direction, to show what
those cost) take optimisation
steps on the same ETTh1 training windows, interleaved round-robin so machine noise hits them
alike, on the recipe's thread count. Prints seconds per step, the steps of one epoch and the
training time at each model's ``max_epochs`` from the recipe (early stopping can only shorten
it), and the Chimera / S-Mamba ratios.

    python benchmarks/chimera_etth1_speed.py [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from pathlib import Path

import torch

from tsssm.data import ForecastingData, bundled_dataset
from tsssm.models import create_model
from tsssm.training.optim import adamw

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "etth1_chimera.toml"


def settings() -> dict[str, tuple[str, dict, dict]]:
    """name -> (registered model, model options, train options) from the recipe."""
    recipe = tomllib.loads(RECIPE.read_text())
    chimera = {k: v for k, v in recipe["model"].items() if k != "name"}
    smamba = {k: v for k, v in recipe["baselines"]["smamba"].items() if k != "train"}
    smamba_train = {**recipe["train"], **recipe["baselines"]["smamba"].get("train", {})}
    return {
        "chimera": ("chimera", chimera, recipe["train"]),
        "chimera uncoupled": ("chimera", {**chimera, "couplings": "none"}, recipe["train"]),
        "chimera one direction": ("chimera", {**chimera, "bidirectional": False},
                                  recipe["train"]),
        "smamba": ("smamba", smamba, smamba_train),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per round and model")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin rounds (median)")
    args = parser.parse_args()
    recipe = tomllib.loads(RECIPE.read_text())
    lookback, horizon = recipe["data"]["lookback"], recipe["data"]["horizon"]
    batch_size, threads = recipe["train"]["batch_size"], recipe["train"]["threads"]
    torch.set_num_threads(threads)
    data = ForecastingData.from_file(bundled_dataset("ETTh1"), lookback, horizon)
    loader = torch.utils.data.DataLoader(data.train, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    batches = [(b["x"], b["y"]) for b, _ in zip(loader, range(args.steps), strict=False)]
    n_variates = batches[0][0].shape[-1]
    steps_per_epoch = len(loader)
    models = {}
    for name, (registered, options, train) in settings().items():
        torch.manual_seed(0)
        model = create_model(registered, lookback=lookback, horizon=horizon,
                             n_variates=n_variates, **options)
        models[name] = (model, adamw(model.parameters(), lr=train["lr"]), train)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, optimizer, _) in models.items():
            start = time.perf_counter()
            for x, y in batches:
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
            seconds[name].append((time.perf_counter() - start) / len(batches))
    per_step = {name: statistics.median(s) for name, s in seconds.items()}
    total = {name: per_step[name] * steps_per_epoch * models[name][2]["max_epochs"]
             for name in models}
    print(f"ETTh1 lookback {lookback}, horizon {horizon}, batch {batch_size}, {threads} "
          f"thread(s), {steps_per_epoch} steps per epoch, median of {args.rounds} rounds of "
          f"{args.steps} steps")
    print("| model | s / step | max_epochs | training s at max_epochs |")
    print("|---|---|---|---|")
    for name in models:
        print(f"| {name} | {per_step[name]:.3f} | {models[name][2]['max_epochs']} | "
              f"{total[name]:.0f} |")
    print(f"Chimera / S-Mamba: {per_step['chimera'] / per_step['smamba']:.2f}x per step, "
          f"{total['chimera'] / total['smamba']:.2f}x per training run; couplings cost "
          f"{per_step['chimera'] / per_step['chimera uncoupled']:.2f}x per step, the second "
          f"variate direction {per_step['chimera'] / per_step['chimera one direction']:.2f}x")


if __name__ == "__main__":
    main()
