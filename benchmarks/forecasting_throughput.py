"""Training throughput and peak memory of S-Mamba beside the iTransformer-style baseline.

Both models train on the same ETTh1 windows (bundled data, lookback 96) with the same batch
size and widths; methods are interleaved round-robin so machine noise hits them alike, and
each peak memory is measured in a fresh process (Linux: /proc/self/status). Prints ratios
(S-Mamba / iTransformer).

    python benchmarks/forecasting_throughput.py [--horizon 96] [--batch-size 32] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from peak_memory import peak_memory_mib

from tsssm.data import ForecastingData, bundled_dataset
from tsssm.models import create_model

MODELS = ("smamba", "itransformer")


def make_batches(lookback: int, horizon: int, batch_size: int, steps: int) -> list[tuple]:
    """``steps`` training batches (x [B, L, V], y [B, H, V]) from ETTh1's training split."""
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
    torch.manual_seed(0)
    model = create_model(name, lookback=args.lookback, horizon=args.horizon,
                         n_variates=n_variates, d_model=args.d_model, d_ff=args.d_model)
    return model, torch.optim.Adam(model.parameters(), lr=1e-4)


def train_steps(model, optimizer, batches: list[tuple]) -> float:
    """Seconds for one optimisation step per batch."""
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def _prepare(name: str, args: argparse.Namespace) -> tuple:
    batches = make_batches(args.lookback, args.horizon, args.batch_size, args.steps)
    return name, args, batches


def _train_fresh(prepared: tuple) -> None:
    """Build the model and train it: what the peak memory counts."""
    name, args, batches = prepared
    model, optimizer = build(name, args, batches[0][0].shape[-1])
    train_steps(model, optimizer, batches)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=256, help="width of both models")
    parser.add_argument("--steps", type=int, default=20, help="training steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    batches = make_batches(args.lookback, args.horizon, args.batch_size, args.steps)
    built = {name: build(name, args, batches[0][0].shape[-1]) for name in MODELS}
    for name in MODELS:  # warm-up
        train_steps(*built[name], batches[:2])
    seconds: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(args.repeats):
        for name in MODELS:
            seconds[name].append(train_steps(*built[name], batches))
    windows = args.steps * args.batch_size
    figures = {
        name: {
            "windows_per_second": windows / statistics.median(seconds[name]),
            "peak_memory_mib": peak_memory_mib(_prepare, _train_fresh, name, args),
            "parameters": sum(p.numel() for p in built[name][0].parameters()),
        }
        for name in MODELS
    }
    print(f"ETTh1 training, lookback {args.lookback}, horizon {args.horizon}, batch "
          f"{args.batch_size}, d_model {args.d_model}, {torch.get_num_threads()} threads")
    print(f"{'model':<14}{'windows/s':>12}{'peak MiB':>12}{'parameters':>12}")
    for name, f in figures.items():
        print(f"{name:<14}{f['windows_per_second']:>12.1f}{f['peak_memory_mib']:>12.1f}"
              f"{f['parameters']:>12,}")
    s, t = figures["smamba"], figures["itransformer"]
    speed = s["windows_per_second"] / t["windows_per_second"]
    memory = s["peak_memory_mib"] / t["peak_memory_mib"]
    print(f"S-Mamba / iTransformer: throughput {speed:.2f}x, peak memory {memory:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "figures": figures}, f, indent=2)


if __name__ == "__main__":
    main()
