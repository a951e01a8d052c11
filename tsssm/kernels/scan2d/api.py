"""The public 2-D selective scan: validates inputs and picks the reference or the fast path."""

from __future__ import annotations

import torch

from ..selective_scan.api import BACKENDS as SCAN_BACKENDS
from ..selective_scan.api import available_backends as scan_backends
from ._inputs import FN, normalize_scan2d_inputs
from .parallel import selective_scan_2d_parallel
from .reference import selective_scan_2d_ref

#: ``"ref"`` is the double loop; every other name is the two-pass parallel scan whose 1-D
#: scans run on that backend of :func:`tsssm.kernels.selective_scan`.
BACKENDS_2D: tuple[str, ...] = ("auto", *SCAN_BACKENDS)


def available_backends_2d(device: torch.device | str = "cpu") -> list[str]:
    """Names of the 2-D backends that can run on ``device`` (``"auto"`` always can)."""
    return ["auto", *scan_backends(device)]


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
    coupling: torch.Tensor | None = None,
    delta_bias_time: torch.Tensor | None = None,
    delta_bias_var: torch.Tensor | None = None,
    delta_softplus: bool = False,
    period: int = 1,
    reverse_variates: bool = False,
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
        coupling: gain ``[dim]`` of the time state's read-out ``y1`` fed into the next
            variate's variate state (None: the axes are independent).
        delta_bias_time, delta_bias_var: added to the step sizes ``[dim]``.
        delta_softplus: pass the biased step sizes through softplus.
        period: the time state at ``t`` follows the one at ``t - period`` (1: every step;
            > 1: a seasonal recurrence with that lag).
        reverse_variates: scan the variates from the last to the first.
        return_last_state: also return the last states (see below).
        backend: ``"ref"`` (the double loop), or ``"auto"``, ``"cpu"``, ``"chunked"``,
            ``"triton"``: the parallel two-pass scan with the 1-D scans on that backend.

    Returns:
        ``out`` ``[batch, dim, n_vars, length]`` in ``u``'s dtype; with ``return_last_state``
        also ``(time_state [batch, dim, n_vars, period, state], var_state [batch, dim,
        length, state])`` in float32 (float64 for float64 inputs).
    """
    if backend not in BACKENDS_2D:
        raise ValueError(f"{FN}: unknown backend {backend!r}; choose one of "
                         f"{', '.join(BACKENDS_2D)}")
    inputs = normalize_scan2d_inputs(
        u, delta_time, delta_var, A_time, A_var, B_time, C_time, B_var, C_var, D, z,
        coupling, delta_bias_time, delta_bias_var, delta_softplus, period, reverse_variates,
    )
    if backend == "ref":
        out, states = selective_scan_2d_ref(inputs)
    else:
        out, states = selective_scan_2d_parallel(inputs, scan_backend=backend)
    return (out, states) if return_last_state else out
