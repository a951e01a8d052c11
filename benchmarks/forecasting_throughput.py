"""Training throughput and peak memory of S-Mamba beside the iTransformer-style baseline.

Both models train on the same windows with the same batch size and widths: ETTh1's (bundled,
7 variates) and, for each other count in ``--variates``, random windows of that many
variates (speed does not depend on the values; 321 is ECL's width). Methods are interleaved
round-robin so machine noise hits them alike; each peak memory is measured in a fresh
process (Linux: /proc/self/status); the matrix-multiply FLOPs of one training step (forward
and backward, torch's ``FlopCounterMode``: linear layers, attention's matmuls and
convolutions, not the scan; see step_flops) say how much of a time ratio the arithmetic alone
explains.
Prints ratios (S-Mamba / iTransformer) per variate count and lookback, and, where several
are given, how each model's time per window and peak memory grow with them (the exponent k
of a least-squares fit of cost ~ size^k on a log-log scale: 1 is linear, 2 quadratic).

    python benchmarks/forecasting_throughput.py [--variates 7 321] [--lookback 96 336]
        [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
from peak_memory import peak_memory_mib
from torch.utils.flop_counter import FlopCounterMode

from tsssm.data import ForecastingData, bundled_dataset
from tsssm.models import create_model
from tsssm.training.optim import adamw

MODELS = ("smamba", "itransformer")


def make_batches(lookback: int, horizon: int, batch_size: int, steps: int,
                 variates: int = 7) -> list[tuple]:
    """``steps`` training batches (x [B, L, V], y [B, H, V]): ETTh1's training split for its
    7 variates, else seeded standard-normal windows of ``variates`` variates."""
    if variates != 7:
        generator = torch.Generator().manual_seed(0)
        return [(torch.randn(batch_size, lookback, variates, generator=generator),
                 torch.randn(batch_size, horizon, variates, generator=generator))
                for _ in range(steps)]
    data = ForecastingData.from_file(bundled_dataset("ETTh1"), lookback, horizon)
    loader = torch.utils.data.DataLoader(data.train, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    batches = []
    for batch in loader:
        batches.append((batch["x"], batch["y"]))
        if len(batches) == steps:
            break
    return batches


def build(name: str, args: argparse.Namespace, n_variates: int) -> tuple:
    """A model of ``args``' sizes (``args.lookback`` one lookback) and its optimiser."""
    torch.manual_seed(0)
    model = create_model(name, lookback=args.lookback, horizon=args.horizon,
                         n_variates=n_variates, d_model=args.d_model, d_ff=args.d_model)
    return model, adamw(model.parameters(), lr=1e-4)


def train_steps(model, optimizer, batches: list[tuple]) -> float:
    """Seconds for one optimisation step per batch."""
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def step_flops(model: torch.nn.Module, batch: tuple) -> int:
    """Matrix-multiply FLOPs of one training step (forward and backward) on ``batch``.

    The counter's formula for a grouped convolution's backward counts it as a dense one (for
    S-Mamba's depthwise convolutions, over 100 times their forward): the backward of every
    convolution is taken as twice its forward (the input and the weight gradients) instead.
    """
    x, y = batch
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.mse_loss(model(x), y).backward()
    model.zero_grad()
    counts = {str(op): flops for op, flops in counter.get_flop_counts()["Global"].items()}
    convolution = counts.pop("aten.convolution", 0)
    counts.pop("aten.convolution_backward", None)
    return sum(counts.values()) + 3 * convolution


def _prepare(name: str, args: argparse.Namespace, variates: int) -> tuple:
    batches = make_batches(args.lookback, args.horizon, args.batch_size, args.steps, variates)
    return name, args, batches


def _train_fresh(prepared: tuple) -> None:
    """Build the model and train it: what the peak memory counts."""
    name, args, batches = prepared
    model, optimizer = build(name, args, batches[0][0].shape[-1])
    train_steps(model, optimizer, batches)


def measure(args: argparse.Namespace, variates: int) -> dict[str, dict[str, float]]:
    """Throughput, peak memory, FLOPs per step and size of each model on ``variates``."""
    batches = make_batches(args.lookback, args.horizon, args.batch_size, args.steps, variates)
    built = {name: build(name, args, variates) for name in MODELS}
    for name in MODELS:  # warm-up
        train_steps(*built[name], batches[:2])
    seconds: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(args.repeats):
        for name in MODELS:
            seconds[name].append(train_steps(*built[name], batches))
    windows = args.steps * args.batch_size
    return {
        name: {
            "windows_per_second": windows / statistics.median(seconds[name]),
            "peak_memory_mib": peak_memory_mib(_prepare, _train_fresh, name, args, variates),
            "step_flops": step_flops(built[name][0], batches[0]),
            "parameters": sum(p.numel() for p in built[name][0].parameters()),
        }
        for name in MODELS
    }


def growth_exponent(sizes: list[int], costs: list[float]) -> float:
    """k of the least-squares fit log(cost) = k log(size) + c."""
    xs, ys = [math.log(v) for v in sizes], [math.log(v) for v in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            / sum((x - mx) ** 2 for x in xs))


def print_growth(axis: str, fixed: str, sizes: list[int],
                 figures: list[dict[str, dict[str, float]]]) -> None:
    """Growth exponents of each model's seconds per window and peak memory along ``axis``."""
    for name in MODELS:
        seconds = [1 / f[name]["windows_per_second"] for f in figures]
        memory = [f[name]["peak_memory_mib"] for f in figures]
        print(f"{name} over {axis} {sizes} ({fixed}): time per window ~ {axis}^"
              f"{growth_exponent(sizes, seconds):.2f}, peak memory ~ {axis}^"
              f"{growth_exponent(sizes, memory):.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookback", type=int, nargs="+", default=[96],
                        help="lookback lengths (several: how the costs grow with it)")
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=256, help="width of both models")
    parser.add_argument("--steps", type=int, default=20, help="training steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variates", type=int, nargs="+", default=[7, 321],
                        help="variate counts (7: ETTh1's windows; others random)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    lookbacks = args.lookback

    results: dict[tuple[int, int], dict[str, dict[str, float]]] = {}
    for lookback in lookbacks:
        args.lookback = lookback
        for variates in args.variates:
            results[lookback, variates] = measure(args, variates)
    args.lookback = lookbacks
    print(f"lookback {', '.join(map(str, lookbacks))}, horizon {args.horizon}, batch "
          f"{args.batch_size}, d_model {args.d_model}, {torch.get_num_threads()} threads, "
          f"torch's vector ISA {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'lookback':>9}{'variates':>9} {'model':<13}{'windows/s':>11}{'peak MiB':>10}"
          f"{'GFLOP/step':>12}{'parameters':>12}")
    for (lookback, variates), figures in results.items():
        for name, f in figures.items():
            print(f"{lookback:>9}{variates:>9} {name:<13}{f['windows_per_second']:>11.1f}"
                  f"{f['peak_memory_mib']:>10.1f}{f['step_flops'] / 1e9:>12.2f}"
                  f"{f['parameters']:>12,}")
    for (lookback, variates), figures in results.items():
        s, t = figures["smamba"], figures["itransformer"]
        where = f"{variates} variates" + (f", lookback {lookback}" if len(lookbacks) > 1 else "")
        print(f"{where}, S-Mamba / iTransformer: throughput "
              f"{s['windows_per_second'] / t['windows_per_second']:.2f}x, peak memory "
              f"{s['peak_memory_mib'] / t['peak_memory_mib']:.2f}x, matmul FLOPs "
              f"{s['step_flops'] / t['step_flops']:.2f}x (FLOPs alone would allow "
              f"{t['step_flops'] / s['step_flops']:.2f}x throughput)")
    if len(args.variates) > 1:
        for lookback in lookbacks:
            print_growth("variates", f"lookback {lookback}", args.variates,
                         [results[lookback, v] for v in args.variates])
    if len(lookbacks) > 1:
        for variates in args.variates:
            print_growth("lookback", f"{variates} variates", lookbacks,
                         [results[lb, variates] for lb in lookbacks])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args),
                       "figures": {f"{lb}x{v}": r for (lb, v), r in results.items()}}, f,
                      indent=2)


if __name__ == "__main__":
    main()
