"""The reporting half of bench.py: result records, machine facts, markdown and JSON.

bench.py runs as a script, so this folder is on ``sys.path`` and it imports this module by
name; the folder is deliberately not a package (see DESIGN.md).
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

import tsssm
from tsssm.kernels.scan2d import cpu as cpu_kernel_2d
from tsssm.kernels.selective_scan import cpu as cpu_kernel

Shape = tuple[int, int, int, int]  # (batch, dim, length, state)

# Small enough to be instant, length not a power of two so that pscan's padding is exercised.
CHECK_SHAPE: Shape = (2, 32, 100, 16)
COPY_BYTES = 256 << 20  # copied into a second tensor: 512 MiB in all, beyond the caches
LOOP, PSCAN, AUTO = "ref", "pscan", "auto"
BASELINES = (LOOP, PSCAN)
PHASES = ("forward", "fwd+bwd")
# Below this, torch's multi-threaded exp reaches too little of threads x its one-thread rate:
# other processes hold the cores and every parallel region waits for descheduled threads.
MIN_PARALLEL_EFFICIENCY = 0.5


def shape_name(shape: Shape) -> str:
    """``(8, 512, 2048, 16)`` -> ``"8x512x2048x16"``."""
    return "x".join(map(str, shape))


def updates(shape: Shape) -> int:
    """State updates of one scan: batch * dim * length * state."""
    return math.prod(shape)



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



def exp_ceiling(rates: dict[str, float], threads: int) -> float:
    """Most exp/s: threads x the one-thread rate on the CPU, the measured rate on a GPU."""
    if "exp elements/s, 1 thread" in rates:
        return threads * rates["exp elements/s, 1 thread"]
    return rates["exp elements/s"]



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
        # The instruction set the fused CPU kernel runs with (chosen at run time).
        "cpu_kernel_isa": cpu_kernel.isa() or "not built",
        "cpu_kernel_2d_isa": cpu_kernel_2d.isa() or "not built",
        "load_average_1min_at_start": os.getloadavg()[0],
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def fma_ceiling(rates: dict[str, float], threads: int) -> float | None:
    """Multiply-adds/s: threads x the one-thread matrix-product rate (CPU only, else None)."""
    if "fma/s, 1 thread" not in rates:
        return None
    return threads * rates["fma/s, 1 thread"]


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
        fma = fma_ceiling(result.ceiling_medians(), threads)
        efficiency = parallel_efficiency(result, threads)
        # Least traffic of a forward: read u, delta, z, write out; read B and C (float32).
        traffic = 4 * (4 * batch * dim * length + 2 * batch * state * length)
        rows.append([
            shape_name(result.shape),
            format_rate(count, seconds),
            f"{ceiling / 1e6:.0f}",
            "-" if seconds is None else format_percent(count / seconds / ceiling),
            "-" if fma is None else f"{fma / 1e9:.1f}",
            "-" if fma is None or seconds is None else f"{fma * seconds / count:.1f}",
            "-" if efficiency is None else format_percent(efficiency),
            f"{result.ceiling('copy bytes/s') / 1e9:.1f}",
            f"{count * result.ceiling('copy bytes/s') / traffic / 1e6:.0f}",
        ])
    return markdown_table(
        ["shape", "auto fwd Mupd/s", "exp ceiling Mupd/s", "auto / exp ceiling",
         "FMA ceiling GFMA/s", "FMA time per update", "exp parallel efficiency", "copy GB/s",
         "bandwidth-bound Mupd/s"],
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
        "100% means the threads were starved. FMA ceiling = "
        f"{machine['threads']} x the one-thread multiply-add rate of a cache-resident float32 "
        "matrix product; FMA time per update = how many float32 multiply-adds the vector unit "
        "could have done in the time auto's forward spent per state update. The fused kernel "
        "spends about 12 vector-lane operations on an update with AVX-512 (dt * A, exp2 as a "
        "rounding, a 5-term polynomial and a scaling, the state update and the read-out), "
        "about 14 with AVX2; a figure near that means it issues at the vector unit's peak. "
        "Bandwidth-bound = updates/s if a forward only "
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
            "fma ceiling fma/s": fma_ceiling(medians, threads),
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


