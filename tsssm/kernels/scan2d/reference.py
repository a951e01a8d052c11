"""The specification of the 2-D selective scan: the recurrence as a plain double loop.

Every other path is tested against this function, values and gradients. It loops over time
steps (outer) and variates (inner, in scan order), one grid cell at a time, and computes in
float32 (float64 stays float64). It reads the grid through ``unbind`` (never by indexing one
cell at a time), so that autograd's backward stays linear in the number of cells.

For each batch ``b``, channel ``d`` and state ``n``, on a grid of variates ``v = 0..V-1`` and
time steps ``t = 0..T-1``, with ``p = period``::

    dt1[v,t] = softplus(delta_time[v,t] + delta_bias_time)   (no softplus unless asked)
    dt2[v,t] = softplus(delta_var[v,t] + delta_bias_var)

    h1[v,t] = exp(dt1 A_time) h1[v,t-p] + dt1 A_var_to_time h2[v,t-1] + dt1 B_time[v,t] u[v,t]
    h2[v,t] = exp(dt2 A_var)  h2[v-1,t] + dt2 A_time_to_var h1[v-1,t] + dt2 B_var[v,t] u[v,t]
    y[v,t]  = <C_time[v,t], h1[v,t]> + <C_var[v,t], h2[v,t]>
    out     = (y + D u) * silu(z)

(``dt1``, ``dt2`` at ``[v,t]`` throughout). ``h1`` is the time state, ``h2`` the variate
state. The two off-diagonal terms are the first-order terms of the matrix exponential of the
coupled continuous system ``[[A_time, A_var_to_time], [A_time_to_var, A_var]]`` (the paper's
``A2`` and ``A3``), kept diagonal over the state like ``A``; either may be None (no term).
States before the grid's edge are zero, except where ``initial_state = (time_state,
var_state)`` gives them: ``h1[v, t-p] = time_state[v, t]`` for ``t < p`` and ``h2[v, -1] =
var_state[v]``. Along variates the edge is always zero: ``h2[-1,t] = h1[-1,t] = 0``. With
``reverse_variates=True`` the variate axis is scanned from ``V-1`` down to ``0``, so ``v-1``
reads ``v+1`` (and the edge is ``v = V``). Missing optional inputs drop their term.

The last states returned continue the scan along time (a next grid whose ``initial_state``
they are gives the same outputs as one longer grid): ``time_state`` ``[batch, dim, n_vars,
period, state]``, ``h1`` at steps ``T-p .. T-1`` of every variate (from ``initial_state``, or
zeros, where ``T-p+k < 0``), and ``var_state`` ``[batch, dim, n_vars, state]``, ``h2`` at the
last step ``T-1`` of every variate.
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


def initial_states(inputs: Scan2DInputs, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(time_state [b, d, v, p, n], var_state [b, d, v, n])`` before the grid, zeros where
    ``initial_state`` was not given."""
    b, d, v, n = inputs.batch, inputs.dim, inputs.n_vars, inputs.state
    if inputs.time_state0 is None:
        zeros = inputs.u.new_zeros((), dtype=dtype)
        return zeros.expand(b, d, v, inputs.period, n), zeros.expand(b, d, v, n)
    return inputs.time_state0.to(dtype), inputs.var_state0.to(dtype)


def selective_scan_2d_ref(
    inputs: Scan2DInputs,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run the recurrence cell by cell.

    Returns ``(out, (time_state, var_state))``: ``out`` ``[batch, dim, n_vars, length]`` in
    ``u``'s dtype; ``time_state`` ``[batch, dim, n_vars, period, state]`` and ``var_state``
    ``[batch, dim, n_vars, state]`` in the compute dtype.
    """
    dtype = compute_dtype(inputs.u)
    n_vars, length, period = inputs.n_vars, inputs.length, inputs.period
    u = cells(inputs.u.to(dtype))  # [t][v] -> [b, d]
    dt1 = cells(discretize(inputs.delta_time, inputs.delta_bias_time, inputs.delta_softplus,
                           dtype))
    dt2 = cells(discretize(inputs.delta_var, inputs.delta_bias_var, inputs.delta_softplus,
                           dtype))
    A1, A2 = inputs.A_time.to(dtype), inputs.A_var.to(dtype)  # [d, n]
    A12 = None if inputs.A_var_to_time is None else inputs.A_var_to_time.to(dtype)
    A21 = None if inputs.A_time_to_var is None else inputs.A_time_to_var.to(dtype)
    B1, C1 = cells(inputs.B_time.to(dtype)), cells(inputs.C_time.to(dtype))  # [t][v] -> [b, n]
    B2, C2 = cells(inputs.B_var.to(dtype)), cells(inputs.C_var.to(dtype))
    time0, var0 = initial_states(inputs, dtype)
    zero_state = A1.new_zeros(inputs.batch, inputs.dim, inputs.state)
    order = range(n_vars - 1, -1, -1) if inputs.reverse_variates else range(n_vars)

    # h1_history[v][k] is h1 at step k - p (the first p entries come from before the grid).
    h1_history = [list(time0[:, :, v].unbind(2)) for v in range(n_vars)]  # [v][k] -> [b, d, n]
    h2_column = list(var0.unbind(2))  # [v] -> [b, d, n]: h2 at the previous step
    y: list[list[torch.Tensor | None]] = [[None] * length for _ in range(n_vars)]
    for t in range(length):
        h1_prev_var, h2_prev_var = zero_state, zero_state  # the cell before, in scan order
        for v in order:
            u_c, dt1_c, dt2_c = u[t][v], dt1[t][v][..., None], dt2[t][v][..., None]  # [b, d, 1]
            drive1 = u_c[..., None] * B1[t][v][:, None]  # [b, d, n]
            if A12 is not None:
                drive1 = drive1 + A12 * h2_column[v]
            h1 = torch.exp(dt1_c * A1) * h1_history[v][t] + dt1_c * drive1
            drive2 = u_c[..., None] * B2[t][v][:, None]
            if A21 is not None:
                drive2 = drive2 + A21 * h1_prev_var
            h2 = torch.exp(dt2_c * A2) * h2_prev_var + dt2_c * drive2
            h1_history[v].append(h1)
            h2_column[v] = h2
            y[v][t] = (h1 * C1[t][v][:, None]).sum(-1) + (h2 * C2[t][v][:, None]).sum(-1)
            h1_prev_var, h2_prev_var = h1, h2

    out = torch.stack([torch.stack(row, dim=-1) for row in y], dim=2)  # [b, d, v, t]
    time_state = torch.stack([torch.stack(history[-period:], dim=2) for history in h1_history],
                             dim=2)  # [b, d, v, p, n]
    return finish_output(out, inputs), (time_state, torch.stack(h2_column, dim=2))
