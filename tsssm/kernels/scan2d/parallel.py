"""The pure-PyTorch 2-D selective scan: batched 1-D selective scans along each axis.

**Uncoupled** (neither ``A_var_to_time`` nor ``A_time_to_var``): the grid splits exactly into
one 1-D scan per ``(batch, variate, phase)`` row along time (the ``period`` interleaved
chains ``t = j, j + p, ...`` of each variate are separate rows) and one 1-D scan per ``(batch,
time step)`` row along variates; outputs are the two read-outs' sum. Nothing of size
``[batch, dim, n_vars, length, state]`` is stored.

**Coupled**: alternating rounds. Given every variate state ``h2``, the time states ``h1`` are a
1-D scan along time whose drive is ``B_time u + A_var_to_time h2[v, t-1]``; given every
``h1``, the ``h2`` are a 1-D scan along variates driven by ``B_var u + A_time_to_var
h1[v-1, t]``. Starting from ``h2 = 0`` on the grid, round ``r`` makes ``h1`` and ``h2`` exact
at every step ``t < r`` (``h1`` at ``t`` only needs ``h2`` before ``t``) and at the first
``r - 1`` variates in scan order (``h2`` at the first variate never depends on ``h1``), so
``min(n_vars + 1, length)`` rounds are exact, and 1 or 2 when only one coupling is given.
These scans need every state, not only the read-out: each ``(channel, state)`` pair runs as a
channel of its own with state size 1 (``B = C = 1``, the drive as input), so this path holds
``[batch, dim, state, n_vars, length]`` tensors; it is the fallback where the fused kernels
cannot run, not the fast path.

Every 1-D scan goes through :func:`tsssm.kernels.selective_scan` on the backend asked for;
gradients for every input come from its backwards plus autograd. Step sizes are discretised
here (softplus and bias), so that zero padding of the time chains is an identity step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..selective_scan.api import selective_scan
from ..selective_scan.reference import compute_dtype
from ._inputs import Scan2DInputs
from .reference import discretize, finish_output, initial_states


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


def _from_variate_rows(rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of :func:`_variate_rows`: ``[b * t, c, v]`` -> ``[b, c, v, t]``."""
    bt, c, v = rows.shape
    return rows.view(batch, bt // batch, c, v).permute(0, 2, 3, 1)


def _shift_variates(y: torch.Tensor, reverse: bool) -> torch.Tensor:
    """``y[..., v - 1, :]`` at variate ``v`` (``v + 1`` when ``reverse``), zero at the first
    variate in scan order; ``[b, c, v, t]``."""
    if reverse:
        return F.pad(y[:, :, 1:], (0, 0, 0, 1))
    return F.pad(y[:, :, :-1], (0, 0, 1, 0))


def _time_state_rows(time0: torch.Tensor, length: int) -> torch.Tensor:
    """Initial states of the time chains: ``[b, c, v, p, n]`` -> ``[b * v * p, c, n]``.

    Chain ``j`` starts at padded index ``j``, i.e. step ``j - pad``; its state before that is
    ``h1`` at step ``j - pad - p`` (or, through identity padding, ``j - pad``), which is
    ``time0[..., (j - pad) mod p, :]``."""
    b, c, v, p, n = time0.shape
    pad = -(-length // p) * p - length
    return time0.roll(pad, dims=3).permute(0, 2, 3, 1, 4).reshape(b * v * p, c, n)


def _from_time_state_rows(last: torch.Tensor, b: int, v: int, p: int) -> torch.Tensor:
    """``[b * v * p, c, n]`` -> ``[b, c, v, p, n]``; chain ``j`` ends at step ``T - p + j``."""
    _, c, n = last.shape
    return last.view(b, v, p, c, n).permute(0, 3, 1, 2, 4)


def _scan_time(drive, dt, A, B, C, time0, period, backend):
    """1-D scans along time of ``drive`` ``[b, c, v, t]``; returns ``(y [b, c, v, t],
    last time states [b, c, v, p, n])``."""
    b, c, v, t = drive.shape
    y_rows, last = selective_scan(
        _time_rows(drive, period), _time_rows(dt, period), A, _time_rows(B, period),
        _time_rows(C, period), initial_state=_time_state_rows(time0, t),
        return_last_state=True, backend=backend,
    )
    return _from_time_rows(y_rows, (b, c, v, t), period), _from_time_state_rows(last, b, v,
                                                                               period)


def _scan_variates(drive, dt, A, B, C, reverse, backend):
    """1-D scans along variates of ``drive`` ``[b, c, v, t]``; returns ``y [b, c, v, t]``."""
    y_rows = selective_scan(_variate_rows(drive), _variate_rows(dt), A, _variate_rows(B),
                            _variate_rows(C), reverse=reverse, backend=backend)
    return _from_variate_rows(y_rows, drive.shape[0])


def selective_scan_2d_parallel(
    inputs: Scan2DInputs, scan_backend: str = "auto"
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Same contract as :func:`reference.selective_scan_2d_ref`; ``scan_backend`` is the
    backend of the 1-D scans (any name :func:`tsssm.kernels.selective_scan` accepts)."""
    dtype = compute_dtype(inputs.u)
    b, d, v, t = inputs.u.shape
    n, p, reverse = inputs.state, inputs.period, inputs.reverse_variates
    u = inputs.u.to(dtype)
    dt1 = discretize(inputs.delta_time, inputs.delta_bias_time, inputs.delta_softplus, dtype)
    dt2 = discretize(inputs.delta_var, inputs.delta_bias_var, inputs.delta_softplus, dtype)
    A1, A2 = inputs.A_time.to(dtype), inputs.A_var.to(dtype)
    B1, C1, B2, C2 = (x.to(dtype) for x in (inputs.B_time, inputs.C_time, inputs.B_var,
                                            inputs.C_var))
    time0, var0 = initial_states(inputs, dtype)

    if not inputs.coupled:
        y1, time_state = _scan_time(u, dt1, A1, B1, C1, time0, p, scan_backend)
        y2 = _scan_variates(u, dt2, A2, B2, C2, reverse, scan_backend)
        # h2 at the last step: one more read-out-free scan is cheaper than keeping states.
        var_state = _variate_states(u[..., -1:], dt2[..., -1:], A2, B2[..., -1:], reverse,
                                    scan_backend)[..., 0].permute(0, 1, 3, 2)
        return finish_output(y1 + y2, inputs), (time_state, var_state)

    # Coupled: every (channel, state) pair is a channel of its own, with state size 1.
    def per_state(x: torch.Tensor) -> torch.Tensor:  # [b, d, v, t] -> [b, d * n, v, t]
        return x[:, :, None].expand(b, d, n, v, t).reshape(b, d * n, v, t)

    ones = u.new_ones(b, 1, v, t)
    dt1_s, dt2_s = per_state(dt1), per_state(dt2)
    drive1_u = (u[:, :, None] * B1[:, None]).reshape(b, d * n, v, t)  # B_time u
    drive2_u = (u[:, :, None] * B2[:, None]).reshape(b, d * n, v, t)
    time0_s = time0.permute(0, 1, 4, 2, 3).reshape(b, d * n, v, p, 1)
    A12 = None if inputs.A_var_to_time is None else inputs.A_var_to_time.to(dtype)
    A21 = None if inputs.A_time_to_var is None else inputs.A_time_to_var.to(dtype)
    rounds = 1 if A12 is None else min(2 if A21 is None else v + 1, t)
    var0_s = var0.permute(0, 1, 3, 2).reshape(b, d * n, v, 1)
    h2 = u.new_zeros(b, d * n, v, t)  # the variate states before the first round
    for _ in range(rounds):
        drive1 = drive1_u
        if A12 is not None:
            h2_before = torch.cat([var0_s, h2[..., :-1]], dim=-1)  # h2[v, t - 1]
            drive1 = drive1 + A12.reshape(d * n, 1, 1) * h2_before
        h1, time_state = _scan_time(drive1, dt1_s, A1.reshape(d * n, 1), ones, ones, time0_s,
                                    p, scan_backend)
        drive2 = drive2_u
        if A21 is not None:
            drive2 = drive2 + A21.reshape(d * n, 1, 1) * _shift_variates(h1, reverse)
        h2 = _scan_variates(drive2, dt2_s, A2.reshape(d * n, 1), ones, ones, reverse,
                            scan_backend)
    y = (torch.einsum("bnvt,bdnvt->bdvt", C1, h1.view(b, d, n, v, t))
         + torch.einsum("bnvt,bdnvt->bdvt", C2, h2.view(b, d, n, v, t)))
    time_state = time_state.reshape(b, d, n, v, p).permute(0, 1, 3, 4, 2)
    var_state = h2[..., -1].reshape(b, d, n, v).permute(0, 1, 3, 2)
    return finish_output(y, inputs), (time_state, var_state)


def _variate_states(u, dt, A, B, reverse, backend) -> torch.Tensor:
    """Every variate state of a (short) grid without couplings: ``[b, d, v, t]`` inputs ->
    ``[b, d, n, v, t]`` (each state a channel of its own, its read-out the state)."""
    b, d, v, t = u.shape
    n = A.shape[1]
    drive = (u[:, :, None] * B[:, None]).reshape(b, d * n, v, t)
    dt_s = dt[:, :, None].expand(b, d, n, v, t).reshape(b, d * n, v, t)
    ones = u.new_ones(b, 1, v, t)
    states = _scan_variates(drive, dt_s, A.reshape(d * n, 1), ones, ones, reverse, backend)
    return states.view(b, d, n, v, t)
