"""Timing and memory helpers shared by the kernel benchmarks (bench.py, bench_scan2d.py)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import torch

_START = time.perf_counter()


def log(message: str) -> None:
    """Print a progress line on stderr, stamped with the seconds since the start."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock time covers it; no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# A job faster than this is timed again over enough calls to last this long: one call of a
# millisecond would time the previous job's cold caches and sleeping threads, not the work.
MIN_TIMED_SECONDS = 0.05


def timed(device: torch.device, work: Callable[[], object]) -> float:
    """Wall-clock seconds of one ``work()``, synchronised with the device on both ends: of
    the first call when it takes :data:`MIN_TIMED_SECONDS` or more, else the mean of as many
    further calls as fill that time (the first one then only warms up)."""
    synchronize(device)
    start = time.perf_counter()
    work()
    synchronize(device)
    first = time.perf_counter() - start
    if first >= MIN_TIMED_SECONDS:
        return first
    calls = math.ceil(MIN_TIMED_SECONDS / max(first, 1e-6))
    start = time.perf_counter()
    for _ in range(calls):
        work()
    synchronize(device)
    return (time.perf_counter() - start) / calls


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


def peak_bytes_of(device: torch.device, work: Callable[[], object]) -> int:
    """Bytes that ``work()`` adds to the peak: of the process's resident set on the CPU (see
    :func:`reset_peak_resident_bytes`), of ``torch.cuda.max_memory_allocated`` on CUDA."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        work()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - baseline
    baseline = reset_peak_resident_bytes()
    work()
    return peak_resident_bytes() - baseline
