"""ETTh1, lookback 96: S-Mamba beside its baselines at horizons 96, 192, 336 and 720.

Runs ``recipes/etth1_smamba.toml`` once per horizon (same split, scaling and settings; only
``data.horizon`` changes) and prints test MSE / MAE on the normalised scale for every model,
next to the figures the S-Mamba paper reports. Each run leaves its folder under
``--output-dir`` (predictions, checkpoints, logs), so the app and ``tsssm runs`` can show it.

    python benchmarks/forecasting_etth1.py [--horizons 96 192] [--set train.max_epochs=3]

It trains 3 models x 4 horizons on the CPU: allow about 20-40 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tsssm.recipes import Recipe, load_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "etth1_smamba.toml"
# S-Mamba paper (Wang et al. 2024), ETTh1, lookback 96: horizon 96 and the 4-horizon average.
PAPER = {96: (0.386, 0.405), "average": (0.455, 0.448)}


def run_horizon(horizon: int, overrides: list[str], output_dir: Path) -> dict:
    """Train and test every model of the recipe at ``horizon``; returns metrics.json."""
    config = load_config(RECIPE, [f"data.horizon={horizon}", f"run.name=etth1_h{horizon}",
                                  *overrides])
    return Recipe.start(config, output_dir=output_dir).run()


def table(results: dict[int, dict]) -> str:
    """Markdown table: one row per horizon, MSE / MAE per model, the paper's S-Mamba figure."""
    models = list(next(iter(results.values())))
    header = "| horizon | " + " | ".join(f"{m} MSE / MAE" for m in models) + " | paper S-Mamba |"
    lines = [header, "|" + "---|" * (len(models) + 2)]
    averages = {m: [0.0, 0.0] for m in models}
    for horizon, metrics in results.items():
        cells = []
        for m in models:
            mse, mae = metrics[m]["test"]["mse"], metrics[m]["test"]["mae"]
            averages[m][0] += mse / len(results)
            averages[m][1] += mae / len(results)
            cells.append(f"{mse:.3f} / {mae:.3f}")
        paper = PAPER.get(horizon)
        lines.append(f"| {horizon} | " + " | ".join(cells) + " | "
                     + (f"{paper[0]:.3f} / {paper[1]:.3f}" if paper else "") + " |")
    if len(results) == 4:
        paper = PAPER["average"]
        lines.append("| average | " + " | ".join(f"{a[0]:.3f} / {a[1]:.3f}"
                                                   for a in averages.values())
                     + f" | {paper[0]:.3f} / {paper[1]:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="recipe override, as for `tsssm run`")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    parser.add_argument("--json", type=Path, help="also write every model's metrics here")
    args = parser.parse_args(argv)
    results = {h: run_horizon(h, args.overrides, args.output_dir) for h in args.horizons}
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({str(h): m for h, m in results.items()}, indent=2))


if __name__ == "__main__":
    main()
