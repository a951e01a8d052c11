"""Fused CPU 2-D selective scan: the C++ loop of ``csrc/cpu_scan2d.cpp`` behind autograd.

The forward runs the whole recurrence of :mod:`.reference` (softplus, both decays, both
couplings, read-outs, skip and gate) in one pass over tiles of channels (16 channels of one
batch item per AVX-512 vector, 8 with AVX2, 4 otherwise), time outer and variates inner,
keeping only the current column of states (``period`` columns of time states and one of
variate states). The backward replays each row from checkpoints, one segment of
columns at a time (scratch of ``segment x n_vars x state`` floats per thread), and walks it in
reverse with the gradients of the time and variate states carried like the states themselves.
Nothing of size ``[batch, dim, n_vars, length, state]`` is ever allocated.

The library is built by ``pip install`` (setup.py, an optional extension) and loaded with
ctypes; it needs no torch headers. Forward and backward are registered as PyTorch operators
(``torch.ops.tsssm.selective_scan_2d_fwd`` / ``selective_scan_2d_bwd``, with fake
implementations and autograd), so that ``torch.compile(fullgraph=True)`` and ``torch.export``
trace through the scan. It runs the instruction set that the 1-D kernel's setting picks
(:data:`tsssm.kernels.selective_scan.cpu.ISA`, None: the widest this CPU has; :func:`isa`).
Threads: ``torch.get_num_threads()`` at most (fewer on small inputs in the forward, one batch
item per thread at least in the backward).
"""

from __future__ import annotations

import ctypes

import torch

from .._native import ISAS, load_library
from .._native import supported_isas as _supported_isas
from ..selective_scan import cpu as _scan_cpu
from ._inputs import Scan2DInputs

_INSTALL_HINT = (
    "the compiled 2-D CPU kernel (tsssm.kernels.scan2d._cpu_scan2d) is not built (or "
    "was built from older sources); "
    "reinstall with a C++ compiler present: pip install --force-reinstall --no-deps ."
)

_PTR, _I64 = ctypes.c_void_p, ctypes.c_int64
_INPUT_NAMES = ("u", "delta_time", "delta_var", "A_time", "A_var", "A_var_to_time",
                "A_time_to_var", "B_time", "C_time", "B_var", "C_var", "D", "z", "bias_time",
                "bias_var", "time_state0", "var_state0")
_SIZE_NAMES = ("batch", "dim", "n_vars", "length", "state", "period", "softplus", "reverse",
               "threads", "segment", "isa")
_GRAD_NAMES = ("dout", "dtime_state", "dvar_state", "du", "ddelta_time", "ddelta_var", "dz",
               "dtime_state0", "dvar_state0", "dA_time", "dA_var", "dA_var_to_time",
               "dA_time_to_var", "dD", "dbias_time", "dbias_var", "dB_time", "dC_time",
               "dB_var", "dC_var")


class _Args(ctypes.Structure):
    """Mirrors ``Scan2DArgs`` of the C++ source."""

    _fields_ = [(name, _PTR) for name in _INPUT_NAMES] + [(name, _I64) for name in _SIZE_NAMES]


class _Grads(ctypes.Structure):
    """Mirrors ``Scan2DGrads`` of the C++ source."""

    _fields_ = [(name, _PTR) for name in _GRAD_NAMES]


# The version of the C interface these bindings call (``tsssm_scan2d_abi_version`` in the source).
ABI_VERSION = 3


def _load_library() -> ctypes.CDLL | None:
    lib = load_library("tsssm.kernels.scan2d._cpu_scan2d", "tsssm_scan2d_abi_version",
                       ABI_VERSION)
    if lib is None:
        return None
    lib.tsssm_scan2d_forward.argtypes = [ctypes.POINTER(_Args), _PTR, _PTR, _PTR]
    lib.tsssm_scan2d_forward.restype = ctypes.c_int
    lib.tsssm_scan2d_backward.argtypes = [ctypes.POINTER(_Args), ctypes.POINTER(_Grads)]
    lib.tsssm_scan2d_backward.restype = ctypes.c_int
    lib.tsssm_scan2d_backward_threads.argtypes = [_I64, _I64]
    lib.tsssm_scan2d_backward_threads.restype = _I64
    lib.tsssm_scan2d_isa_name.argtypes = [ctypes.c_int]
    lib.tsssm_scan2d_isa_name.restype = ctypes.c_char_p
    return lib


_LIB = _load_library()

# Time steps per segment of the backward's replay; 0 lets the kernel pick a cache-sized
# segment. Tests set it small to exercise several segments on small grids.
BACKWARD_SEGMENT_STEPS = 0


def supported_isas() -> list[str]:
    """The instruction sets this CPU can run the 2-D kernel with (empty if it is not built)."""
    return _supported_isas(_LIB, "tsssm_scan2d_isa_supported")


def isa() -> str | None:
    """The instruction set the 2-D kernel runs with now, None if it is not built."""
    if _LIB is None:
        return None
    return _LIB.tsssm_scan2d_isa_name(_isa_code()).decode()


def _isa_code() -> int:
    """The library's number for the instruction set asked for (-1: the widest there is)."""
    asked = _scan_cpu.ISA
    if asked is None:
        return -1
    code = ISAS.index(asked) if asked in ISAS else -1
    if code < 0 or not _LIB.tsssm_scan2d_isa_supported(code):
        raise ValueError(f"selective_scan.cpu.ISA = {asked!r}: this CPU does not run it")
    return code


def unavailable_reason(device: torch.device) -> str | None:
    """None when the fused kernel can run on ``device``, else why not and what to do."""
    if device.type != "cpu":
        return f"the fused 2-D CPU kernel runs on CPU tensors only (got {device.type})."
    if _LIB is None:
        return _INSTALL_HINT
    return None


def _ptr(x: torch.Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


def _check_status(status: int, a: _Args) -> None:
    # The kernel refuses (-1) sizes it cannot scan, its last guard behind normalize_scan2d_inputs.
    if status != 0:
        sizes = tuple(getattr(a, name) for name in _SIZE_NAMES[:6])
        raise ValueError(
            "selective_scan_2d: the fused CPU kernel refused sizes (batch, dim, n_vars, length, "
            f"state, period) = {sizes}; every size must be >= 1"
        )


def _args(tensors: list[torch.Tensor | None], softplus: bool, period: int, reverse: bool,
          threads: int, segment_steps: int) -> _Args:
    u, A_time = tensors[0], tensors[3]
    batch, n_vars, length, dim = u.shape
    return _Args(*map(_ptr, tensors), batch, dim, n_vars, length, A_time.shape[1], period,
                 int(softplus), int(reverse), threads, segment_steps, _isa_code())


def _contiguous(tensors: tuple[torch.Tensor | None, ...]) -> list[torch.Tensor | None]:
    return [None if x is None else x.contiguous() for x in tensors]


def _absent(like: torch.Tensor) -> torch.Tensor:
    """Stands for the gradient of an input that was None (an op cannot return None; each is a
    new tensor, as an op's outputs must not alias one another)."""
    return like.new_empty(0)


# The fused kernel as PyTorch operators (torch.ops.tsssm.*), traced as single nodes by
# torch.compile and torch.export. Inputs are float32 in the order of ``_INPUT_NAMES``,
# channel-last: grids ``[batch, n_vars, length, dim]``, B and C ``[batch, n_vars, length,
# state]``; ``out`` is channel-last too, the last states are ``time_state [batch, dim,
# n_vars, period, state]`` and ``var_state [batch, dim, n_vars, state]``.


def scan2d_forward(
    u: torch.Tensor, delta_time: torch.Tensor, delta_var: torch.Tensor, A_time: torch.Tensor,
    A_var: torch.Tensor, A_var_to_time: torch.Tensor | None, A_time_to_var: torch.Tensor | None,
    B_time: torch.Tensor, C_time: torch.Tensor, B_var: torch.Tensor, C_var: torch.Tensor,
    D: torch.Tensor | None, z: torch.Tensor | None, bias_time: torch.Tensor | None,
    bias_var: torch.Tensor | None, time_state0: torch.Tensor | None,
    var_state0: torch.Tensor | None, delta_softplus: bool, period: int, reverse_variates: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forward kernel through ctypes (the implementation of
    ``tsssm::selective_scan_2d_fwd``)."""
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)
    tensors = _contiguous((u, delta_time, delta_var, A_time, A_var, A_var_to_time,
                           A_time_to_var, B_time, C_time, B_var, C_var, D, z, bias_time,
                           bias_var, time_state0, var_state0))
    out, time_last, var_last = _outputs(u, A_time, period)
    a = _args(tensors, delta_softplus, period, reverse_variates, torch.get_num_threads(), 0)
    _check_status(_LIB.tsssm_scan2d_forward(ctypes.byref(a), out.data_ptr(),
                                            time_last.data_ptr(), var_last.data_ptr()), a)
    return out, time_last, var_last


def _outputs(u: torch.Tensor, A_time: torch.Tensor, period: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uninitialised ``out``, ``time_state`` and ``var_state`` for a channel-last ``u``."""
    batch, n_vars, _, dim = u.shape
    state = A_time.shape[1]
    return (u.new_empty(u.shape), u.new_empty(batch, dim, n_vars, period, state),
            u.new_empty(batch, dim, n_vars, state))


selective_scan_2d_fwd = torch.library.custom_op(
    "tsssm::selective_scan_2d_fwd", scan2d_forward, mutates_args=(), device_types="cpu"
)


@selective_scan_2d_fwd.register_fake
def _(u, delta_time, delta_var, A_time, *args):
    *_, period, _ = args
    return _outputs(u, A_time, period)


def scan2d_backward(
    u: torch.Tensor, delta_time: torch.Tensor, delta_var: torch.Tensor, A_time: torch.Tensor,
    A_var: torch.Tensor, A_var_to_time: torch.Tensor | None, A_time_to_var: torch.Tensor | None,
    B_time: torch.Tensor, C_time: torch.Tensor, B_var: torch.Tensor, C_var: torch.Tensor,
    D: torch.Tensor | None, z: torch.Tensor | None, bias_time: torch.Tensor | None,
    bias_var: torch.Tensor | None, time_state0: torch.Tensor | None,
    var_state0: torch.Tensor | None, dout: torch.Tensor, dtime_state: torch.Tensor | None,
    dvar_state: torch.Tensor | None, delta_softplus: bool, period: int, reverse_variates: bool,
    segment_steps: int = 0,
) -> list[torch.Tensor]:
    """The backward kernel through ctypes (the implementation of
    ``tsssm::selective_scan_2d_bwd``): the gradients of the 17 inputs, in their order, those of
    inputs that were None empty tensors. ``segment_steps``: time steps per segment of the
    replay (0: the kernel's choice)."""
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)
    tensors = _contiguous((u, delta_time, delta_var, A_time, A_var, A_var_to_time,
                           A_time_to_var, B_time, C_time, B_var, C_var, D, z, bias_time,
                           bias_var, time_state0, var_state0))
    named = dict(zip(_INPUT_NAMES, tensors, strict=True))
    threads = _LIB.tsssm_scan2d_backward_threads(u.shape[0], torch.get_num_threads())

    def like(name: str) -> torch.Tensor | None:
        x = named[name]
        return None if x is None else torch.empty_like(x)

    def partial(name: str) -> torch.Tensor | None:
        # Per-thread partial sums of a [dim, ...] parameter, added up below in order.
        x = named[name]
        return None if x is None else x.new_zeros(threads, *x.shape)

    u = named["u"]
    dout, dtime_state, dvar_state = _contiguous((dout, dtime_state, dvar_state))
    grads = {
        "dout": dout, "dtime_state": dtime_state, "dvar_state": dvar_state,
        "du": torch.empty_like(u), "ddelta_time": torch.empty_like(u),
        "ddelta_var": torch.empty_like(u), "dz": like("z"),
        "dtime_state0": like("time_state0"), "dvar_state0": like("var_state0"),
        **{f"d{name}": partial(name) for name in ("A_time", "A_var", "A_var_to_time",
                                                  "A_time_to_var", "D")},
        "dbias_time": partial("bias_time"), "dbias_var": partial("bias_var"),
        # Written whole by each batch item's first tile of channels, then added to.
        **{f"d{name}": torch.empty_like(named[name])
           for name in ("B_time", "C_time", "B_var", "C_var")},
    }
    a = _args(tensors, delta_softplus, period, reverse_variates, threads, segment_steps)
    g = _Grads(*(_ptr(grads[name]) for name in _GRAD_NAMES))
    _check_status(_LIB.tsssm_scan2d_backward(ctypes.byref(a), ctypes.byref(g)), a)

    def gradient(name: str) -> torch.Tensor:
        x = grads[f"d{name}"]
        if x is None:
            return _absent(u)
        return x.sum(0) if name in _SUMMED else x

    return [gradient(name) for name in _INPUT_NAMES]


# The gradients the kernel writes as per-thread partial sums.
_SUMMED = frozenset(("A_time", "A_var", "A_var_to_time", "A_time_to_var", "D", "bias_time",
                     "bias_var"))


selective_scan_2d_bwd = torch.library.custom_op(
    "tsssm::selective_scan_2d_bwd", scan2d_backward, mutates_args=(), device_types="cpu"
)


@selective_scan_2d_bwd.register_fake
def _(*args):
    tensors = args[:len(_INPUT_NAMES)]
    u = tensors[0]
    return [u.new_empty(0) if x is None else x.new_empty(x.shape) for x in tensors]


def _setup_context(ctx, inputs, output) -> None:
    *tensors, softplus, period, reverse = inputs
    ctx.save_for_backward(*tensors)
    # An unused last state gets no gradient (None) rather than a tensor of zeros to fill and
    # read: the kernel takes none as zero (a seasonal head's time state is period columns).
    ctx.set_materialize_grads(False)
    ctx.flags = (softplus, period, reverse, BACKWARD_SEGMENT_STEPS)


def _backward(ctx, dout, dtime_last, dvar_last):
    tensors = ctx.saved_tensors
    if dout is None:  # only the last states were used
        dout = torch.zeros_like(tensors[0])
    grads = selective_scan_2d_bwd(*tensors, dout, dtime_last, dvar_last, *ctx.flags)
    grads = [None if x is None else g for x, g in zip(tensors, grads, strict=True)]
    return (*grads, None, None, None)


selective_scan_2d_fwd.register_autograd(_backward, setup_context=_setup_context)


def selective_scan_2d_cpu(
    inputs: Scan2DInputs,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Fused CPU 2-D selective scan; same contract as :func:`reference.selective_scan_2d_ref`.

    Inputs of any floating dtype are computed in float32; ``out`` comes back in ``u``'s dtype
    and the last states in float32.
    """
    if _LIB is None:
        raise RuntimeError(_INSTALL_HINT)

    def f32(x: torch.Tensor | None) -> torch.Tensor | None:
        # Differentiable cast: autograd returns each gradient in its input's dtype.
        return None if x is None else x.to(torch.float32).contiguous()

    # Channel-last layouts, the memory of the model's projections (``SelectiveSSM2D`` hands
    # over permuted views of [b, v, t, c] tensors), so that these permutes copy nothing.
    def grid(x: torch.Tensor | None) -> torch.Tensor | None:  # [b, d, v, t] -> [b, v, t, d]
        return None if x is None else f32(x.permute(0, 2, 3, 1))

    def state_last(x: torch.Tensor) -> torch.Tensor:  # [b, n, v, t] -> [b, v, t, n]
        return f32(x.permute(0, 2, 3, 1))

    out, time_last, var_last = selective_scan_2d_fwd(
        grid(inputs.u), grid(inputs.delta_time), grid(inputs.delta_var), f32(inputs.A_time),
        f32(inputs.A_var), f32(inputs.A_var_to_time), f32(inputs.A_time_to_var),
        state_last(inputs.B_time), state_last(inputs.C_time), state_last(inputs.B_var),
        state_last(inputs.C_var), f32(inputs.D), grid(inputs.z), f32(inputs.delta_bias_time),
        f32(inputs.delta_bias_var), f32(inputs.time_state0), f32(inputs.var_state0),
        inputs.delta_softplus, inputs.period, inputs.reverse_variates,
    )
    return out.permute(0, 3, 1, 2).to(inputs.u.dtype), (time_last, var_last)
