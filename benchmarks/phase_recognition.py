"""Phase recognition on held-out recordings: PhaseSSM beside its baselines, measured in one run.

Cholec80 (tool-presence input, test videos 41-48): the recipe recipes/cholec80_phase.toml run
twice, online (causal, every model) and offline (bidirectional, every model); accuracy,
Jaccard (strict and relaxed), edit score and transitions of each model, per video then
averaged. Sleep-EDF (test subject 6): recipes/sleep_edf_staging.toml; accuracy, macro F1 and
Cohen's kappa per night (and pooled), PhaseSSM beside the per-epoch MLP.

    python benchmarks/phase_recognition.py [--data cholec80 sleep_edf] [--out runs/bench]
        [--set train.max_epochs=5 ...]

Writes a markdown table (and the run folders) under ``--out``; nothing is tuned on the test
recordings (settings are the recipes').
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tsssm.recipes import Recipe, load_config

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"cholec80": REPO / "recipes" / "cholec80_phase.toml",
           "sleep_edf": REPO / "recipes" / "sleep_edf_staging.toml"}
COLUMNS = {
    "cholec80": ("accuracy", "jaccard", "precision", "recall", "relaxed_accuracy",
                 "relaxed_jaccard", "edit_score", "predicted_transitions"),
    "sleep_edf": ("accuracy", "macro_f1", "kappa", "accuracy_pooled", "macro_f1_pooled",
                  "kappa_pooled", "edit_score", "predicted_transitions"),
}


def run(data: str, mode: str, out: Path, overrides: list[str]) -> dict[str, Any]:
    """Metrics of one recipe run, every model ``online`` or not as ``mode`` says."""
    online = "true" if mode == "online" else "false"
    config = load_config(RECIPES[data])
    switches = [f"model.online={online}"] + [f"baselines.{m.name}.online={online}"
                                             for m in config.baselines]
    config = load_config(RECIPES[data], [*switches, f"run.output_dir={out}",
                                         f"run.name={data}-{mode}", *overrides])
    return Recipe.start(config, config.run.output_dir).run()


def table(data: str, results: dict[str, dict[str, Any]]) -> str:
    columns = COLUMNS[data]
    lines = ["| model | mode | " + " | ".join(columns) + " | true transitions |",
             "|---" * (len(columns) + 3) + "|"]
    for mode, metrics in results.items():
        for model, entry in metrics.items():
            test = entry["test"]
            cells = [f"{test[c]:.3f}" if "transitions" not in c and "edit" not in c
                     else f"{test[c]:.1f}" for c in columns]
            lines.append(f"| {model} | {mode} | " + " | ".join(cells)
                         + f" | {test['true_transitions']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    parser.add_argument("--modes", nargs="+", choices=("online", "offline"),
                        default=["online", "offline"])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-phase")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="recipe override for every run, e.g. train.max_epochs=5")
    args = parser.parse_args()
    report = []
    for data in args.data:
        results = {mode: run(data, mode, args.out, args.overrides) for mode in args.modes}
        report.append(f"## {data}\n\n{table(data, results)}\n")
        (args.out / f"{data}.json").write_text(json.dumps(results, indent=2))
        print(report[-1], flush=True)
    (args.out / "phase_recognition.md").write_text("\n".join(report))


if __name__ == "__main__":
    main()
