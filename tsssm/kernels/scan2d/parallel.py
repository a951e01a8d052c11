"""The fast 2-D selective scan: two batched 1-D selective scans, one along each axis.

The recurrence of ``reference.py`` couples the axes in one direction only (the time state
feeds the variate state through ``y1``, never back), so it splits exactly into:

1. **time pass** — one 1-D scan per ``(batch, variate, phase)`` row: the ``period`` interleaved
   chains ``t = j, j + p, j + 2p, ...`` of each variate become separate rows (the time axis is
   padded at the front to a multiple of ``p`` with zero inputs, which keep a zero state);
2. **variate pass** — one 1-D scan per ``(batch, time step)`` row over the variates, whose input
   is ``u + coupling * y1`` shifted by one variate in scan order.

Both passes go through :func:`tsssm.kernels.selective_scan` (the fused C++ kernel on CPU,
Triton on CUDA, with their hand-written backwards), so nothing of size
``[batch, dim, n_vars, length, state]`` is ever stored and memory grows linearly with the grid.
Gradients for every input come from those backwards plus autograd through the reshapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..selective_scan.api import selective_scan
from ..selective_scan.reference import compute_dtype
from ._inputs import Scan2DInputs
from .reference import finish_output


def _time_rows(x: torch.Tensor, period: int) -> torch.Tensor:
    """``[b, c, v, t]`` -> ``[b * v * p, c, t' / p]``: rows are (batch, variate, phase), after
    zero-padding the front of time to ``t'``, the next multiple of ``p``."""
    b, c, v, t = x.shape
    padded = -(-t // period) * period
    x = F.pad(x, (padded - t, 0))  # [b, c, v, t']
    x = x.view(b, c, v, padded // period, period)  # time index = step * p + phase
    return x.permute(0, 2, 4, 1, 3).reshape(b * v * period, c, padded // period)


def _from_time_rows(rows: torch.Tensor, shape: tuple[int, int, int, int],
                    period: int) -> torch.Tensor:
    """Inverse of :func:`_time_rows` for ``[b * v * p, c, t' / p]`` -> ``[b, c, v, t]``."""
    b, c, v, t = shape
    steps = rows.shape[-1]
    x = rows.view(b, v, period, c, steps).permute(0, 3, 1, 4, 2)  # [b, c, v, steps, p]
    return x.reshape(b, c, v, steps * period)[..., steps * period - t:]


def _variate_rows(x: torch.Tensor) -> torch.Tensor:
    """``[b, c, v, t]`` -> ``[b * t, c, v]``: rows are (batch, time step)."""
    b, c, v, t = x.shape
    return x.permute(0, 3, 1, 2).reshape(b * t, c, v)


def _shift_variates(y: torch.Tensor, reverse: bool) -> torch.Tensor:
    """``y[..., v - 1, :]`` at variate ``v`` (``v + 1`` when ``reverse``), zero at the first
    variate in scan order; ``[b, d, v, t]``."""
    if reverse:
        return F.pad(y[:, :, 1:], (0, 0, 0, 1))
    return F.pad(y[:, :, :-1], (0, 0, 1, 0))


def selective_scan_2d_parallel(
    inputs: Scan2DInputs, scan_backend: str = "auto"
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Same contract as :func:`reference.selective_scan_2d_ref`; ``scan_backend`` is the
    backend of the two 1-D scans (any name :func:`tsssm.kernels.selective_scan` accepts)."""
    dtype = compute_dtype(inputs.u)
    batch, dim, n_vars, length = inputs.u.shape
    period, state = inputs.period, inputs.state
    u = inputs.u.to(dtype)
    common = {"delta_softplus": inputs.delta_softplus, "return_last_state": True,
              "backend": scan_backend}

    y1_rows, h1_last = selective_scan(
        _time_rows(u, period), _time_rows(inputs.delta_time.to(dtype), period),
        inputs.A_time.to(dtype), _time_rows(inputs.B_time.to(dtype), period),
        _time_rows(inputs.C_time.to(dtype), period), delta_bias=inputs.delta_bias_time,
        **common,
    )
    y1 = _from_time_rows(y1_rows, (batch, dim, n_vars, length), period)  # [b, d, v, t]
    time_state = h1_last.view(batch, n_vars, period, dim, state).permute(0, 3, 1, 2, 4)

    u2 = u
    if inputs.coupling is not None:
        coupling = inputs.coupling.to(dtype)[:, None, None]
        u2 = u + coupling * _shift_variates(y1, inputs.reverse_variates)
    y2_rows, h2_last = selective_scan(
        _variate_rows(u2), _variate_rows(inputs.delta_var.to(dtype)), inputs.A_var.to(dtype),
        _variate_rows(inputs.B_var.to(dtype)), _variate_rows(inputs.C_var.to(dtype)),
        delta_bias=inputs.delta_bias_var, reverse=inputs.reverse_variates, **common,
    )
    y2 = y2_rows.view(batch, length, dim, n_vars).permute(0, 2, 3, 1)  # [b, d, v, t]
    var_state = h2_last.view(batch, length, dim, state).transpose(1, 2)  # [b, d, t, n]
    return finish_output(y1 + y2, inputs), (time_state, var_state)
