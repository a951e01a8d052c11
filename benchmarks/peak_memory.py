"""Peak resident memory of a piece of work, measured in a fresh process (Linux only).

A fresh ``spawn`` process runs ``setup(*args)`` (not counted), restarts the kernel's peak
counter (``/proc/self/clear_refs``), runs ``work(setup's result)`` and reports the peak resident
memory (``VmHWM``) above what was resident before the work, in MiB.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path
from typing import Any


def memory_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _child(setup: Callable[..., Any], work: Callable[[Any], Any], args: tuple,
           queue: mp.Queue) -> None:
    prepared = setup(*args)
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from now
    base = memory_kib("VmRSS")
    work(prepared)
    queue.put((memory_kib("VmHWM") - base) / 1024)


def peak_memory_mib(setup: Callable[..., Any], work: Callable[[Any], Any], *args: Any) -> float:
    """Peak MiB of ``work(setup(*args))`` above the memory held after ``setup`` (both must be
    module-level functions, so that a spawned process can import them)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(setup, work, args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result
