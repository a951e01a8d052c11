"""Benchmark of tsssm's selective-scan backends against a plain loop and mambapy's pscan.

Every method computes the same full selective scan (softplus of ``delta + delta_bias``, skip
``D``, gate ``silu(z)``, last state) on the same inputs. For each shape and method it measures
the forward time (under ``torch.no_grad``), the forward+backward time (gradients of all eight
inputs), the peak memory of forward+backward and the state updates per second, and prints
speedups against the two baselines. In the same run it measures the ceilings this machine
sets (``exp`` throughput and copy bandwidth) and fits how the ``auto`` backend's time grows
with length. See benchmarks/kernels/README.md for how to read the output.

    python benchmarks/kernels/bench.py            # every shape, scaling fit, 3 repeats (minutes)
    python benchmarks/kernels/bench.py --quick    # two small shapes, 1 repeat (about a minute)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_report import (
    AUTO,
    CHECK_SHAPE,
    COPY_BYTES,
    LOOP,
    PHASES,
    PSCAN,
    MethodResult,
    Shape,
    ShapeResult,
    format_bytes,
    machine_info,
    report_markdown,
    shape_json,
    shape_name,
    starvation_warning,
    write_atomically,
)
from bench_timing import (
    log,
    measure_round_robin,
    peak_bytes_of,
    synchronize,
    timed,
)
from mambapy.pscan import pscan

from tsssm.kernels import available_backends, selective_scan

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


# float32 elements of the exp-throughput tensor: on the CPU 1 MiB in and 1 MiB out, which
# stay in a core's L2 cache; on a GPU enough to hide the launch overhead (memory-bound there).
EXP_ELEMENTS = {"cpu": 1 << 18, "cuda": 1 << 26}
# Side of the square float32 matrices of the FMA probe: three of them (768 KiB) stay in L2.
FMA_SIDE = 256
PROBE_SECONDS = 0.1  # each ceiling probe repeats its operation for about this long
# Peak memory of forward+backward in [batch, length, dim, state] float32 tensors, for the
# methods whose memory grows with it (pscan at its padded length); measured at 32x256x512x16
# and rounded up. A method whose estimate exceeds the free memory is skipped on that shape.
FULL_STATE_COPIES = {PSCAN: 10.0, LOOP: 7.0, "chunked": 9.0}
MEMORY_HEADROOM = 0.8  # use at most this fraction of the free memory



def parse_shape(text: str) -> Shape:
    """Parse ``BATCHxDIMxLENGTHxSTATE`` (e.g. ``8x512x2048x16``) for argparse."""
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not BATCHxDIMxLENGTHxSTATE with positive integers, e.g. 8x512x2048x16"
        )
    batch, dim, length, state = map(int, parts)
    return batch, dim, length, state


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




def job_key(method: str, phase: str) -> str:
    """Key of one (method, phase) job in :func:`measure_round_robin`."""
    return f"{method} {phase}"






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
    return peak_bytes_of(device, lambda: forward_backward(method, inputs))


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
    - ``fma`` (CPU only): a one-thread float32 matrix product of cache-resident matrices,
      the rate at which this CPU's vector unit does multiply-adds (``FMA_SIDE**3`` a call).
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
        self.square = torch.rand(FMA_SIDE, FMA_SIDE, device=device)
        self.product = torch.empty_like(self.square)

    def exp(self) -> float:
        """Seconds of one ``exp`` of the probe tensor with the current thread count."""
        return seconds_per_call(self.device, lambda: torch.exp(self.source, out=self.target))

    def exp_one_thread(self) -> float:
        """Seconds of one ``exp`` of the probe tensor with a single torch thread."""
        return one_thread(self.exp)

    def fma_one_thread(self) -> float:
        """Seconds of one ``FMA_SIDE``-square matrix product with a single torch thread."""
        return one_thread(lambda: seconds_per_call(
            self.device, lambda: torch.mm(self.square, self.square, out=self.product)
        ))

    def copy(self) -> float:
        """Seconds of one large copy."""
        return seconds_per_call(self.device, lambda: self.big_target.copy_(self.big))

    def jobs(self) -> dict[str, Callable[[], float]]:
        """The probes as round-robin jobs (the one-thread exp on the CPU only)."""
        jobs = {"exp probe": self.exp, "copy probe": self.copy}
        if self.device.type == "cpu":
            jobs["exp probe, 1 thread"] = self.exp_one_thread
            jobs["fma probe, 1 thread"] = self.fma_one_thread
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
            rates["fma/s, 1 thread"] = [FMA_SIDE**3 / t for t in samples["fma probe, 1 thread"]]
        return rates


def one_thread(work: Callable[[], float]) -> float:
    """``work()`` run with a single torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return work()
    finally:
        torch.set_num_threads(threads)


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
    parser.add_argument("--scan2d", action="store_true",
                        help="instead, benchmark the 2-D selective scan: the fused kernel of "
                        "the device (C++ on the CPU, Triton with --device cuda) with and "
                        "without couplings, the two-pass path and the double-loop reference "
                        "on a 16x512x32 (batch x time x variates) grid, and how they grow "
                        "along each axis (see bench_scan2d.py)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results",
                        help="where the JSON and markdown results go "
                        "(default: benchmarks/kernels/results)")
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
    if args.scan2d:
        from bench_scan2d import run_scan2d

        run_scan2d(args)
        return
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
