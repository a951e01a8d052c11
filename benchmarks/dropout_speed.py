"""tsssm's CPU dropout (``tsssm.kernels.dropout``) beside torch's, in one process: the op alone
at the shapes tsssm's models drop (forward, forward + backward), and one training step of
Chimera, S-Mamba and the iTransformer baseline (the ETTh1 recipes' settings) with either
dropout, interleaved round-robin so that machine noise hits both alike. Prints the CPU, the
vector ISA and the ratios.

    python benchmarks/dropout_speed.py [--repeats 5] [--steps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from chimera_etth1_speed import settings
from kernels.bench_report import cpu_model

import tsssm.kernels.dropout as fast_dropout
from tsssm.models import create_model
from tsssm.training.optim import adamw

# (name, shape) of tensors the models drop: Chimera's ETTh1 grid of cells (d_model 16) and
# its feed-forward (d_ff 32), S-Mamba's variate tokens, and a large activation.
SHAPES = {
    "Chimera cells [32, 7, 96, 16]": (32, 7, 96, 16),
    "Chimera feed-forward [32, 7, 96, 32]": (32, 7, 96, 32),
    "S-Mamba tokens [32, 7, 256]": (32, 7, 256),
    "large [64, 1024, 256]": (64, 1024, 256),
}
MODES = ("tsssm", "torch")
# The iTransformer baseline of the S-Mamba recipe (its sizes; the step's learning rate is
# S-Mamba's, which changes nothing of the time).
SMAMBA_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "etth1_smamba.toml"


def seconds(work: Callable[[], object], calls: int) -> float:
    work()
    start = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - start) / calls


def with_dropout(mode: str, work: Callable[[], object]) -> Callable[[], object]:
    """``work`` run with tsssm's dropout (``mode`` "tsssm") or torch's."""
    def run() -> object:
        fast_dropout.FAST_PATH = mode == "tsssm"
        try:
            return work()
        finally:
            fast_dropout.FAST_PATH = True
    return run


def op_jobs(shape: tuple[int, ...]) -> dict[str, Callable[[], object]]:
    x = torch.randn(shape, requires_grad=True)
    grad = torch.randn(shape)

    def forward() -> object:
        with torch.no_grad():
            return fast_dropout.dropout(x, 0.1)

    def forward_backward() -> object:
        x.grad = None
        fast_dropout.dropout(x, 0.1).backward(grad)
        return x.grad

    return {f"{phase} {mode}": with_dropout(mode, work) for phase, work in
            (("forward", forward), ("forward+backward", forward_backward)) for mode in MODES}


def step_jobs(steps: int) -> dict[str, Callable[[], object]]:
    options = settings()
    itransformer = tomllib.loads(SMAMBA_RECIPE.read_text())["baselines"]["itransformer"]
    itransformer = {k: v for k, v in itransformer.items() if k != "train"}
    models = {"chimera": options["chimera"], "smamba": options["smamba"],
              "itransformer": ("itransformer", itransformer, options["smamba"][2])}
    x, y = torch.randn(32, 96, 7), torch.randn(32, 96, 7)
    jobs = {}
    for name, (registered, model_options, train) in models.items():
        torch.manual_seed(0)
        model = create_model(registered, lookback=96, horizon=96, n_variates=7, **model_options)
        optimizer = adamw(model.parameters(), lr=train["lr"])

        def step(model=model, optimizer=optimizer) -> None:
            for _ in range(steps):
                optimizer.zero_grad()
                F.mse_loss(model(x), y).backward()
                optimizer.step()

        for mode in MODES:
            jobs[f"{name} {mode}"] = with_dropout(mode, step)
    return jobs


def medians(jobs: dict[str, Callable[[], object]], repeats: int, calls: int
            ) -> dict[str, float]:
    """Median seconds per call of every job, the jobs interleaved in each repeat."""
    samples: dict[str, list[float]] = {key: [] for key in jobs}
    keys = list(jobs)
    for repeat in range(repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(seconds(jobs[key], calls))
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not fast_dropout.fast_path_available():
        raise SystemExit("the compiled CPU dropout is not built: pip install -e . first")
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, vector ISA "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.threads} thread(s); medians of "
          f"{args.repeats} interleaved repeats; p = 0.1\n")
    print("| tensor | forward tsssm ms | forward torch ms | ratio | fwd+bwd tsssm ms | "
          "fwd+bwd torch ms | ratio |\n|---|---|---|---|---|---|---|")
    for name, shape in SHAPES.items():
        t = medians(op_jobs(shape), args.repeats, calls=10)
        cells = []
        for phase in ("forward", "forward+backward"):
            ours, theirs = t[f"{phase} tsssm"], t[f"{phase} torch"]
            cells += [f"{ours * 1e3:.2f}", f"{theirs * 1e3:.2f}", f"{theirs / ours:.1f}x"]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)
    t = medians(step_jobs(args.steps), args.repeats, calls=1)
    print("\n| model (ETTh1 recipe settings) | step with tsssm's dropout ms | with torch's ms | "
          "speed-up |\n|---|---|---|---|")
    for name in ("chimera", "smamba", "itransformer"):
        ours, theirs = t[f"{name} tsssm"] / args.steps, t[f"{name} torch"] / args.steps
        print(f"| {name} | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | {theirs / ours:.2f}x |")
    print(f"\nChimera / S-Mamba per step: {t['chimera tsssm'] / t['smamba tsssm']:.2f}x with "
          f"tsssm's dropout, {t['chimera torch'] / t['smamba torch']:.2f}x with torch's")


if __name__ == "__main__":
    main()
