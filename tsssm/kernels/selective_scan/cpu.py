"""Fast CPU selective scan: the fused C++ loop of ``csrc/cpu_scan.cpp`` behind autograd.

The forward runs the whole recurrence (softplus, decay, state update, read-out, skip and
gate) in one pass over tiles of channels (16 channels of one batch item per AVX-512 vector, 8
with AVX2, 4 otherwise), one ``exp2`` per state update, with the tile's states in registers.
The backward replays each tile's scan segment by segment (cache-sized scratch per thread),
then walks it in reverse. Nothing of size ``[batch, dim, length, state]`` is ever allocated,
so memory grows linearly with length.

The library is built by ``pip install`` (setup.py) and loaded with ctypes; it needs no torch
headers. It picks the widest instruction set the CPU has at run time (:func:`isa`); set
``ISA`` to run another one (tests do). Threads: ``torch.get_num_threads()`` at most, fewer on
small inputs (a persistent pool, so a call costs no thread start).
"""

from __future__ import annotations

import ctypes
import importlib.util

import torch

from ._inputs import ScanInputs

_INSTALL_HINT = (
    "the compiled CPU kernel (tsssm.kernels.selective_scan._cpu_scan) is not built (or "
    "was built from older sources); "
    "reinstall with a C++ compiler present: pip install --force-reinstall --no-deps ."
)


# The version of the C interface these bindings call (``tsssm_scan_abi_version`` in the source).
ABI_VERSION = 2


def _load_library() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("tsssm.kernels.selective_scan._cpu_scan")
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    # A library built from older sources has another C interface: calling it would be wrong.
    version = getattr(lib, "tsssm_scan_abi_version", None)
    if version is None or version() != ABI_VERSION:
        return None
    ptr, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    # batch dim length state groups, softplus reverse isa threads
    shape_args = [i64] * 5 + [i32] * 4
    # ... segment, then out, last, checkpoints
    lib.tsssm_scan_forward.argtypes = [ptr] * 9 + shape_args + [i64] + [ptr] * 3
    lib.tsssm_scan_forward.restype = i32
    # ... segment, then checkpoints and the gradients
    lib.tsssm_scan_backward.argtypes = [ptr] * 9 + shape_args + [i64] + [ptr] * 12
    lib.tsssm_scan_backward.restype = i32
    lib.tsssm_scan_segments.argtypes = [i64, i64, i32, i64]
    lib.tsssm_scan_segments.restype = i64
    lib.tsssm_scan_threads.argtypes = [i64] * 5 + [i32] * 2
    lib.tsssm_scan_threads.restype = i32
    lib.tsssm_scan_isa_name.argtypes = [i32]
    lib.tsssm_scan_isa_name.restype = ctypes.c_char_p
    lib.tsssm_scan_isa_supported.argtypes = [i32]
    lib.tsssm_scan_isa_supported.restype = i32
    return lib


_LIB = _load_library()

# Steps per segment of the backward's replay (the forward saves the state entering each
# segment); 0 lets the kernel pick a cache-sized segment. Tests set it small to exercise
# several segments on short sequences.
BACKWARD_SEGMENT_STEPS = 0

# The kernel's instruction sets, by the number the library knows them by.
ISAS = ("generic", "avx2", "avx512")
# Instruction set to run, one of ISAS; None: the widest this CPU supports.
ISA: str | None = None


def supported_isas() -> list[str]:
    """The instruction sets of ``ISAS`` that this CPU can run (empty if the kernel is not built)."""
    if _LIB is None:
        return []
    return [name for code, name in enumerate(ISAS) if _LIB.tsssm_scan_isa_supported(code)]


def isa() -> str | None:
    """The instruction set the kernel runs with now (``ISA`` if set), None if it is not built."""
    if _LIB is None:
        return None
    return _LIB.tsssm_scan_isa_name(_isa_code()).decode()


def _isa_code() -> int:
    if ISA is None:
        return -1
    if ISA not in supported_isas():
        raise ValueError(f"cpu.ISA = {ISA!r}: this CPU supports {supported_isas()}")
    return ISAS.index(ISA)


def _threads(batch: int, dim: int, length: int, state: int, groups: int, isa_code: int) -> int:
    return _LIB.tsssm_scan_threads(
        batch, dim, length, state, groups, isa_code, torch.get_num_threads()
    )


def unavailable_reason(device: torch.device) -> str | None:
    """None when the fused kernel can run on ``device``, else why not and what to do."""
    if device.type != "cpu":
        return f"the fused CPU kernel runs on CPU tensors only (got {device.type})."
    if _LIB is None:
        return _INSTALL_HINT
    return None


def _ptr(x: torch.Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


def _check_status(status: int, sizes: tuple[int, ...]) -> None:
    # The kernel refuses (-1) sizes it cannot scan, its last guard behind normalize_scan_inputs.
    if status != 0:
        raise ValueError(
            "selective_scan: the fused CPU kernel refused sizes (batch, dim, length, state, "
            f"groups) = {sizes}; every size must be >= 1 and dim a multiple of groups"
        )


class _FusedScan(torch.autograd.Function):
    """Autograd wrapper; inputs are float32 and contiguous, B and C [b, g, n, l]."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, h0, softplus, reverse):
        batch, dim, length = u.shape
        groups, state = B.shape[1], A.shape[1]
        isa_code = _isa_code()
        threads = _threads(batch, dim, length, state, groups, isa_code)
        out = torch.empty_like(u)
        last = u.new_empty(batch, dim, state)
        checkpoints = None
        if any(ctx.needs_input_grad):
            segments = _LIB.tsssm_scan_segments(length, state, isa_code, BACKWARD_SEGMENT_STEPS)
            checkpoints = u.new_empty(batch, dim, segments, state)
        status = _LIB.tsssm_scan_forward(
            *map(_ptr, (u, delta, A, B, C, D, z, delta_bias, h0)),
            batch, dim, length, state, groups, int(softplus), int(reverse), isa_code, threads,
            BACKWARD_SEGMENT_STEPS, out.data_ptr(), last.data_ptr(), _ptr(checkpoints),
        )
        _check_status(status, (batch, dim, length, state, groups))
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, h0, checkpoints)
        ctx.flags = (softplus, reverse, isa_code, BACKWARD_SEGMENT_STEPS)
        return out, last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, delta_bias, h0, checkpoints = ctx.saved_tensors
        softplus, reverse, isa_code, segment = ctx.flags
        batch, dim, length = u.shape
        groups, state = B.shape[1], A.shape[1]
        threads = _threads(batch, dim, length, state, groups, isa_code)
        dout = dout.contiguous() if dout is not None else torch.zeros_like(u)
        dlast = dlast.contiguous() if dlast is not None else None
        du, ddelta = torch.empty_like(u), torch.empty_like(u)
        dz = torch.empty_like(u) if z is not None else None
        dh0 = torch.empty_like(h0) if h0 is not None else None
        # Per-thread partial sums, reduced below in a fixed order (deterministic).
        dA = u.new_zeros(threads, dim, state)
        dD = u.new_zeros(threads, dim) if D is not None else None
        dbias = u.new_zeros(threads, dim) if delta_bias is not None else None
        dB = u.new_zeros(threads, *B.shape)
        dC = u.new_zeros(threads, *C.shape)
        status = _LIB.tsssm_scan_backward(
            *map(_ptr, (u, delta, A, B, C, D, z, delta_bias, h0)),
            batch, dim, length, state, groups, int(softplus), int(reverse), isa_code, threads,
            segment, checkpoints.data_ptr(),
            *map(_ptr, (dout, dlast, du, ddelta, dz, dh0, dA, dD, dbias, dB, dC)),
        )
        _check_status(status, (batch, dim, length, state, groups))
        return (
            du, ddelta, dA.sum(0), dB.sum(0), dC.sum(0),
            None if dD is None else dD.sum(0), dz, None if dbias is None else dbias.sum(0),
            dh0, None, None,
        )


def selective_scan_cpu(inputs: ScanInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused CPU selective scan; same contract as :func:`reference.selective_scan_ref`.

    Inputs of any floating dtype are computed in float32; ``out`` comes back in ``u``'s
    dtype and ``last_state`` in float32.
    """
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)

    def f32(x: torch.Tensor | None) -> torch.Tensor | None:
        # Differentiable cast: autograd returns each gradient in its input's dtype.
        return None if x is None else x.to(torch.float32).contiguous()

    out, last = _FusedScan.apply(
        f32(inputs.u), f32(inputs.delta), f32(inputs.A),
        f32(inputs.B), f32(inputs.C),
        f32(inputs.D), f32(inputs.z), f32(inputs.delta_bias), f32(inputs.initial_state),
        inputs.delta_softplus, inputs.reverse,
    )
    return out.to(inputs.u.dtype), last
