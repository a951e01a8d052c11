"""Benchmark of the 2-D selective scan: the fused kernel with both couplings against the same
kernel uncoupled, the two-pass uncoupled path, and the double-loop reference.

Every method computes the full 2-D scan of :func:`tsssm.kernels.selective_scan_2d` (softplus
step sizes with biases on both axes, skip ``D``, gate ``z``, both last states) on the same
inputs of ``dim`` 16 and ``state`` 16:

- ``fused``: the fused kernel of the device with both couplings (``A_var_to_time``,
  ``A_time_to_var``): ``backend="cpu"`` (C++) on the CPU, ``backend="triton"`` on CUDA;
- ``fused uncoupled``: the same without couplings;
- ``rounds`` (CUDA only): ``backend="triton-rounds"`` with both couplings, exact alternating
  rounds of the 1-D Triton kernels;
- ``two-pass``: without couplings, one 1-D scan along time and one along variates on the
  fused 1-D kernel of the device (the path that was exact before the couplings existed);
- ``ref``: ``backend="ref"`` with both couplings, the plain double loop.

On the CPU the fused Triton kernel is not timed (it would run in Triton's interpreter); the
report says so. Before timing, every method but ref is compared with ref on a small grid
(outputs, last states, all gradients). Then, on the main grid (batch 16, time 512, variates
32; with ``--quick`` batch 4, time 128, variates 8) and on grids with a quarter and half as
many time steps or variates, it times forward+backward (round robin, median of ``--repeats``;
a run longer than ``--max-seconds`` is not repeated), measures the peak memory of one
forward+backward in a fresh spawned process (resident set on the CPU, allocated memory on
CUDA), and fits ``time ~ size^k`` and ``memory ~ size^k`` along each axis. Run through
``bench.py --scan2d [--device cuda]``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

import torch
from bench_report import format_bytes, machine_info, markdown_table, write_atomically
from bench_timing import log, measure_round_robin, peak_bytes_of, timed

from tsssm.kernels import selective_scan_2d
from tsssm.kernels.scan2d._inputs import normalize_scan2d_inputs
from tsssm.kernels.scan2d.parallel import selective_scan_2d_parallel

Grid = tuple[int, int, int]  # batch, length (time), n_vars
MAIN_GRID: Grid = (16, 512, 32)
QUICK_GRID: Grid = (4, 128, 8)
DIM, STATE = 16, 16
CHECK_GRID: Grid = (2, 13, 5)
AXIS_FRACTIONS = (4, 2, 1)  # each axis at 1/4, 1/2 and all of the main grid's size
#: device -> method -> (backend, coupled); "two-pass" is the uncoupled split on the fused
#: 1-D kernel of the device (TWO_PASS_BACKEND).
METHODS = {
    "cpu": {"fused": ("cpu", True), "fused uncoupled": ("cpu", False),
            "two-pass": ("two-pass", False), "ref": ("ref", True)},
    "cuda": {"fused": ("triton", True), "fused uncoupled": ("triton", False),
             "rounds": ("triton-rounds", True), "two-pass": ("two-pass", False),
             "ref": ("ref", True)},
}
TWO_PASS_BACKEND = {"cpu": "cpu", "cuda": "triton"}
#: What the report says of the methods a device does not time.
NOT_TIMED = {"cpu": "The fused Triton kernel (`backend=\"triton\"`) is not timed on the CPU, "
                    "where it would run in Triton's interpreter; run `bench.py --scan2d "
                    "--device cuda` on a GPU to time it beside these."}
COUPLINGS = ("A_var_to_time", "A_time_to_var")


def make_inputs(grid: Grid, coupled: bool, device: torch.device, seed: int = 0
                ) -> dict[str, torch.Tensor]:
    """Random 2-D scan inputs on ``grid``, every optional input present (the couplings only
    when ``coupled``), all needing grad, on ``device``."""
    batch, length, n_vars = grid
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    cells, bc = (batch, DIM, n_vars, length), (batch, STATE, n_vars, length)
    decay = {name: -torch.exp(randn(DIM, STATE, scale=0.5)) for name in ("A_time", "A_var")}
    couplings = {name: randn(DIM, STATE, scale=0.5) for name in COUPLINGS}
    tensors = {
        "u": randn(*cells), "delta_time": randn(*cells, scale=0.5),
        "delta_var": randn(*cells, scale=0.5), **decay, "B_time": randn(*bc),
        "C_time": randn(*bc), "B_var": randn(*bc), "C_var": randn(*bc), "D": randn(DIM),
        "z": randn(*cells), "delta_bias_time": randn(DIM, scale=0.1),
        "delta_bias_var": randn(DIM, scale=0.1), **(couplings if coupled else {}),
    }
    return {name: x.to(device).requires_grad_() for name, x in tensors.items()}


def scan(backend: str, inputs: dict[str, torch.Tensor]):
    if backend != "two-pass":
        return selective_scan_2d(**inputs, delta_softplus=True, return_last_state=True,
                                 backend=backend)
    options = {"D": None, "z": None, "A_var_to_time": None, "A_time_to_var": None,
               "delta_bias_time": None, "delta_bias_var": None, **inputs}
    return selective_scan_2d_parallel(
        normalize_scan2d_inputs(**options, delta_softplus=True, period=1,
                                reverse_variates=False),
        scan_backend=TWO_PASS_BACKEND[inputs["u"].device.type])


def forward_backward(method: str, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Forward, then the gradients of ``out.sum() + both last states' sums`` for every input."""
    out, (h_time, h_var) = scan(METHODS[inputs["u"].device.type][method][0], inputs)
    loss = out.sum() + h_time.sum() + h_var.sum()
    return (out, h_time, h_var, *torch.autograd.grad(loss, list(inputs.values())))


def check_agreement(device: torch.device) -> dict[str, float]:
    """Worst relative difference to ref over outputs, states and gradients (fused and rounds:
    both couplings; two-pass and fused uncoupled: none)."""
    worst = {}
    for method, (_, coupled) in METHODS[device.type].items():
        if method == "ref":
            continue
        inputs = make_inputs(CHECK_GRID, coupled, device)
        expected, actual = (forward_backward(m, inputs) for m in ("ref", method))
        worst[method] = max(((a - e).abs().max() / e.abs().max().clamp(min=1e-6)).item()
                            for a, e in zip(actual, expected, strict=True))
    return worst


def peak_memory_child(method: str, grid: Grid, device_name: str, threads: int) -> int:
    """In a fresh process: bytes one forward+backward adds to the peak of the resident set
    (CPU) or of the allocated memory (CUDA)."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    coupled = METHODS[device.type][method][1]
    forward_backward(method, make_inputs(CHECK_GRID, coupled, device))  # libraries, kernels
    inputs = make_inputs(grid, coupled, device)
    return peak_bytes_of(device, lambda: forward_backward(method, inputs))


def measure_peak_memory(method: str, grid: Grid, device: torch.device) -> int:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(peak_memory_child, method, grid, str(device),
                           torch.get_num_threads()).result()


def grids(main: Grid) -> list[Grid]:
    """The main grid and its reductions along time and along variates (no duplicates)."""
    batch, length, n_vars = main
    along_time = [(batch, length // f, n_vars) for f in AXIS_FRACTIONS]
    along_vars = [(batch, length, n_vars // f) for f in AXIS_FRACTIONS]
    return list(dict.fromkeys(along_time + along_vars))


def measure(grid: Grid, device: torch.device, repeats: int, max_seconds: float
            ) -> dict[str, dict[str, float]]:
    """Median forward+backward seconds and peak bytes of each method on ``grid``."""
    methods = METHODS[device.type]
    inputs = {coupled: make_inputs(grid, coupled, device) for coupled in (False, True)}
    for method, (_, coupled) in methods.items():  # compile Triton kernels, fill the allocator
        if device.type == "cuda" and method != "ref":
            forward_backward(method, inputs[coupled])
    jobs = {m: (lambda m=m: timed(device, lambda: forward_backward(m, inputs[methods[m][1]])))
            for m in methods}
    samples = measure_round_robin(jobs, repeats, max_seconds, f"scan2d {grid_name(grid)}")
    return {m: {"seconds": statistics.median(samples[m]), "samples": samples[m],
                "peak_bytes": measure_peak_memory(m, grid, device)} for m in methods}


def grid_name(grid: Grid) -> str:
    batch, length, n_vars = grid
    return f"{batch}x{length}x{n_vars}"


def slope(sizes: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) against log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(v, 1e-12)) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            / sum((x - mx) ** 2 for x in xs))


#: Ratio columns of the report, (numerator, denominator), where both methods were timed.
RATIOS = (("fused", "fused uncoupled"), ("fused", "two-pass"), ("rounds", "fused"),
          ("ref", "fused"))


def report_markdown(results: dict[Grid, dict], agreement: dict[str, float], main: Grid,
                    device: torch.device, threads: int) -> str:
    """Tables: every grid's times and peaks, the coupling's cost, the growth exponents."""
    methods = list(METHODS[device.type])
    ratios = [(a, b) for a, b in RATIOS if a in methods and b in methods]
    rows = []
    for grid, result in results.items():
        seconds = {m: result[m]["seconds"] for m in methods}
        rows.append([
            grid_name(grid), *(f"{seconds[m]:.3f}" for m in methods),
            *(f"{seconds[a] / seconds[b]:.2f}x" for a, b in ratios),
            *(format_bytes(result[m]["peak_bytes"]) for m in methods),
        ])
    growth_rows = []
    for axis, index in (("time", 1), ("variates", 2)):
        on_axis = [g for g in results if all(g[i] == main[i] for i in range(3) if i != index)]
        sizes = [g[index] for g in on_axis]
        for method in methods:
            growth_rows.append([
                axis, method,
                f"{slope(sizes, [results[g][method]['seconds'] for g in on_axis]):.2f}",
                f"{slope(sizes, [results[g][method]['peak_bytes'] for g in on_axis]):.2f}",
            ])
    agree = ", ".join(f"{m} {e:.1e}" for m, e in agreement.items())
    fused = {"cpu": "the fused C++ kernel", "cuda": "the fused Triton kernel"}[device.type]
    return "\n\n".join([
        "# 2-D selective scan: fused (both couplings) vs uncoupled and ref (forward+backward)",
        f"Device {device.type} (fused: {fused}); dim {DIM}, state {STATE}, grids batch x time "
        f"x variates, {threads} torch thread(s); worst relative difference to ref on "
        f"{grid_name(CHECK_GRID)} (outputs, states, every gradient): {agree}. Main grid: "
        f"{grid_name(main)}." + (f" {NOT_TIMED[device.type]}" if device.type in NOT_TIMED
                                 else ""),
        markdown_table(["grid", *(f"{m} s" for m in methods),
                        *(f"{a} / {b}" for a, b in ratios),
                        *(f"{m} peak MiB" for m in methods)], rows),
        "Growth exponents k of time ~ size^k and peak memory ~ size^k along each axis "
        "(1 = linear):",
        markdown_table(["axis", "method", "time k", "memory k"], growth_rows),
    ]) + "\n"


def run_scan2d(args: argparse.Namespace) -> None:
    """The ``--scan2d`` section of bench.py: measure, print, write results."""
    device = torch.device(args.device)
    if device.type in NOT_TIMED:
        log(NOT_TIMED[device.type])
    agreement = check_agreement(device)
    log("scan2d agreement with ref: " + ", ".join(f"{m} {e:.1e}" for m, e in agreement.items()))
    main = QUICK_GRID if args.quick else MAIN_GRID
    results = {grid: measure(grid, device, args.repeats, args.max_seconds)
               for grid in grids(main)}
    threads = torch.get_num_threads()
    markdown = report_markdown(results, agreement, main, device, threads)
    print(markdown)
    timestamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {"timestamp": timestamp, "machine": machine_info(device),
              "dim": DIM, "state": STATE, "agreement": agreement,
              "not_timed": NOT_TIMED.get(device.type),
              "grids": {grid_name(g): r for g, r in results.items()}}
    stem = f"scan2d-{device.type}" + ("-quick" if args.quick else "")
    json_path = args.out_dir / f"{stem}-{timestamp}.json"
    write_atomically(json_path, json.dumps(report, indent=2) + "\n")
    write_atomically(args.out_dir / f"{stem}-latest.md", markdown)
    log(f"wrote {json_path} and {args.out_dir / f'{stem}-latest.md'}")
