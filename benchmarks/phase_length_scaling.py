"""How PhaseSSM's cost grows with the length of a recording: training step and inference time,
and peak memory, on sequences of 1k, 10k and 100k steps (a 100-minute video at 1 fps is 6k).

One recording (batch 1) of random tool-presence-like inputs (7 binary features) and random
phase labels; the recipe's model (d_model 64, 2 local + 2 global blocks), online and offline.
Times are medians of interleaved repeats; each peak memory is measured in a fresh process.
Prints, per length, time per step relative to the shortest length (1.0 = linear) and the
fitted exponent of time and memory in length (1 = linear).

    python benchmarks/phase_length_scaling.py [--lengths 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from peak_memory import peak_memory_mib

from tsssm.models import create_model, phase_loss
from tsssm.training.optim import adamw

OPTIONS = {"d_model": 64, "d_state": 16, "n_local_layers": 2, "n_global_layers": 2,
           "local_window": 16, "dropout": 0.1}
KINDS = ("train", "infer")


def recording(steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x [1, T, 7] (0/1), labels [1, T] and progress [1, T]."""
    generator = torch.Generator().manual_seed(steps)
    x = (torch.rand(1, steps, 7, generator=generator) > 0.5).float()
    labels = torch.randint(0, 7, (1, steps), generator=generator)
    return x, labels, torch.rand(1, steps, generator=generator)


def build(online: bool) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = create_model("phase_ssm", n_inputs=7, n_phases=7, online=online, **OPTIONS)
    return model, adamw(model.parameters(), lr=1e-3)


def train_step(model, optimizer, data) -> None:
    x, labels, progress = data
    optimizer.zero_grad()
    loss, _ = phase_loss(model(x), labels, progress)
    loss.backward()
    optimizer.step()


@torch.no_grad()
def infer(model, data) -> None:
    model.eval()
    model(data[0])
    model.train()


def timed(kind: str, model, optimizer, data) -> float:
    start = time.perf_counter()
    if kind == "train":
        train_step(model, optimizer, data)
    else:
        infer(model, data)
    return time.perf_counter() - start


def _prepare(kind: str, online: bool, steps: int, threads: int) -> tuple:
    torch.set_num_threads(threads)
    return (kind, *build(online), recording(steps))


def _run(prepared: tuple) -> None:
    timed(*prepared)


def exponent(lengths: list[int], values: list[float]) -> float:
    """Slope of log(value) against log(length): 1 = linear."""
    return float(np.polyfit(np.log(lengths), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures: dict[str, dict[str, dict[int, float]]] = {}
    for online in (True, False):
        mode = "online" if online else "offline"
        model, optimizer = build(online)
        for steps in args.lengths:
            data = recording(steps)
            for kind in KINDS:
                timed(kind, model, optimizer, data)  # warm-up
            seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for _ in range(args.repeats):
                for kind in KINDS:  # interleaved, so noise hits both alike
                    seconds[kind].append(timed(kind, model, optimizer, data))
            for kind in KINDS:
                entry = figures.setdefault(f"{mode} {kind}", {"s": {}, "mib": {}})
                entry["s"][steps] = statistics.median(seconds[kind])
                entry["mib"][steps] = peak_memory_mib(_prepare, _run, kind, online, steps,
                                                      args.threads)
    print(f"PhaseSSM, one recording of T steps, {args.threads} threads, "
          f"{sum(p.numel() for p in build(True)[0].parameters()):,} parameters")
    print(f"{'':<16}{'T':>8}{'seconds':>10}{'s/step vs first':>17}{'peak MiB':>10}"
          f"{'MiB/step vs first':>19}")
    for name, entry in figures.items():
        first = args.lengths[0]
        for steps in args.lengths:
            s, mib = entry["s"][steps], entry["mib"][steps]
            relative_s = (s / steps) / (entry["s"][first] / first)
            relative_mib = (mib / steps) / (entry["mib"][first] / first)
            print(f"{name:<16}{steps:>8}{s:>10.3f}{relative_s:>17.2f}{mib:>10.1f}"
                  f"{relative_mib:>19.2f}")
        lengths = list(args.lengths)
        time_exponent = exponent(lengths, [entry["s"][n] for n in lengths])
        memory_exponent = exponent(lengths, [entry["mib"][n] for n in lengths])
        print(f"{name:<16}{'exponent':>8}{time_exponent:>10.2f}{'':>17}{memory_exponent:>10.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "figures": figures}, f, indent=2)


if __name__ == "__main__":
    main()
