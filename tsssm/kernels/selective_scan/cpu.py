"""Fast CPU selective scan: the fused C++ loop of ``csrc/cpu_scan.cpp`` behind autograd.

The forward runs the whole recurrence (softplus, decay, state update, read-out, skip and
gate) in one pass over tiles of channels (16 channels of one batch item per AVX-512 vector, 8
with AVX2, 4 otherwise), one ``exp2`` per state update, with the tile's states in registers.
The backward replays each tile's scan segment by segment (cache-sized scratch per thread),
then walks it in reverse. Nothing of size ``[batch, dim, length, state]`` is ever allocated,
so memory grows linearly with length.

The library is built by ``pip install`` (setup.py) and loaded with ctypes; it needs no torch
headers. Forward and backward are registered as PyTorch operators
(``torch.ops.tsssm.selective_scan_fwd`` / ``selective_scan_bwd``, with fake implementations
and autograd), so that ``torch.compile(fullgraph=True)`` and ``torch.export`` trace through
the scan. It picks the widest instruction set the CPU has at run time (:func:`isa`); set
``ISA`` to run another one (tests do). Threads: ``torch.get_num_threads()`` at most, fewer on
small inputs (a persistent pool, so a call costs no thread start).
"""

from __future__ import annotations

import ctypes

import torch

from .._native import ISAS, load_library
from .._native import supported_isas as _supported_isas
from ._inputs import ScanInputs

_INSTALL_HINT = (
    "the compiled CPU kernel (tsssm.kernels.selective_scan._cpu_scan) is not built (or "
    "was built from older sources); "
    "reinstall with a C++ compiler present: pip install --force-reinstall --no-deps ."
)


# The version of the C interface these bindings call (``tsssm_scan_abi_version`` in the source).
ABI_VERSION = 3


def _load_library() -> ctypes.CDLL | None:
    lib = load_library("tsssm.kernels.selective_scan._cpu_scan", "tsssm_scan_abi_version",
                       ABI_VERSION)
    if lib is None:
        return None
    ptr, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    # batch dim length state groups, softplus reverse channel_last isa threads
    shape_args = [i64] * 5 + [i32] * 5
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
    return lib


_LIB = _load_library()

# Steps per segment of the backward's replay (the forward saves the state entering each
# segment); 0 lets the kernel pick a cache-sized segment. Tests set it small to exercise
# several segments on short sequences.
BACKWARD_SEGMENT_STEPS = 0

# Instruction set to run, one of ISAS; None: the widest this CPU supports.
ISA: str | None = None


def supported_isas() -> list[str]:
    """The instruction sets of ``ISAS`` that this CPU can run (empty if the kernel is not built)."""
    return _supported_isas(_LIB, "tsssm_scan_isa_supported")


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


def _require_float32(op: str, named: dict[str, torch.Tensor | None]) -> None:
    for name, x in named.items():
        if x is not None and x.dtype != torch.float32:
            raise ValueError(f"{op}: `{name}` has dtype {x.dtype}; the fused kernel needs float32")


def _check_dtypes(u, delta, A, B, C, D, z, delta_bias, initial_state) -> None:
    _require_float32("tsssm::selective_scan_fwd", {
        "u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z,
        "delta_bias": delta_bias, "initial_state": initial_state})


def _contiguous(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    return [None if x is None else x.contiguous() for x in tensors]


def is_channel_last(u: torch.Tensor) -> bool:
    """Whether ``u`` [batch, dim, length] is stored as [batch, length, dim] (a transposed
    view of a Mamba mixer's projection): the kernel then reads ``u``, ``delta`` and ``z``
    and writes its outputs in that layout, with ``B`` and ``C`` as [batch, length, groups,
    state], and nothing is copied. A tensor that is contiguous both ways (length or dim 1)
    counts as length-major."""
    return not u.is_contiguous() and u.transpose(1, 2).is_contiguous()


# The storage order of a channel-last [batch, dim, length] or [batch, groups, state, length]
# tensor, and the permutation that turns the stored tensor back into that shape.
_STORED = {3: ((0, 2, 1), (0, 2, 1)), 4: ((0, 3, 1, 2), (0, 2, 3, 1))}


def _in_layout(x: torch.Tensor | None, channel_last: bool) -> torch.Tensor | None:
    """``x`` ([batch, dim, length] or [batch, groups, state, length]) stored in the kernel's
    layout: contiguous, or with channel_last, the length axis right after the batch's (a
    copy only where it is stored otherwise)."""
    if x is None or not channel_last:
        return None if x is None else x.contiguous()
    order, back = _STORED[x.dim()]
    return x.permute(order).contiguous().permute(back)


def _new_in_layout(x: torch.Tensor, channel_last: bool, leading: tuple[int, ...] = ()
                   ) -> torch.Tensor:
    """Zeros of shape ``leading + x.shape`` whose last ``x.dim()`` axes are in the kernel's
    layout (see _in_layout)."""
    if not channel_last:
        return x.new_zeros(*leading, *x.shape)
    order, back = _STORED[x.dim()]
    k = len(leading)
    stored = x.new_zeros(*leading, *(x.shape[i] for i in order))
    return stored.permute(*range(k), *(k + i for i in back))


def _kernel_inputs(channel_last: bool, u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor,
                   B: torch.Tensor, C: torch.Tensor, D: torch.Tensor | None,
                   z: torch.Tensor | None, delta_bias: torch.Tensor | None,
                   initial_state: torch.Tensor | None) -> list[torch.Tensor | None]:
    """The scan's inputs as the kernel reads them: ``u``, ``delta``, ``z``, ``B`` and ``C`` in
    the layout ``channel_last`` names, the others contiguous."""
    return [_in_layout(u, channel_last), _in_layout(delta, channel_last), A.contiguous(),
            _in_layout(B, channel_last), _in_layout(C, channel_last), *_contiguous(D),
            _in_layout(z, channel_last), *_contiguous(delta_bias, initial_state)]


def _absent(like: torch.Tensor) -> torch.Tensor:
    """Stands for the gradient of an input that was None (an op cannot return None; each is a
    new tensor, as an op's outputs must not alias one another)."""
    return like.new_empty(0)


def _checkpoint_count(length: int, state: int, isa: int, segment_steps: int) -> int:
    """Segments of the backward's replay; the forward saves the state entering each."""
    if isinstance(length, torch.SymInt) or isinstance(state, torch.SymInt):
        # The count is the kernel's choice (a cache-sized segment), known only at run time.
        return torch.library.get_ctx().new_dynamic_size()
    return _LIB.tsssm_scan_segments(length, state, isa, segment_steps)


# The fused kernel as PyTorch operators (torch.ops.tsssm.*): torch.compile and torch.export see
# them as single nodes whose output shapes come from the fake implementations below, and
# autograd reaches the hand-written backward through an operator as well.
#
# ``selective_scan_fwd`` returns ``(out [b, d, l], last [b, d, n], checkpoints)``, the
# checkpoints ``[b, d, segments, n]`` the backward replays from when ``save_checkpoints`` is
# true (``[b, d, 0, n]`` otherwise). Inputs are float32, B and C ``[b, g, n, l]``; ``isa`` is
# an index into ``ISAS`` (-1: the widest the CPU has) and ``segment_steps`` the backward's
# segment length (0: the kernel's choice); the backward op must get the forward's values.


def scan_forward(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
    D: torch.Tensor | None, z: torch.Tensor | None, delta_bias: torch.Tensor | None,
    initial_state: torch.Tensor | None, delta_softplus: bool, reverse: bool,
    save_checkpoints: bool, isa: int = -1, segment_steps: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forward kernel through ctypes (the implementation of ``tsssm::selective_scan_fwd``)."""
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)
    _check_dtypes(u, delta, A, B, C, D, z, delta_bias, initial_state)
    channel_last = is_channel_last(u)
    tensors = _kernel_inputs(channel_last, u, delta, A, B, C, D, z, delta_bias, initial_state)
    u = tensors[0]
    batch, dim, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    threads = _threads(batch, dim, length, state, groups, isa)
    out = torch.empty_like(u)  # in u's layout
    last = u.new_empty(batch, dim, state)
    segments = _checkpoint_count(length, state, isa, segment_steps) if save_checkpoints else 0
    checkpoints = u.new_empty(batch, dim, segments, state)
    status = _LIB.tsssm_scan_forward(
        *map(_ptr, tensors),
        batch, dim, length, state, groups, int(delta_softplus), int(reverse), int(channel_last),
        isa, threads, segment_steps, out.data_ptr(), last.data_ptr(),
        checkpoints.data_ptr() if save_checkpoints else None,
    )
    _check_status(status, (batch, dim, length, state, groups))
    return out, last, checkpoints


selective_scan_fwd = torch.library.custom_op(
    "tsssm::selective_scan_fwd", scan_forward, mutates_args=(), device_types="cpu"
)


@selective_scan_fwd.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus, reverse,
      save_checkpoints, isa=-1, segment_steps=0):
    _check_dtypes(u, delta, A, B, C, D, z, delta_bias, initial_state)
    batch, dim, length = u.shape
    state = A.shape[1]
    segments = _checkpoint_count(length, state, isa, segment_steps) if save_checkpoints else 0
    return (_new_in_layout(u, is_channel_last(u)), u.new_empty(batch, dim, state),
            u.new_empty(batch, dim, segments, state))


def scan_backward(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
    D: torch.Tensor | None, z: torch.Tensor | None, delta_bias: torch.Tensor | None,
    initial_state: torch.Tensor | None, checkpoints: torch.Tensor, dout: torch.Tensor,
    dlast: torch.Tensor | None, delta_softplus: bool, reverse: bool, isa: int = -1,
    segment_steps: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
           torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backward kernel through ctypes (the implementation of ``tsssm::selective_scan_bwd``):
    gradients ``(du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state)``, those of
    inputs that were None empty tensors."""
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)
    channel_last = is_channel_last(u)
    tensors = _kernel_inputs(channel_last, u, delta, A, B, C, D, z, delta_bias, initial_state)
    u, A, B, C, D, z, delta_bias, h0 = (tensors[0], *tensors[2:])
    batch, dim, length = u.shape
    groups, state = B.shape[1], A.shape[1]
    if checkpoints.shape[2] != _checkpoint_count(length, state, isa, segment_steps):
        raise RuntimeError("tsssm::selective_scan_bwd: `checkpoints` do not come from a forward "
                           "with save_checkpoints=True and the same isa and segment_steps")
    threads = _threads(batch, dim, length, state, groups, isa)
    dout = _in_layout(dout, channel_last)
    dlast, checkpoints = _contiguous(dlast, checkpoints)
    du, ddelta = torch.empty_like(u), torch.empty_like(u)  # in u's layout
    dz = torch.empty_like(u) if z is not None else None
    dh0 = torch.empty_like(h0) if h0 is not None else None
    # Per-thread partial sums, reduced below in a fixed order (deterministic).
    dA = u.new_zeros(threads, dim, state)
    dD = u.new_zeros(threads, dim) if D is not None else None
    dbias = u.new_zeros(threads, dim) if delta_bias is not None else None
    dB, dC = (_new_in_layout(x, channel_last, (threads,)) for x in (B, C))
    status = _LIB.tsssm_scan_backward(
        *map(_ptr, tensors),
        batch, dim, length, state, groups, int(delta_softplus), int(reverse), int(channel_last),
        isa, threads, segment_steps, checkpoints.data_ptr(),
        *map(_ptr, (dout, dlast, du, ddelta, dz, dh0, dA, dD, dbias, dB, dC)),
    )
    _check_status(status, (batch, dim, length, state, groups))
    return (
        du, ddelta, dA.sum(0), _in_layout(dB.sum(0), channel_last),
        _in_layout(dC.sum(0), channel_last),
        _absent(u) if dD is None else dD.sum(0), _absent(u) if dz is None else dz,
        _absent(u) if dbias is None else dbias.sum(0), _absent(u) if dh0 is None else dh0,
    )


selective_scan_bwd = torch.library.custom_op(
    "tsssm::selective_scan_bwd", scan_backward, mutates_args=(), device_types="cpu"
)


@selective_scan_bwd.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, initial_state, checkpoints, dout, dlast,
      delta_softplus, reverse, isa=-1, segment_steps=0):
    channel_last = is_channel_last(u)

    def like(x: torch.Tensor | None, layout: bool = False) -> torch.Tensor:
        if x is None:
            return _absent(u)
        return _new_in_layout(x, channel_last) if layout else x.new_empty(x.shape)

    return (like(u, True), like(delta, True), like(A), like(B, True), like(C, True), like(D),
            like(z, True), like(delta_bias), like(initial_state))


def _setup_context(ctx, inputs, output) -> None:
    *tensors, softplus, reverse, _, isa, segment = inputs
    ctx.save_for_backward(*tensors, output[2])
    ctx.mark_non_differentiable(output[2])  # no zero gradient is made for the checkpoints
    ctx.flags = (softplus, reverse, isa, segment)


def _backward(ctx, dout, dlast, _dcheckpoints):
    *tensors, checkpoints = ctx.saved_tensors
    softplus, reverse, isa, segment = ctx.flags
    grads = selective_scan_bwd(*tensors, checkpoints, dout, dlast, softplus, reverse, isa,
                               segment)
    grads = [None if x is None else g for x, g in zip(tensors, grads, strict=True)]
    return (*grads, None, None, None, None, None)


selective_scan_fwd.register_autograd(_backward, setup_context=_setup_context)


def selective_scan_cpu(inputs: ScanInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused CPU selective scan; same contract as :func:`reference.selective_scan_ref`.

    Inputs of any floating dtype are computed in float32; ``out`` comes back in ``u``'s
    dtype and ``last_state`` in float32.
    """
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)

    def f32(x: torch.Tensor | None) -> torch.Tensor | None:
        # Differentiable cast: autograd returns each gradient in its input's dtype. The
        # layout is left to the operator (it reads channel-last inputs in place).
        return None if x is None else x.to(torch.float32)

    tensors = [f32(x) for x in (inputs.u, inputs.delta, inputs.A, inputs.B, inputs.C, inputs.D,
                                inputs.z, inputs.delta_bias, inputs.initial_state)]
    # Only a scan that autograd will differentiate saves the backward's checkpoints.
    save_checkpoints = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in tensors
    )
    out, last, _ = selective_scan_fwd(
        *tensors, inputs.delta_softplus, inputs.reverse, save_checkpoints, _isa_code(),
        BACKWARD_SEGMENT_STEPS,
    )
    return out.to(inputs.u.dtype), last
