"""The specification of the 2-D selective scan: the recurrence as a plain double loop.

Every other path is tested against this function, values and gradients. It loops over time
steps (outer) and variates (inner, in scan order), one grid cell at a time, and computes in
float32 (float64 stays float64).

It reads the grid through ``unbind`` (never by indexing one cell at a time), so that
autograd's backward stays linear in the number of cells.

For each batch ``b`` and channel ``d``, with ``n`` indexing the state, on a grid of variates
``v = 0..V-1`` and time steps ``t = 0..T-1``, and ``p = period``::

    dt1[v,t] = softplus(delta_time[v,t] + delta_bias_time)   (no softplus unless asked)
    dt2[v,t] = softplus(delta_var[v,t] + delta_bias_var)

    time state   h1[v,t] = exp(dt1[v,t] A_time) * h1[v,t-p] + dt1[v,t] B_time[v,t] u[v,t]
                 y1[v,t] = <C_time[v,t], h1[v,t]>                   h1[v,t-p] = 0 for t < p
    variate state
                 h2[v,t] = exp(dt2[v,t] A_var) * h2[v-1,t]
                           + dt2[v,t] B_var[v,t] (u[v,t] + coupling * y1[v-1,t])
                 y2[v,t] = <C_var[v,t], h2[v,t]>                   h2[-1,t] = 0, y1[-1,t] = 0
    out[v,t] = (y1[v,t] + y2[v,t] + D u[v,t]) * silu(z[v,t])

With ``reverse_variates=True`` the variate axis is scanned from ``V-1`` down to ``0``, so
``v-1`` above reads ``v+1`` (and ``h2[V,t] = 0``). Missing optional inputs drop their term.

The last states returned are, for the time axis, ``h1`` at steps ``T-p .. T-1`` of every
variate ``[batch, dim, n_vars, period, state]`` (zeros where ``T-p+k < 0``), and for the
variate axis, ``h2`` after the last scanned variate at every step ``[batch, dim, length,
state]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..selective_scan.reference import compute_dtype
from ._inputs import Scan2DInputs


def discretize(delta: torch.Tensor, bias: torch.Tensor | None, softplus: bool,
               dtype: torch.dtype) -> torch.Tensor:
    """``delta (+ bias)``, optionally through softplus; ``[batch, dim, n_vars, length]``."""
    dt = delta.to(dtype)
    if bias is not None:
        dt = dt + bias.to(dtype)[:, None, None]
    return F.softplus(dt) if softplus else dt


def cells(x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """``[batch, c, n_vars, length]`` -> ``cells[t][v]`` ``[batch, c]``, through ``unbind``."""
    return [column.unbind(-1) for column in x.unbind(-1)]


def finish_output(y: torch.Tensor, inputs: Scan2DInputs) -> torch.Tensor:
    """``(y + D u) * silu(z)`` with whichever of ``D`` and ``z`` are given, in ``u``'s dtype;
    ``y`` is ``[batch, dim, n_vars, length]`` in the compute dtype."""
    if inputs.D is not None:
        y = y + inputs.D.to(y.dtype)[:, None, None] * inputs.u.to(y.dtype)
    if inputs.z is not None:
        y = y * F.silu(inputs.z.to(y.dtype))
    return y.to(inputs.u.dtype)


def selective_scan_2d_ref(
    inputs: Scan2DInputs,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run the recurrence cell by cell.

    Returns ``(out, (time_state, var_state))``: ``out`` ``[batch, dim, n_vars, length]`` in
    ``u``'s dtype; ``time_state`` ``[batch, dim, n_vars, period, state]`` and ``var_state``
    ``[batch, dim, length, state]`` in the compute dtype.
    """
    dtype = compute_dtype(inputs.u)
    n_vars, length, period = inputs.n_vars, inputs.length, inputs.period
    u = cells(inputs.u.to(dtype))  # [t][v] -> [b, d]
    dt1 = cells(discretize(inputs.delta_time, inputs.delta_bias_time, inputs.delta_softplus,
                           dtype))
    dt2 = cells(discretize(inputs.delta_var, inputs.delta_bias_var, inputs.delta_softplus,
                           dtype))
    A1, A2 = inputs.A_time.to(dtype), inputs.A_var.to(dtype)  # [d, n]
    B1, C1 = cells(inputs.B_time.to(dtype)), cells(inputs.C_time.to(dtype))  # [t][v] -> [b, n]
    B2, C2 = cells(inputs.B_var.to(dtype)), cells(inputs.C_var.to(dtype))
    coupling = None if inputs.coupling is None else inputs.coupling.to(dtype)
    zero_state = A1.new_zeros(inputs.batch, inputs.dim, inputs.state)
    zero_out = A1.new_zeros(inputs.batch, inputs.dim)
    order = range(n_vars - 1, -1, -1) if inputs.reverse_variates else range(n_vars)

    h1_history: list[list[torch.Tensor]] = [[] for _ in range(n_vars)]  # [v][t] -> [b, d, n]
    y: list[list[torch.Tensor | None]] = [[None] * length for _ in range(n_vars)]
    var_states = []
    for t in range(length):
        h2, y1_prev = zero_state, zero_out
        for v in order:
            h1_prev = h1_history[v][t - period] if t >= period else zero_state
            u_c, dt1_c, dt2_c = u[t][v], dt1[t][v], dt2[t][v]  # [b, d]
            h1 = (torch.exp(dt1_c[..., None] * A1) * h1_prev
                  + (dt1_c * u_c)[..., None] * B1[t][v][:, None])
            h1_history[v].append(h1)
            y1 = (h1 * C1[t][v][:, None]).sum(-1)  # [b, d]
            u2 = u_c if coupling is None else u_c + coupling * y1_prev
            h2 = (torch.exp(dt2_c[..., None] * A2) * h2
                  + (dt2_c * u2)[..., None] * B2[t][v][:, None])
            y[v][t] = y1 + (h2 * C2[t][v][:, None]).sum(-1)
            y1_prev = y1
        var_states.append(h2)

    out = torch.stack([torch.stack(row, dim=-1) for row in y], dim=2)  # [b, d, v, t]
    time_state = torch.stack(
        [torch.stack([history[t] if t >= 0 else zero_state
                      for t in range(length - period, length)], dim=2)
         for history in h1_history],
        dim=2,
    )  # [b, d, v, p, n]
    return finish_output(out, inputs), (time_state, torch.stack(var_states, dim=2))
