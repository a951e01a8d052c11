"""The public 2-D selective scan: validates inputs, picks a backend, falls back with a message."""

from __future__ import annotations

import warnings

import torch

from ..selective_scan.api import available_backends as scan_backends
from ..selective_scan.api import exporting_to_onnx
from . import cpu, triton_scan2d
from ._inputs import FN, normalize_scan2d_inputs
from .parallel import selective_scan_2d_parallel
from .reference import selective_scan_2d_ref

#: ``"ref"``: the double loop; ``"cpu"``: the fused C++ kernel; ``"chunked"``: batched 1-D
#: scans (pure PyTorch, any device); ``"triton"``: the fused Triton kernel;
#: ``"triton-rounds"``: the batched 1-D scans of ``"chunked"`` on the 1-D Triton kernels.
BACKENDS_2D: tuple[str, ...] = ("auto", "ref", "cpu", "chunked", "triton", "triton-rounds")

_warned: set[str] = set()


def available_backends_2d(device: torch.device | str = "cpu") -> list[str]:
    """Names of the 2-D backends that can run on ``device`` (``"auto"`` always can)."""
    device = torch.device(device)
    names = ["auto", "ref"]
    if cpu.unavailable_reason(device) is None:
        names.append("cpu")
    names.append("chunked")
    if triton_scan2d.unavailable_reason(device) is None:
        names.append("triton")
    if "triton" in scan_backends(device):
        names.append("triton-rounds")
    return names


def resolve_backend_2d(backend: str, device: torch.device) -> str:
    """``auto`` is ``triton`` on CUDA and ``cpu`` elsewhere; a backend that cannot run on
    ``device`` falls back to ``chunked`` with a warning that says why; ``cpu`` is ``chunked``
    while exporting to ONNX (the fused kernel has no ONNX operator)."""
    if backend not in BACKENDS_2D:
        raise ValueError(f"{FN}: unknown backend {backend!r}; choose one of "
                         f"{', '.join(BACKENDS_2D)}")
    if backend == "auto":
        backend = "triton" if device.type == "cuda" else "cpu"
    if backend == "cpu" and exporting_to_onnx():
        return "chunked"
    if backend in available_backends_2d(device):
        return backend
    reason = (cpu.unavailable_reason(device) if backend == "cpu"
              else triton_scan2d.unavailable_reason(device))
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"{FN}: backend {backend!r} cannot run on {device}: {reason} Falling "
                      "back to the pure-PyTorch 'chunked' backend.", RuntimeWarning, stacklevel=3)
    return "chunked"


def selective_scan_2d(
    u: torch.Tensor,
    delta_time: torch.Tensor,
    delta_var: torch.Tensor,
    A_time: torch.Tensor,
    A_var: torch.Tensor,
    B_time: torch.Tensor,
    C_time: torch.Tensor,
    B_var: torch.Tensor,
    C_var: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    A_var_to_time: torch.Tensor | None = None,
    A_time_to_var: torch.Tensor | None = None,
    delta_bias_time: torch.Tensor | None = None,
    delta_bias_var: torch.Tensor | None = None,
    delta_softplus: bool = False,
    period: int = 1,
    reverse_variates: bool = False,
    initial_state: tuple[torch.Tensor, torch.Tensor] | None = None,
    return_last_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """2-D selective scan over a (variate x time) grid (Chimera's 2-D SSM, see
    :mod:`tsssm.kernels.scan2d.reference` for the recurrence).

    Args:
        u: input ``[batch, dim, n_vars, length]``.
        delta_time, delta_var: step sizes of the time and variate axes before discretisation,
            ``[batch, dim, n_vars, length]`` each.
        A_time, A_var: diagonal state matrices of the two axes ``[dim, state]``; negative for
            a stable scan.
        B_time, C_time, B_var, C_var: input and output projections of the two axes
            ``[batch, state, n_vars, length]``.
        D: skip connection ``[dim]``.
        z: gate ``[batch, dim, n_vars, length]``; the output is multiplied by ``silu(z)``.
        A_var_to_time: ``[dim, state]``, any sign: how the variate state at the previous step
            enters the time state (None: it does not).
        A_time_to_var: ``[dim, state]``, any sign: how the previous variate's time state
            enters the variate state (None: it does not).
        delta_bias_time, delta_bias_var: added to the step sizes ``[dim]``.
        delta_softplus: pass the biased step sizes through softplus.
        period: the time state at ``t`` follows the one at ``t - period`` (1: every step;
            > 1: a seasonal recurrence with that lag); at most ``length`` unless
            ``initial_state`` is given.
        reverse_variates: scan the variates from the last to the first.
        initial_state: ``(time_state [batch, dim, n_vars, period, state], var_state [batch,
            dim, n_vars, state])``, the states before the grid as returned by an earlier call
            (None: zeros); gradients flow into them.
        return_last_state: also return the last states (see below).
        backend: ``"auto"`` (``"triton"`` on CUDA, ``"cpu"`` elsewhere), ``"ref"``,
            ``"cpu"``, ``"chunked"``, ``"triton"`` or ``"triton-rounds"`` (see
            :data:`BACKENDS_2D`).

    Returns:
        ``out`` ``[batch, dim, n_vars, length]`` in ``u``'s dtype; with ``return_last_state``
        also ``(time_state [batch, dim, n_vars, period, state], var_state [batch, dim,
        n_vars, state])`` in float32 (float64 for float64 inputs), which continue the scan
        along time when passed as the next call's ``initial_state``.
    """
    inputs = normalize_scan2d_inputs(
        u, delta_time, delta_var, A_time, A_var, B_time, C_time, B_var, C_var, D, z,
        A_var_to_time, A_time_to_var, delta_bias_time, delta_bias_var, delta_softplus, period,
        reverse_variates, initial_state,
    )
    backend = resolve_backend_2d(backend, u.device)
    if backend == "ref":
        out, states = selective_scan_2d_ref(inputs)
    elif backend == "cpu":
        out, states = cpu.selective_scan_2d_cpu(inputs)
    elif backend == "triton":
        out, states = triton_scan2d.selective_scan_2d_triton(inputs)
    else:  # "chunked" or "triton-rounds": batched 1-D scans on that 1-D backend
        scan_backend = "triton" if backend == "triton-rounds" else "chunked"
        out, states = selective_scan_2d_parallel(inputs, scan_backend=scan_backend)
    return (out, states) if return_last_state else out
