"""FEMBA fine-tuned from a given checkpoint, beside FEMBA trained from scratch and log band
power + logistic regression, on the bundled mental-arithmetic subjects (held-out subjects
06-07) and Bonn (held-out segments).

The checkpoint is a released BioFoundation FEMBA (``.safetensors`` or its Lightning
``.ckpt``), a tsssm pre-training checkpoint, or an ``eeg_pretraining`` run folder. Each data
set runs its recipe (``recipes/eeg_mental_arithmetic.toml``, ``recipes/bonn_seizure.toml``,
without baselines) four ways: from scratch, fine-tuned whole from the checkpoint, fine-tuned
with the encoder frozen, and the band-power model on the same windows. A checkpoint only fits
windows of the channels and length it was trained on: give one per data set as
``--checkpoint mental_arithmetic=PATH --checkpoint bonn=PATH`` (a bare PATH is tried on
both); a data set whose windows a checkpoint does not fit gets a row saying why (the released
encoder reads 22 TCP derivations x 1280 samples, which neither bundled set has: mental
arithmetic lacks the ear electrodes, Bonn has one channel). Checkpoints that fit:

    tsssm run recipes/eeg_pretrain.toml     # -> mental arithmetic (15 channels, 4 s, 128 Hz)
    tsssm run recipes/bonn_pretrain.toml    # -> Bonn (1 channel, 5.9 s)

    python benchmarks/femba_finetune.py --checkpoint mental_arithmetic=runs/eeg_pretrain-<time> \\
        --checkpoint bonn=runs/bonn_pretrain-<time> [--seeds 1] [--max-epochs N]

Prints balanced accuracy, AUROC and AUPR over the test windows (FEMBA rows: mean ± standard
deviation over ``--seeds`` training seeds).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from eeg_mental_arithmetic import band_power_report, mean_sd, run_recipe

from tsssm.models.femba import is_biofoundation, read_state_dict
from tsssm.recipes import ConfigError
from tsssm.tasks.eeg_classification import pretrained_checkpoint

DATASETS = {"mental_arithmetic": "eeg_mental_arithmetic", "bonn": "bonn_seizure"}
METRICS = ("balanced_accuracy", "auroc", "aupr")


def checkpoints(values: list[str]) -> dict[str, Path]:
    """{data set: checkpoint} of the ``--checkpoint`` arguments (``[DATASET=]PATH``)."""
    chosen: dict[str, Path] = {}
    for value in values:
        name, _, path = value.rpartition("=")
        if name and name not in DATASETS:
            raise SystemExit(f"--checkpoint {value}: unknown data set {name!r}; data sets: "
                             f"{', '.join(DATASETS)}")
        for dataset in [name] if name else DATASETS:
            chosen[dataset] = Path(path)
    return chosen


def kind(path: Path) -> str:
    """What a checkpoint is, for the report."""
    state = read_state_dict(pretrained_checkpoint(path), "femba_finetune")
    return "BioFoundation's released layout" if is_biofoundation(state) else "tsssm pre-training"


def femba_rows(dataset: str, checkpoint: Path | None, seeds: int, extra: list[str],
               output: Path) -> dict[str, list[dict[str, float]] | str]:
    """Test scores of each FEMBA variant over the seeds, or why the checkpoint does not fit."""
    start = [] if checkpoint is None else [f'data.pretrained="{checkpoint}"']
    variants = {"FEMBA, from scratch": []}
    if checkpoint is not None:
        variants["FEMBA, fine-tuned from the checkpoint"] = start
        variants["FEMBA, checkpoint, encoder frozen"] = [*start, "data.freeze_encoder=true"]
    rows: dict[str, list[dict[str, float]] | str] = {}
    for label, overrides in variants.items():
        runs = []
        for seed in range(seeds):
            common = ["run.baselines=[]", f"train.seed={seed}", *extra]
            try:
                metrics, _ = run_recipe(DATASETS[dataset], output, common + overrides)
            except (ConfigError, ValueError) as error:
                runs = f"does not fit: {str(error).splitlines()[0]}"
                break
            runs.append({key: metrics["femba"]["test"][key] for key in METRICS})
        rows[label] = runs
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", default=[], metavar="[DATASET=]PATH",
                        help="checkpoint to fine-tune from (repeat for each data set)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="fewer epochs than the recipes' (a short run)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    chosen = checkpoints(args.checkpoint)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    extra = [] if args.max_epochs is None else [f"train.max_epochs={args.max_epochs}"]
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output_dir or Path(scratch)
        for dataset in args.datasets:
            checkpoint = chosen.get(dataset)
            rows = femba_rows(dataset, checkpoint, args.seeds, extra, output)
            baseline = band_power_report(output, DATASETS[dataset])["overall"]
            source = "none" if checkpoint is None else f"{checkpoint} ({kind(checkpoint)})"
            print(f"\n{dataset}: recipes/{DATASETS[dataset]}.toml, checkpoint {source}, "
                  f"{args.seeds} seed(s) per FEMBA row")
            header = f"{'model':40s} " + " ".join(f"{m:>16s}" for m in METRICS)
            print(header)
            print("-" * len(header))
            for label, runs in rows.items():
                if isinstance(runs, str):
                    print(f"{label:40s} {runs}")
                    continue
                print(f"{label:40s} " + " ".join(
                    f"{mean_sd([r[m] for r in runs]):>16s}" for m in METRICS))
            print(f"{'band power + logistic regression':40s} " + " ".join(
                f"{baseline[m]:>16.3f}" for m in METRICS))


if __name__ == "__main__":
    main()
