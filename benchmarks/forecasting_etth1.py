"""ETTh1, lookback 96: a recipe's models side by side at horizons 96, 192, 336 and 720.

Runs a recipe (default ``recipes/etth1_smamba.toml``: S-Mamba beside DLinear and
iTransformer; ``--recipe recipes/etth1_chimera.toml``: Chimera beside S-Mamba and DLinear)
once per horizon (same split, scaling and settings; only ``data.horizon`` changes) and
prints test MSE / MAE on the normalised scale for every model, next to the figures the
S-Mamba and Chimera papers report. Each run leaves its folder under ``--output-dir``
(predictions, checkpoints, logs), so the app and ``tsssm runs`` can show it.

    python benchmarks/forecasting_etth1.py [--recipe R] [--horizons 96 192] [--set ...]

The S-Mamba recipe trains 3 models x 4 horizons: allow about 20-40 minutes on 2 cores; the
Chimera recipe about 35 minutes (one thread per run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tsssm.recipes import Recipe, load_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "etth1_smamba.toml"
# The papers' ETTh1 figures at lookback 96 (MSE, MAE): S-Mamba (Wang et al. 2024) at horizon
# 96 and over the four horizons; Chimera (Behrouz et al. 2024) over the four horizons.
PAPERS = {"S-Mamba": {96: (0.386, 0.405), "average": (0.455, 0.448)},
          "Chimera": {"average": (0.405, 0.424)}}


def run_horizon(recipe: Path, horizon: int, overrides: list[str], output_dir: Path) -> dict:
    """Train and test every model of ``recipe`` at ``horizon``; returns metrics.json."""
    config = load_config(recipe, [f"data.horizon={horizon}",
                                  f"run.name={recipe.stem}_h{horizon}", *overrides])
    return Recipe.start(config, output_dir=output_dir).run()


def _paper(key: int | str) -> str:
    return " | ".join(f"{PAPERS[name][key][0]:.3f} / {PAPERS[name][key][1]:.3f}"
                      if key in PAPERS[name] else "" for name in PAPERS)


def table(results: dict[int, dict]) -> str:
    """Markdown table: one row per horizon, MSE / MAE per model, the papers' figures."""
    models = list(next(iter(results.values())))
    header = ("| horizon | " + " | ".join(f"{m} MSE / MAE" for m in models) + " | "
              + " | ".join(f"{name} paper" for name in PAPERS) + " |")
    lines = [header, "|" + "---|" * (len(models) + 1 + len(PAPERS))]
    averages = {m: [0.0, 0.0] for m in models}
    for horizon, metrics in results.items():
        cells = []
        for m in models:
            mse, mae = metrics[m]["test"]["mse"], metrics[m]["test"]["mae"]
            averages[m][0] += mse / len(results)
            averages[m][1] += mae / len(results)
            cells.append(f"{mse:.3f} / {mae:.3f}")
        lines.append(f"| {horizon} | " + " | ".join(cells) + f" | {_paper(horizon)} |")
    if sorted(results) == [96, 192, 336, 720]:
        lines.append("| average | " + " | ".join(f"{a[0]:.3f} / {a[1]:.3f}"
                                                   for a in averages.values())
                     + f" | {_paper('average')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="recipe override, as for `tsssm run`")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    parser.add_argument("--json", type=Path, help="also write every model's metrics here")
    args = parser.parse_args(argv)
    results = {h: run_horizon(args.recipe, h, args.overrides, args.output_dir)
               for h in args.horizons}
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({str(h): m for h, m in results.items()}, indent=2))


if __name__ == "__main__":
    main()
