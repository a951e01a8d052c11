"""What calling the fused CPU scan through its PyTorch operator costs per call.

Times, at one shape (default S-Mamba's 8 x 128 x 96 x 16), the registered operator
``torch.ops.tsssm.selective_scan_fwd`` (dispatcher, autograd registration, backward operator)
against the same host functions behind a plain ``torch.autograd.Function`` (how the kernel was
called before it was an operator), forward under ``no_grad`` and forward + backward. Both are
interleaved call by call, so a busy phase of the machine hits both alike; the median and the
fastest call of each are printed as a Markdown table.

    python benchmarks/kernels/bench_op_overhead.py --calls 300 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tsssm.kernels.selective_scan import cpu


class _DirectScan(torch.autograd.Function):
    """The host functions without the operator layer (the baseline)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias):
        save = any(ctx.needs_input_grad)
        out, last, checkpoints = cpu.scan_forward(u, delta, A, B, C, D, z, delta_bias, None,
                                                  True, False, save)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, checkpoints)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        *tensors, checkpoints = ctx.saved_tensors
        grads = cpu.scan_backward(*tensors, None, checkpoints, dout, dlast, True, False)
        return grads[:8]


def _operator(u, delta, A, B, C, D, z, delta_bias):
    save = torch.is_grad_enabled()
    out, last, _ = cpu.selective_scan_fwd(u, delta, A, B, C, D, z, delta_bias, None, True,
                                          False, save)
    return out, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=(8, 128, 96, 16),
                        metavar=("BATCH", "DIM", "LENGTH", "STATE"))
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch, dim, length, state = args.shape
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(batch, dim, length, generator=gen),
              torch.randn(batch, dim, length, generator=gen) - 1.0,
              -torch.rand(dim, state, generator=gen) - 0.5,
              torch.randn(batch, 1, state, length, generator=gen),
              torch.randn(batch, 1, state, length, generator=gen),
              torch.randn(dim, generator=gen), torch.randn(batch, dim, length, generator=gen),
              torch.randn(dim, generator=gen) * 0.1]
    leaves = [x.clone().requires_grad_() for x in inputs]
    paths = {"operator": _operator, "autograd.Function": _DirectScan.apply}

    def forward(scan) -> None:
        with torch.no_grad():
            scan(*inputs)

    def forward_backward(scan) -> None:
        out, last = scan(*leaves)
        (out.sum() + last.sum()).backward()

    print(f"shape {batch}x{dim}x{length}x{state}, {torch.get_num_threads()} threads, "
          f"{args.calls} calls each, microseconds per call (median; fastest call)\n")
    print("| pass | operator | autograd.Function | operator - Function |")
    print("| --- | ---: | ---: | ---: |")
    for label, work in (("forward", forward), ("forward+backward", forward_backward)):
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for call in range(args.calls + 10):
            for name, scan in paths.items():
                start = time.perf_counter()
                work(scan)
                if call >= 10:  # the first calls warm up caches and the thread pool
                    samples[name].append(time.perf_counter() - start)
        op, direct = (statistics.median(samples[name]) * 1e6 for name in paths)
        op_min, direct_min = (min(samples[name]) * 1e6 for name in paths)
        print(f"| {label} | {op:.0f}; {op_min:.0f} | {direct:.0f}; {direct_min:.0f} | "
              f"{op - direct:+.0f} ({(op - direct) / direct:+.1%}); {op_min - direct_min:+.0f} "
              f"({(op_min - direct_min) / direct_min:+.1%}) |")


if __name__ == "__main__":
    main()
