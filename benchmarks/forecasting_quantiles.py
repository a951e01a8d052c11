"""ETTh1, lookback 96 -> horizon 96: S-Mamba forecasting quantiles beside the point S-Mamba.

Runs ``recipes/etth1_smamba.toml`` twice without its baselines: as it is (point forecasts,
trained on the MSE) and with ``model.quantiles`` (default 0.1, 0.5, 0.9; trained on the
pinball loss, the median as its point forecast). Prints, for each, the test MSE / MAE of the
point forecast (normalised scale), and for the quantile model the mean pinball loss, CRPS
approximated from the quantiles (both normalised), wQL on the data file's scale (as GluonTS
and Chronos report it), and the coverage and width of the central intervals. Each run leaves
its folder under ``--output-dir`` for the app and ``tsssm runs``.

    python benchmarks/forecasting_quantiles.py [--quantiles 0.1 0.5 0.9]
        [--set train.max_epochs=2 --set model.d_model=128]

At the recipe's size it trains two S-Mamba models on the CPU: about 4 minutes on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tsssm.metrics.quantile import central_intervals, interval_name
from tsssm.recipes import Recipe, load_config

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "etth1_smamba.toml"


def run(name: str, overrides: list[str], output_dir: Path) -> dict[str, Any]:
    """Train and test S-Mamba alone with ``overrides``; its metrics.json entry."""
    config = load_config(RECIPE, [f"run.name={name}", "run.baselines=[]", *overrides])
    return Recipe.start(config, output_dir=output_dir).run()["smamba"]


def table(results: dict[str, dict[str, Any]], levels: list[float]) -> str:
    """Markdown table: one row per model, point and quantile scores side by side."""
    intervals = [interval_name(nominal) for _, _, nominal in central_intervals(levels)]
    columns = ["MSE", "MAE", "pinball", "CRPS", "wQL (raw)",
               *(f"{p}% coverage / width" for p in intervals)]
    lines = ["| model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name, entry in results.items():
        test = entry["test"]
        cells = [f"{test['mse']:.3f}", f"{test['mae']:.3f}"]
        if "quantiles" in test:
            cells += [f"{test['pinball']:.3f}", f"{test['crps']:.3f}", f"{test['wql_raw']:.3f}",
                      *(f"{test[f'coverage_{p}']:.3f} / {test[f'width_{p}']:.3f}"
                        for p in intervals)]
        else:
            cells += [""] * (3 + len(intervals))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="recipe override, as for `tsssm run`")
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    parser.add_argument("--json", type=Path, help="also write both models' metrics here")
    args = parser.parse_args(argv)
    levels = f"model.quantiles=[{', '.join(map(str, args.quantiles))}]"
    results = {
        "S-Mamba (point, MSE)": run("etth1_smamba_point", args.overrides, args.output_dir),
        "S-Mamba (quantiles, pinball)": run("etth1_smamba_quantiles",
                                            [*args.overrides, levels], args.output_dir),
    }
    print(table(results, args.quantiles))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
