"""Benchmark of tsssm's selective-scan backends against a plain loop and mambapy's pscan.

Every method computes the same full selective scan (softplus of ``delta + delta_bias``, skip
``D``, gate ``silu(z)``, last state) on the same inputs. For each shape and method it measures
the forward time (under ``torch.no_grad``), the forward+backward time (gradients of all eight
inputs), the peak memory of forward+backward and the state updates per second, and prints
speedups against the two baselines. In the same run it measures the ceilings this machine
sets (``exp`` throughput and copy bandwidth) and fits how the ``auto`` backend's time grows
with length. See kernels/README.md for how to read the output.

    python kernels/bench.py            # every shape, scaling fit, 3 repeats (minutes)
    python kernels/bench.py --quick    # two small shapes, 1 repeat (about a minute)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from mambapy.pscan import pscan

import tsssm
from tsssm.kernels import available_backends, selective_scan

Shape = tuple[int, int, int, int]  # (batch, dim, length, state)

DEFAULT_SHAPES: list[Shape] = [
    (8, 128, 96, 16),
    (32, 256, 512, 16),
    (8, 512, 2048, 16),
    (4, 256, 8192, 16),
    (1, 64, 65536, 16),
]
QUICK_SHAPE_COUNT = 2
QUICK_REPEATS = 1
SCALING_LENGTHS = (8192, 16384, 32768, 65536)
SCALING_BATCH, SCALING_DIM, SCALING_STATE = 1, 64, 16
# Small enough to be instant, length not a power of two so that pscan's padding is exercised.
CHECK_SHAPE: Shape = (2, 32, 100, 16)

LOOP, PSCAN, AUTO = "ref", "pscan", "auto"
BASELINES = (LOOP, PSCAN)
PHASES = ("forward", "fwd+bwd")

# float32 elements of the exp-throughput tensor: on the CPU 1 MiB in and 1 MiB out, which
# stay in a core's L2 cache; on a GPU enough to hide the launch overhead (memory-bound there).
EXP_ELEMENTS = {"cpu": 1 << 18, "cuda": 1 << 26}
COPY_BYTES = 256 << 20  # copied into a second tensor: 512 MiB in all, beyond the caches
PROBE_SECONDS = 0.1  # each ceiling probe repeats its operation for about this long
# Below this, torch's multi-threaded exp reaches too little of threads x its one-thread rate:
# other processes hold the cores and every parallel region waits for descheduled threads.
MIN_PARALLEL_EFFICIENCY = 0.5
# Peak memory of forward+backward in [batch, length, dim, state] float32 tensors, for the
# methods whose memory grows with it (pscan at its padded length); measured at 32x256x512x16
# and rounded up. A method whose estimate exceeds the free memory is skipped on that shape.
FULL_STATE_COPIES = {PSCAN: 10.0, LOOP: 7.0, "chunked": 9.0}
MEMORY_HEADROOM = 0.8  # use at most this fraction of the free memory

_START = time.perf_counter()


def log(message: str) -> None:
    """Print a progress line on stderr, stamped with the seconds since the start."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_shape(text: str) -> Shape:
    """Parse ``BATCHxDIMxLENGTHxSTATE`` (e.g. ``8x512x2048x16``) for argparse."""
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not BATCHxDIMxLENGTHxSTATE with positive integers, e.g. 8x512x2048x16"
        )
    batch, dim, length, state = map(int, parts)
    return batch, dim, length, state


def shape_name(shape: Shape) -> str:
    """``(8, 512, 2048, 16)`` -> ``"8x512x2048x16"``."""
    return "x".join(map(str, shape))


def updates(shape: Shape) -> int:
    """State updates of one scan: batch * dim * length * state."""
    return math.prod(shape)


def make_inputs(shape: Shape, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """Mamba-like inputs for ``selective_scan``, all leaves that require grad.

    ``A`` is mamba's S4D-real initialisation ``-(1..state)`` and ``delta_bias`` the inverse
    softplus of step sizes log-spaced in [0.001, 0.1], as in mamba's ``dt_proj``.
    """
    batch, dim, length, state = shape
    gen = torch.Generator().manual_seed(seed)
    step = torch.exp(torch.empty(dim).uniform_(math.log(1e-3), math.log(1e-1), generator=gen))
    tensors = {
        "u": torch.randn(batch, dim, length, generator=gen),
        "delta": 0.5 * torch.randn(batch, dim, length, generator=gen),
        "A": -torch.arange(1, state + 1, dtype=torch.float32).repeat(dim, 1),
        "B": torch.randn(batch, state, length, generator=gen),
        "C": torch.randn(batch, state, length, generator=gen),
        "D": torch.randn(dim, generator=gen),
        "z": torch.randn(batch, dim, length, generator=gen),
        "delta_bias": step + torch.log(-torch.expm1(-step)),
    }
    return {name: t.to(device).requires_grad_() for name, t in tensors.items()}


def pscan_selective_scan(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
    D: torch.Tensor, z: torch.Tensor, delta_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole selective scan on mambapy's parallel scan, as mambapy's ``selective_scan``.

    Builds ``exp(dt * A)`` and ``dt * B * u`` as [batch, length, dim, state] tensors and
    scans them with ``pscan`` (which pads length to the next power of two internally), then
    reads out with ``C``, adds the skip and gates. Returns ``(out, last_state)``.
    """
    dt = F.softplus(delta + delta_bias[:, None]).transpose(1, 2)  # [b, l, d]
    A_bar = torch.exp(dt.unsqueeze(-1) * A)  # [b, l, d, n]
    X = (dt * u.transpose(1, 2)).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2)  # [b, l, d, n]
    hs = pscan(A_bar, X)
    y = (hs @ C.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)  # [b, d, l]
    return (y + D[:, None] * u) * F.silu(z), hs[:, -1]


def run_method(method: str, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one method (a tsssm backend name, ``"auto"`` or ``"pscan"``): ``(out, last)``."""
    if method == PSCAN:
        return pscan_selective_scan(**inputs)
    return selective_scan(**inputs, delta_softplus=True, return_last_state=True, backend=method)


def forward_backward(
    method: str, inputs: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, ...]:
    """Forward, then the gradients of ``out.sum() + last_state.sum()`` for every input."""
    out, last = run_method(method, inputs)
    return (out, last, *torch.autograd.grad(out.sum() + last.sum(), list(inputs.values())))


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock time covers it; no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], object]) -> float:
    """Wall-clock seconds of ``work()``, synchronised with the device on both ends."""
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


def time_forward(method: str, inputs: dict[str, torch.Tensor], device: torch.device) -> float:
    """Seconds of one forward pass under ``torch.no_grad``."""

    def work() -> None:
        with torch.no_grad():
            run_method(method, inputs)

    return timed(device, work)


def time_forward_backward(
    method: str, inputs: dict[str, torch.Tensor], device: torch.device
) -> float:
    """Seconds of one forward pass plus the backward pass to every input."""
    return timed(device, lambda: forward_backward(method, inputs))


def measure_round_robin(
    jobs: dict[str, Callable[[], float]], repeats: int, max_seconds: float, label: str
) -> dict[str, list[float]]:
    """Run every job once per repeat, interleaved, and collect the seconds each returns.

    Each repeat starts one job later than the previous one, so that no job always runs
    right after the same neighbour; slow machine phases hit every job alike. A job whose
    first run took longer than ``max_seconds`` is not repeated.
    """
    samples: dict[str, list[float]] = {key: [] for key in jobs}
    keys = list(jobs)
    for repeat in range(repeats):
        shift = repeat % len(keys)
        for key in keys[shift:] + keys[:shift]:
            if samples[key] and samples[key][0] > max_seconds:
                continue
            samples[key].append(jobs[key]())
            log(f"{label} repeat {repeat + 1}/{repeats} {key}: {samples[key][-1]:.4g} s")
    return samples


def job_key(method: str, phase: str) -> str:
    """Key of one (method, phase) job in :func:`measure_round_robin`."""
    return f"{method} {phase}"


def reset_peak_resident_bytes() -> int:
    """This process's peak resident set (VmHWM), after resetting it to the current one.

    ``ru_maxrss`` is not used: it survives ``exec``, so a spawned child would start from
    its parent's peak. Resetting needs /proc/self/clear_refs; without it the old peak
    stays, and growth beyond it is still counted.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    return peak_resident_bytes()


def peak_resident_bytes() -> int:
    """VmHWM of /proc/self/status in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM line in /proc/self/status")


def peak_memory_child(method: str, shape: Shape, device_name: str, threads: int) -> int:
    """In a fresh process: bytes that one forward+backward adds on top of its inputs.

    A tiny warm-up first loads libraries and starts autograd's threads, so that their
    one-time memory is not counted. On the CPU the growth of the process's peak resident
    set is reported, on CUDA that of ``torch.cuda.max_memory_allocated``.
    """
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    forward_backward(method, make_inputs(CHECK_SHAPE, device))
    inputs = make_inputs(shape, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        forward_backward(method, inputs)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - baseline
    baseline = reset_peak_resident_bytes()
    forward_backward(method, inputs)
    return peak_resident_bytes() - baseline


def measure_peak_memory(method: str, shape: Shape, device: torch.device) -> int:
    """Peak extra bytes of forward+backward, measured in a spawned subprocess."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        job = pool.submit(peak_memory_child, method, shape, str(device), torch.get_num_threads())
        return job.result()


def free_memory_bytes(device: torch.device) -> int:
    """Memory that a new allocation can get: MemAvailable on the CPU, free memory on CUDA."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable line in /proc/meminfo")


def estimated_peak_bytes(method: str, shape: Shape) -> int:
    """Rough peak memory of forward+backward for methods with [b, l, d, n] tensors, else 0."""
    batch, dim, length, state = shape
    if method == PSCAN:
        length = 1 << (length - 1).bit_length()  # pscan pads to the next power of two
    return int(FULL_STATE_COPIES.get(method, 0.0) * batch * dim * length * state * 4)


@dataclass
class MethodResult:
    """Raw measurements of one method on one shape."""

    forward_s: list[float] = field(default_factory=list)
    fwd_bwd_s: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    def median(self, phase: str) -> float | None:
        """Median seconds of ``phase`` ("forward" or "fwd+bwd"), None if not measured."""
        samples = self.forward_s if phase == "forward" else self.fwd_bwd_s
        return statistics.median(samples) if samples else None


@dataclass
class ShapeResult:
    """Every method's measurements on one shape."""

    shape: Shape
    methods: dict[str, MethodResult]
    ceilings: dict[str, list[float]]  # rate samples of the ceiling probes

    def ceiling(self, name: str) -> float:
        """Median of one ceiling probe's rates."""
        return statistics.median(self.ceilings[name])

    def ceiling_medians(self) -> dict[str, float]:
        """Median of every ceiling probe's rates."""
        return {name: self.ceiling(name) for name in self.ceilings}


def time_methods(
    shape: Shape, methods: list[str], device: torch.device, repeats: int, max_seconds: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time every method and ceiling probe on ``shape``, interleaved.

    Returns the methods' seconds by :func:`job_key` and the probes' rates. The inputs and
    probe tensors are freed on return.
    """
    inputs = make_inputs(shape, device)
    if device.type == "cuda":  # compile Triton kernels and fill the caching allocator
        for method in methods:
            forward_backward(method, inputs)
    probes = CeilingProbes(device)
    jobs = probes.jobs()
    for method in methods:
        jobs[job_key(method, "forward")] = lambda m=method: time_forward(m, inputs, device)
        jobs[job_key(method, "fwd+bwd")] = lambda m=method: time_forward_backward(
            m, inputs, device
        )
    samples = measure_round_robin(jobs, repeats, max_seconds, shape_name(shape))
    return samples, probes.rates(samples)


def bench_shape(
    shape: Shape, methods: list[str], device: torch.device, repeats: int, max_seconds: float
) -> ShapeResult:
    """Time every method that fits in memory on ``shape``, then measure its peak memory."""
    name = shape_name(shape)
    results = {method: MethodResult() for method in methods}
    free = free_memory_bytes(device)
    runnable = []
    for method in methods:
        estimate = estimated_peak_bytes(method, shape)
        if estimate > MEMORY_HEADROOM * free:
            note = f"skipped: needs about {estimate / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free"
            results[method].notes.append(note)
            log(f"{name} {method}: {note}")
        else:
            runnable.append(method)
    samples, ceilings = time_methods(shape, runnable, device, repeats, max_seconds)
    for method in runnable:
        result = results[method]
        result.forward_s = samples[job_key(method, "forward")]
        result.fwd_bwd_s = samples[job_key(method, "fwd+bwd")]
        if repeats > 1 and min(len(result.forward_s), len(result.fwd_bwd_s)) == 1:
            result.notes.append(f"measured once: a run took over {max_seconds:g} s")
        try:
            result.peak_bytes = measure_peak_memory(method, shape, device)
        except BrokenProcessPool:
            result.notes.append("memory run died (out of memory?)")
        log(f"{name} {method}: peak memory {format_bytes(result.peak_bytes)} MiB")
    return ShapeResult(shape, results, ceilings)


def check_agreement(methods: list[str], device: torch.device) -> dict[str, float]:
    """Largest error of each method against the loop, over outputs and all gradients.

    Each tensor's max absolute difference is divided by the reference's max absolute value;
    the worst tensor is reported. This also warms every method up.
    """
    inputs = make_inputs(CHECK_SHAPE, device)
    reference = forward_backward(LOOP, inputs)
    errors = {}
    for method in methods:
        got = forward_backward(method, inputs)
        errors[method] = max(
            ((g - r).abs().max() / r.abs().max()).item()
            for g, r in zip(got, reference, strict=True)
        )
    return errors


def seconds_per_call(device: torch.device, work: Callable[[], object]) -> float:
    """Mean seconds of ``work()``, called repeatedly for about ``PROBE_SECONDS``."""
    calls = 0
    synchronize(device)
    start = time.perf_counter()
    while time.perf_counter() - start < PROBE_SECONDS:
        work()
        calls += 1
    synchronize(device)
    return (time.perf_counter() - start) / calls


class CeilingProbes:
    """The operations that bound a scan on this machine, timed between the methods' runs.

    - ``exp``: ``torch.exp`` of a cache-resident float32 tensor with the benchmark's threads;
      on the CPU also with one thread. A CPU kernel with one ``exp`` per state update cannot
      update states faster than ``threads`` x the one-thread rate.
    - ``copy``: ``COPY_BYTES`` copied into another tensor (read + write), beyond the caches.

    Each probe returns seconds per call; :meth:`rates` turns samples into elements/s and
    bytes/s.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.source = -torch.rand(EXP_ELEMENTS[device.type], device=device)
        self.target = torch.empty_like(self.source)
        self.big = torch.rand(COPY_BYTES // 4, device=device)
        self.big_target = self.big.clone()  # touched now, so no probe pays its page faults

    def exp(self) -> float:
        """Seconds of one ``exp`` of the probe tensor with the current thread count."""
        return seconds_per_call(self.device, lambda: torch.exp(self.source, out=self.target))

    def exp_one_thread(self) -> float:
        """Seconds of one ``exp`` of the probe tensor with a single torch thread."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.exp()
        finally:
            torch.set_num_threads(threads)

    def copy(self) -> float:
        """Seconds of one large copy."""
        return seconds_per_call(self.device, lambda: self.big_target.copy_(self.big))

    def jobs(self) -> dict[str, Callable[[], float]]:
        """The probes as round-robin jobs (the one-thread exp on the CPU only)."""
        jobs = {"exp probe": self.exp, "copy probe": self.copy}
        if self.device.type == "cpu":
            jobs["exp probe, 1 thread"] = self.exp_one_thread
        return jobs

    def rates(self, samples: dict[str, list[float]]) -> dict[str, list[float]]:
        """Elements/s of ``exp`` and bytes/s of the copy, from the jobs' seconds."""
        elements = self.source.numel()
        rates = {
            "exp elements/s": [elements / t for t in samples["exp probe"]],
            "copy bytes/s": [2 * COPY_BYTES / t for t in samples["copy probe"]],
        }
        if "exp probe, 1 thread" in samples:
            rates["exp elements/s, 1 thread"] = [
                elements / t for t in samples["exp probe, 1 thread"]
            ]
        return rates


def exp_ceiling(rates: dict[str, float], threads: int) -> float:
    """Most exp/s: threads x the one-thread rate on the CPU, the measured rate on a GPU."""
    if "exp elements/s, 1 thread" in rates:
        return threads * rates["exp elements/s, 1 thread"]
    return rates["exp elements/s"]


def scaling_exponents(
    device: torch.device, repeats: int, max_seconds: float
) -> dict[str, object]:
    """Time the auto backend on (1, 64, L, 16) for growing L; fit time ~ L**exponent."""
    inputs = {
        length: make_inputs((SCALING_BATCH, SCALING_DIM, length, SCALING_STATE), device)
        for length in SCALING_LENGTHS
    }
    jobs: dict[str, Callable[[], float]] = {}
    for length, x in inputs.items():
        jobs[job_key(f"L={length}", "forward")] = lambda x=x: time_forward(AUTO, x, device)
        jobs[job_key(f"L={length}", "fwd+bwd")] = lambda x=x: time_forward_backward(
            AUTO, x, device
        )
    samples = measure_round_robin(jobs, repeats, max_seconds, "scaling")
    result: dict[str, object] = {"lengths": list(SCALING_LENGTHS), "samples_s": samples}
    log_lengths = [math.log(length) for length in SCALING_LENGTHS]
    for phase in PHASES:
        medians = [statistics.median(samples[job_key(f"L={n}", phase)]) for n in SCALING_LENGTHS]
        fit = statistics.linear_regression(log_lengths, [math.log(t) for t in medians])
        result[f"{phase} median_s"] = medians
        result[f"{phase} exponent"] = fit.slope
    return result


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(device: torch.device) -> dict[str, object]:
    """Versions, CPU model, core and thread counts (and the GPU on CUDA)."""
    info: dict[str, object] = {
        "torch": torch.__version__,
        "tsssm": tsssm.__version__,
        "mambapy": importlib.metadata.version("mambapy"),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def parallel_efficiency(result: ShapeResult, threads: int) -> float | None:
    """torch's ``threads``-thread exp rate / (threads x its one-thread rate), on the CPU."""
    if threads == 1 or "exp elements/s, 1 thread" not in result.ceilings:
        return None
    return result.ceiling("exp elements/s") / (
        threads * result.ceiling("exp elements/s, 1 thread")
    )


def starvation_warning(shapes: list[ShapeResult], threads: int) -> str | None:
    """A warning when parallel regions were starved on some shape, else None.

    Other processes holding the cores make each parallel region wait for descheduled
    threads. That slows methods made of many small operations (loop, chunked, pscan) far
    more than one fused kernel, and so inflates the speedups.
    """
    starved = {
        shape_name(r.shape): e
        for r in shapes
        if (e := parallel_efficiency(r, threads)) is not None and e < MIN_PARALLEL_EFFICIENCY
    }
    if not starved:
        return None
    listing = ", ".join(f"{format_percent(e)} (on {name})" for name, e in starved.items())
    return (
        f"torch's {threads}-thread exp reached only {listing} of {threads} x its one-thread "
        "rate: other processes were holding the cores, which slows methods made of many "
        "small operations (loop, chunked, pscan) far more than the fused kernel and inflates "
        "the speedups on those shapes; rerun on a quiet machine or with --threads 1"
    )


def format_bytes(count: float | None) -> str:
    """Bytes as MiB, or "-" when not measured."""
    return "-" if count is None else f"{count / 2**20:.1f}"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    """``numerator / denominator`` with three significant digits and an x, or "-"."""
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    return f"{numerator / denominator:.3g}x"


def format_percent(fraction: float) -> str:
    """A fraction as a percentage: whole numbers from 10 %, two significant digits below."""
    return f"{100 * fraction:.0f}%" if fraction >= 0.1 else f"{100 * fraction:.2g}%"


def format_rate(count: float, seconds: float | None) -> str:
    """``count / seconds`` in millions, or "-"."""
    return "-" if seconds is None else f"{count / seconds / 1e6:.1f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table with padded columns, readable as plain text too."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def shape_tables(result: ShapeResult) -> str:
    """Absolute numbers and ratios for one shape, as two markdown tables."""
    count = updates(result.shape)
    methods = result.methods
    absolute = [
        [
            method,
            *(f"{1e3 * t:.1f}" if (t := r.median(p)) is not None else "-" for p in PHASES),
            *(format_rate(count, r.median(p)) for p in PHASES),
            format_bytes(r.peak_bytes),
            "; ".join(r.notes),
        ]
        for method, r in methods.items()
    ]
    ratios = []
    for method, r in methods.items():
        row = [method]
        for phase in PHASES:
            base = {b: methods[b].median(phase) if b in methods else None for b in BASELINES}
            known = [t for t in base.values() if t is not None]
            best = min(known) if known else None
            row += [format_ratio(t, r.median(phase)) for t in (base[LOOP], base[PSCAN], best)]
        pscan_bytes = methods[PSCAN].peak_bytes if PSCAN in methods else None
        ratios.append([*row, format_ratio(r.peak_bytes, pscan_bytes)])
    return "\n\n".join([
        f"### {shape_name(result.shape)} (batch x dim x length x state)",
        markdown_table(
            ["method", "fwd ms", "fwd+bwd ms", "fwd Mupd/s", "fwd+bwd Mupd/s", "peak MiB",
             "note"],
            absolute,
        ),
        "Speedup = baseline time / method time (higher is better); "
        "memory = method peak / pscan peak (lower is better).",
        markdown_table(
            ["method", "fwd vs loop", "fwd vs pscan", "fwd vs best", "f+b vs loop",
             "f+b vs pscan", "f+b vs best", "memory vs pscan"],
            ratios,
        ),
    ])


def ceiling_table(shapes: list[ShapeResult], threads: int) -> str:
    """The auto backend's forward updates/s against the exp and memory-bandwidth ceilings."""
    rows = []
    for result in shapes:
        batch, dim, length, state = result.shape
        count = updates(result.shape)
        seconds = result.methods[AUTO].median("forward")
        ceiling = exp_ceiling(result.ceiling_medians(), threads)
        efficiency = parallel_efficiency(result, threads)
        # Least traffic of a forward: read u, delta, z, write out; read B and C (float32).
        traffic = 4 * (4 * batch * dim * length + 2 * batch * state * length)
        rows.append([
            shape_name(result.shape),
            format_rate(count, seconds),
            f"{ceiling / 1e6:.0f}",
            "-" if seconds is None else format_percent(count / seconds / ceiling),
            "-" if efficiency is None else format_percent(efficiency),
            f"{result.ceiling('copy bytes/s') / 1e9:.1f}",
            f"{count * result.ceiling('copy bytes/s') / traffic / 1e6:.0f}",
        ])
    return markdown_table(
        ["shape", "auto fwd Mupd/s", "exp ceiling Mupd/s", "auto / exp ceiling",
         "exp parallel efficiency", "copy GB/s", "bandwidth-bound Mupd/s"],
        rows,
    )


def report_markdown(report: dict[str, object], shapes: list[ShapeResult]) -> str:
    """The whole report as markdown: machine, ceilings, agreement, shapes, scaling."""
    machine = report["machine"]
    parts = [
        f"# Selective-scan benchmark, {report['timestamp']}",
        ", ".join(f"{key}: {value}" for key, value in machine.items()),
        f"Repeats: {report['config']['repeats']} (medians, methods interleaved). "
        "Loop = `ref` backend (plain PyTorch loop over time); pscan = mambapy's parallel scan "
        "(pads length to the next power of two). Every method computes softplus(delta + "
        "delta_bias), D skip, silu(z) gate and the last state.",
        *([f"**Warning:** {report['warning']}."] if report["warning"] else []),
        "## Ceilings of this machine",
        "Measured within each shape's round-robin, beside the methods. exp ceiling = most state "
        f"updates/s of a kernel with one exp per update: {machine['threads']} x the one-thread "
        "rate of torch.exp on a cache-resident float32 tensor (on a GPU: the measured rate). "
        "exp parallel efficiency = torch's multi-threaded exp rate / that ceiling; far below "
        "100% means the threads were starved. Bandwidth-bound = updates/s if a forward only "
        f"had to move its inputs and output at the copy bandwidth ({COPY_BYTES >> 20} MiB "
        "copied, read + write counted).",
        ceiling_table(shapes, machine["threads"]),
        "## Agreement with the loop",
        "Worst max|method - loop| / max|loop| over out, last state and all 8 gradients, "
        f"on {shape_name(CHECK_SHAPE)}: "
        + ", ".join(f"{m} {e:.1e}" for m, e in report["agreement"].items()),
        "## Shapes",
        *map(shape_tables, shapes),
    ]
    scaling = report.get("scaling")
    if scaling:
        parts += [
            "## Scaling of the auto backend with length",
            f"(1, 64, L, 16); time ~ L^k by least squares over L = "
            f"{', '.join(map(str, scaling['lengths']))}:",
            markdown_table(
                ["L", "fwd ms", "fwd+bwd ms"],
                [
                    [str(n), f"{1e3 * f:.1f}", f"{1e3 * b:.1f}"]
                    for n, f, b in zip(scaling["lengths"], scaling["forward median_s"],
                                       scaling["fwd+bwd median_s"], strict=True)
                ],
            ),
            f"Exponent k: forward {scaling['forward exponent']:.3f}, "
            f"forward+backward {scaling['fwd+bwd exponent']:.3f} (1 = linear).",
        ]
    return "\n\n".join(parts) + "\n"


def shape_json(result: ShapeResult, threads: int) -> dict[str, object]:
    """One shape's raw samples and medians, JSON-ready."""
    medians = result.ceiling_medians()
    return {
        "shape": dict(zip(("batch", "dim", "length", "state"), result.shape, strict=True)),
        "updates": updates(result.shape),
        "ceilings": {
            "samples": result.ceilings,
            "medians": medians,
            "exp ceiling updates/s": exp_ceiling(medians, threads),
            "exp parallel efficiency": parallel_efficiency(result, threads),
        },
        "methods": {
            method: {
                "forward_s": r.forward_s,
                "fwd_bwd_s": r.fwd_bwd_s,
                "forward_median_s": r.median("forward"),
                "fwd_bwd_median_s": r.median("fwd+bwd"),
                "peak_bytes": r.peak_bytes,
                "notes": r.notes,
            }
            for method, r in result.methods.items()
        },
    }


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)  # temporary files are created private
    os.replace(tmp.name, path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="Time tsssm's selective-scan backends against a plain PyTorch loop (the "
        "'ref' backend) and mambapy's pscan: forward, forward+backward, peak memory, state "
        "updates/s and speedups, plus this machine's exp and bandwidth ceilings.",
        epilog="Default shapes: " + ", ".join(map(shape_name, DEFAULT_SHAPES)) + ". Results go "
        "to OUT_DIR/<device>-<timestamp>.json and OUT_DIR/<device>-latest.md.",
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"only the first {QUICK_SHAPE_COUNT} default shapes, "
                        f"{QUICK_REPEATS} repeat, no scaling section (about a minute)")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, metavar="BxDxLxN",
                        help="shapes to run instead of the defaults, e.g. 8x512x2048x16")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to run (default: cpu)")
    parser.add_argument("--repeats", type=int,
                        help=f"timed runs per method and shape, median reported (default: 3, "
                        f"{QUICK_REPEATS} with --quick)")
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="a measurement whose first run takes longer is not repeated "
                        "(default: 20)")
    parser.add_argument("--threads", type=int,
                        help="torch threads, used by the 'cpu' backend too (default: torch's)")
    parser.add_argument("--scaling", action=argparse.BooleanOptionalAction,
                        help="fit time ~ length^k for the auto backend on (1, 64, L, 16), "
                        f"L = {', '.join(map(str, SCALING_LENGTHS))} (default: on, off with "
                        "--quick)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results",
                        help="where the JSON and markdown results go (default: kernels/results)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else 3
    if args.scaling is None:
        args.scaling = not args.quick
    if args.shapes is None:
        args.shapes = DEFAULT_SHAPES[:QUICK_SHAPE_COUNT] if args.quick else DEFAULT_SHAPES
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the report and write the result files."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    methods = [AUTO, *available_backends(device), PSCAN]
    timestamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    machine = machine_info(device)
    log(f"methods: {', '.join(methods)}; threads: {torch.get_num_threads()}")

    agreement = check_agreement(methods, device)
    log("agreement with the loop: " + ", ".join(f"{m} {e:.1e}" for m, e in agreement.items()))
    shapes = [
        bench_shape(shape, methods, device, args.repeats, args.max_seconds)
        for shape in args.shapes
    ]
    warning = starvation_warning(shapes, torch.get_num_threads())
    if warning:
        log(f"warning: {warning}")
    report: dict[str, object] = {
        "timestamp": timestamp,
        "machine": machine,
        "config": {
            "shapes": [shape_name(s) for s in args.shapes], "repeats": args.repeats,
            "max_seconds": args.max_seconds, "methods": methods, "quick": args.quick,
        },
        "warning": warning,
        "agreement": agreement,
        "shapes": [shape_json(result, machine["threads"]) for result in shapes],
    }
    if args.scaling:
        report["scaling"] = scaling_exponents(device, args.repeats, args.max_seconds)

    markdown = report_markdown(report, shapes)
    print(markdown)
    json_path = args.out_dir / f"{device.type}-{timestamp}.json"
    write_atomically(json_path, json.dumps(report, indent=2) + "\n")
    write_atomically(args.out_dir / f"{device.type}-latest.md", markdown)
    log(f"wrote {json_path} and {args.out_dir / f'{device.type}-latest.md'}")


if __name__ == "__main__":
    main()
