"""Choose the estimators' defaults with ``tsssm tune`` on each family's bundled data set.

For each family it runs one study (Optuna TPE, objective on the validation split only) of a
bundled recipe whose main model is the estimator's model, alone (no baselines), over the
space below, and prints the best trial's values under the estimator's parameter names
(``train.lr`` -> ``lr``, ``model.d_model`` -> ``model_options["d_model"]``, ...) beside the
untuned recipe's test figures from the same study. The estimators' docstrings and the README
say which defaults came from which study. Each study's folder stays under ``--output-dir``
(``tsssm app`` shows it).

    python benchmarks/tune_estimator_defaults.py [--families femba phase] [--trials 8]

Families and their bundled data: ``smamba`` (``SMambaForecaster``; ETTh1, horizon 96),
``femba`` (``FEMBAClassifier``; Bonn seizure vs non-seizure EEG), ``chimera``
(``ChimeraClassifier``; UCR ECG200, the recipe's own [tune] table), ``phase``
(``PhaseRecognizer``; Sleep-EDF staging), ``anomaly`` (``ChimeraAnomalyDetector``; KDD-TSAD
135, the prediction error on held-out normal steps: no label is used).
``benchmarks/estimator_defaults_check.py`` then checks each choice on held-out data against
the defaults it would replace.
A quick check that it runs: ``--trials 2 --set train.max_epochs=1``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsssm.recipes import load_config
from tsssm.tuning import StudyRun

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# Recipe keys of [train] that are estimator arguments of the same meaning.
TRAIN_ARGUMENTS = {"lr": "lr", "weight_decay": "weight_decay", "max_epochs": "max_epochs",
                   "batch_size": "batch_size", "patience": "patience"}


@dataclass(frozen=True)
class Family:
    """One estimator, the bundled recipe its defaults are tuned on, and the search space
    (``--set`` style overrides of the recipe, the [tune] table included)."""

    estimator: str
    recipe: str
    overrides: tuple[str, ...]


FAMILIES = {
    "smamba": Family("SMambaForecaster", "etth1_smamba.toml", (
        "run.baselines=[]",
        "tune.space.model.d_model.choices=[128, 256]", "tune.space.model.n_layers.high=3")),
    "femba": Family("FEMBAClassifier", "bonn_seizure.toml", (
        "run.baselines=[]", "tune.objective=val_balanced_accuracy", "tune.pruner=median",
        "tune.space.train.lr={low = 1e-4, high = 1e-2, log = true}",
        "tune.space.train.weight_decay={low = 1e-4, high = 1e-1, log = true}",
        "tune.space.model.embed_dim.choices=[16, 32, 64]",
        "tune.space.model.n_blocks={low = 1, high = 3}",
        "tune.space.model.dropout={low = 0.0, high = 0.3, step = 0.1}")),
    "chimera": Family("ChimeraClassifier", "ecg200_chimera.toml", ("run.baselines=[]",)),
    # Label-free: the validation loss is the prediction error on held-out normal steps.
    "anomaly": Family("ChimeraAnomalyDetector", "kdd_tsad_chimera.toml", (
        "tune.objective=val_loss", "tune.pruner=median",
        "tune.space.train.lr={low = 3e-4, high = 3e-3, log = true}",
        "tune.space.model.d_model.choices=[16, 32, 64]",
        "tune.space.model.n_layers={low = 1, high = 3}",
        "tune.space.model.dropout={low = 0.0, high = 0.2, step = 0.1}")),
    "phase": Family("PhaseRecognizer", "sleep_edf_staging.toml", (
        "run.baselines=[]", "tune.objective=val_accuracy", "tune.pruner=median",
        "tune.space.train.lr={low = 1e-4, high = 1e-2, log = true}",
        "tune.space.model.d_model.choices=[32, 64, 128]",
        "tune.space.model.n_global_layers={low = 1, high = 3}",
        "tune.space.model.local_window.choices=[4, 8, 16]",
        "tune.space.model.dropout={low = 0.0, high = 0.3, step = 0.1}")),
}


def estimator_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's values (recipe keys) as estimator arguments: ``train.*`` by name,
    ``model.*`` gathered into ``model_options``."""
    arguments: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in params.items():
        section, name = key.split(".", 1)
        if section == "model":
            options[name] = value
        elif section == "train" and name in TRAIN_ARGUMENTS:
            arguments[TRAIN_ARGUMENTS[name]] = value
        else:
            raise ValueError(f"{key}: no estimator argument takes this recipe key")
    return {**arguments, "model_options": options} if options else arguments


def tune_family(name: str, trials: int, overrides: list[str], output_dir: Path
                ) -> dict[str, Any]:
    """One study of ``name``'s recipe; its study.json and metrics.json."""
    family = FAMILIES[name]
    config = load_config(RECIPES / family.recipe,
                         [*family.overrides, f"run.name={name}_defaults", *overrides])
    study = StudyRun.start(config, output_dir)
    summary = study.run(trials)
    print(f"{name}: {study.folder.path}", flush=True)
    return {"summary": summary, "metrics": study.folder.metrics(),
            "folder": str(study.folder.path)}


def _test_figures(entry: dict[str, Any]) -> str:
    test = entry.get("test", {})
    return ", ".join(f"{k} {v:.3f}" for k, v in test.items() if isinstance(v, float))


def report(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: per family, the estimator, the best values as its arguments, the best
    validation objective, and the tuned and untuned test figures of the same study."""
    lines = ["| family | estimator | chosen defaults | validation objective | tuned (test) | "
             "untuned recipe (test) | study |", "|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        best = result["summary"]["best"] or {}
        metrics = result["metrics"]
        model = result["summary"]["model"]
        arguments = estimator_arguments(best.get("params", {}))
        lines.append(
            f"| {name} | {FAMILIES[name].estimator} | `{json.dumps(arguments)}` | "
            f"{result['summary']['objective']} {best.get('value', float('nan')):.4f} | "
            f"{_test_figures(metrics.get(model, {}))} | "
            f"{_test_figures(metrics.get(f'{model}_default', {}))} | {result['folder']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES),
                        default=sorted(FAMILIES))
    parser.add_argument("--trials", type=int, default=8, help="trials per family")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="recipe override for every study; "
                                                  "repeatable")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/estimator_defaults"))
    args = parser.parse_args(argv)
    results = {name: tune_family(name, args.trials, args.overrides, args.output_dir)
               for name in args.families}
    print(report(results))


if __name__ == "__main__":
    main()
