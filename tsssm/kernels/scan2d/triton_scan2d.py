"""Chimera's 2-D selective scan in Triton: a fused forward kernel and a hand-written backward
that replays the grid from checkpoints.

The recurrence is the one of :mod:`.reference` (both couplings, period, ``reverse_variates``,
``D``, ``silu(z)``, initial and last states). The step sizes are discretised (bias, softplus)
in PyTorch before the kernels, one elementwise pass whose backward autograd does.

Grid: both kernels launch ``(batch, cdiv(dim, BLOCK_D))`` programs. A program owns
``BLOCK_D`` channels of one batch item; each of its values is an fp32 ``[BLOCK_D, BLOCK_N]``
tile (channels x states, ``BLOCK_N`` the state size rounded up to a power of two, masked).

Forward: a program sweeps the time steps ``t = 0 .. T-1`` and, inside each, the column's
variates in scan order, one cell at a time. The states passed from one variate to the next
(``h1[v-1,t]``, ``h2[v-1,t]``) stay in registers; the rest of the column lives in two
per-program buffers shaped like the last states: the ring of the last ``period`` time states
(``[batch, dim, n_vars, period, state]``, slot ``t mod period``, which becomes ``time_state``
after a roll) and the variate states of the previous step (``[batch, dim, n_vars, state]``,
which becomes ``var_state``). Every ``segment`` steps both are copied to checkpoints
(``[batch, dim, n_segments, ...]``), all that is kept for the backward: nothing of size
``[batch, dim, n_vars, length, state]`` is ever allocated.

Backward: segments last first. A segment's states are recomputed from its checkpoint into a
per-program scratch (``h1`` and ``h2`` of its steps and of the ``period`` steps, or the one
step, before it: ``[batch, dim, segment + period or + 1, n_vars, state]``), then its cells are
walked in reverse (time backwards, variates against scan order). The gradients that reach
earlier cells are carried like the states: along variates in registers, along time in two
buffers shaped like the states (what reaches ``h1`` at step ``t`` from ``t + period``, and
what reaches ``h2`` from ``h1`` at the next step), which end as the gradients of the initial
states. A barrier closes every column: on a GPU the threads that read a state need not be
those that wrote it.

Determinism: no atomics. Gradients summed over channels or batch are per-program partial sums
(``dB``/``dC``: ``[batch, n_dblocks, state, n_vars, length]``; ``dA*``: ``[batch, dim,
state]``; ``dD``: ``[batch, dim]``) reduced with ``torch.sum`` on the host, so repeated
backward passes give the same bits.

Inputs of any floating dtype compute in float32 (like the fused CPU kernel); ``out`` comes
back in ``u``'s dtype, the last states in float32.
"""

from __future__ import annotations

import math

import torch

from ..selective_scan import triton_scan
from ..selective_scan.triton_scan import _on_device, _or
from ._inputs import Scan2DInputs
from .reference import discretize

triton = triton_scan.triton
if triton is not None:
    import triton.language as tl

    @triton.jit
    def _program_tile(dim, state, n_vars, length, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
        """This program's channels ``d`` and states ``n`` with their masks, the flat (batch,
        channel) index ``chan`` (int64, so offsets do not overflow), and the offsets of
        cell 0: ``row`` [BLOCK_D] into the ``[B, D, V, T]`` grids, ``bc`` [1, BLOCK_N] into
        ``B``/``C`` ``[B, N, V, T]`` (cell ``(v, t)`` is ``v * T + t`` further). ``bc`` is 2-D
        so that the loaded rows of ``B`` and ``C`` broadcast over channels as they are."""
        b = tl.program_id(0).to(tl.int64)
        d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
        n = tl.arange(0, BLOCK_N)
        d_mask = d < dim
        n_mask = n < state
        chan = b * dim + d
        cells = n_vars * length
        return (d, n, d_mask, n_mask, d_mask[:, None] & n_mask[None, :], chan, chan * cells,
                ((b * state + n) * cells)[None, :])

    @triton.jit
    def _channel_params(A1_ptr, A2_ptr, A12_ptr, A21_ptr, D_ptr, d, n, state, d_mask, dn_mask,
                        HAS_A12: tl.constexpr, HAS_A21: tl.constexpr, HAS_D: tl.constexpr,
                        BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
        """``A_time``, ``A_var``, ``A_var_to_time``, ``A_time_to_var`` [BLOCK_D, BLOCK_N] and
        ``D`` [BLOCK_D] of this program's channels (zeros for an absent one)."""
        at = d[:, None] * state + n[None, :]
        A1 = tl.load(A1_ptr + at, mask=dn_mask, other=0.0)
        A2 = tl.load(A2_ptr + at, mask=dn_mask, other=0.0)
        A12 = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        if HAS_A12:
            A12 = tl.load(A12_ptr + at, mask=dn_mask, other=0.0)
        A21 = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        if HAS_A21:
            A21 = tl.load(A21_ptr + at, mask=dn_mask, other=0.0)
        Dv = tl.zeros([BLOCK_D], tl.float32)
        if HAS_D:
            Dv = tl.load(D_ptr + d, mask=d_mask, other=0.0)
        return A1, A2, A12, A21, Dv

    @triton.jit
    def _copy_rows(src, dst, rows, state, dn_mask):
        """Copy ``rows`` consecutive state vectors of each channel (pointer tiles to row 0)."""
        for i in range(rows):
            tl.store(dst + i * state, tl.load(src + i * state, mask=dn_mask), mask=dn_mask)

    @triton.jit
    def _cell_inputs(u_ptr, dt1_ptr, dt2_ptr, B1_ptr, B2_ptr, at, bc_at, d_mask, bn_mask):
        """``u``, ``dt1``, ``dt2`` [BLOCK_D] (at grid offsets ``at``) and ``B_time``,
        ``B_var`` [1, BLOCK_N] (at offsets ``bc_at``) of one cell."""
        u = tl.load(u_ptr + at, mask=d_mask, other=0.0)
        dt1 = tl.load(dt1_ptr + at, mask=d_mask, other=0.0)
        dt2 = tl.load(dt2_ptr + at, mask=d_mask, other=0.0)
        B1 = tl.load(B1_ptr + bc_at, mask=bn_mask, other=0.0)
        B2 = tl.load(B2_ptr + bc_at, mask=bn_mask, other=0.0)
        return u, dt1, dt2, B1, B2

    @triton.jit
    def _sweep(
        u_ptr, dt1_ptr, dt2_ptr, B1_ptr, C1_ptr, B2_ptr, C2_ptr, z_ptr, out_ptr, S1, S2, ring,
        column, row, bc, A1, A2, A12, A21, Dv, t_begin, t_end, n_vars, length, period, state,
        d_mask, bn_mask, dn_mask, HAS_A12: tl.constexpr, HAS_A21: tl.constexpr,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, REVERSE: tl.constexpr, RECORD: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        """The recurrence over the columns ``t_begin <= t < t_end``, variates in scan order.

        ``ring`` (h1, variate ``v`` and slot ``t mod period`` at ``(v * period + slot) *
        state``) and ``column`` (h2, variate ``v`` at ``v * state``) are pointer tiles to this
        program's states, read and updated in place. ``RECORD``: the states of step ``t_begin
        + j`` also go to the scratch ``S1`` slot ``period + j`` and ``S2`` slot ``1 + j``
        (slot ``s`` of variate ``v`` at ``(s * n_vars + v) * state``), and nothing is read
        out; otherwise the output goes to ``out``.
        """
        zero = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        column_size = n_vars * state
        for t in range(t_begin, t_end):
            ring_t = ring + (t % period) * state  # h1 of variate v at v * period * state
            S1_t = S1 + (period + t - t_begin) * column_size
            S2_t = S2 + (1 + t - t_begin) * column_size
            h1_pv = zero  # the previous variate's states (zero before the first one)
            h2_pv = zero
            for i in range(n_vars):
                v = n_vars - 1 - i if REVERSE else i
                at = row + v * length + t
                bc_at = bc + v * length + t
                vs = v * state
                u, dt1, dt2, B1, B2 = _cell_inputs(u_ptr, dt1_ptr, dt2_ptr, B1_ptr, B2_ptr, at,
                                                   bc_at, d_mask, bn_mask)
                lag = ring_t + vs * period  # h1[v, t - period], then h1[v, t]
                drive1 = u[:, None] * B1
                if HAS_A12:
                    drive1 += A12 * tl.load(column + vs, mask=dn_mask, other=0.0)
                drive2 = u[:, None] * B2
                if HAS_A21:
                    drive2 += A21 * h1_pv
                dt1_ = dt1[:, None]
                dt2_ = dt2[:, None]
                h1 = tl.exp(dt1_ * A1) * tl.load(lag, mask=dn_mask, other=0.0) + dt1_ * drive1
                h2 = tl.exp(dt2_ * A2) * h2_pv + dt2_ * drive2
                tl.store(lag, h1, mask=dn_mask)
                tl.store(column + vs, h2, mask=dn_mask)
                if RECORD:
                    tl.store(S1_t + vs, h1, mask=dn_mask)
                    tl.store(S2_t + vs, h2, mask=dn_mask)
                else:
                    C1 = tl.load(C1_ptr + bc_at, mask=bn_mask, other=0.0)
                    C2 = tl.load(C2_ptr + bc_at, mask=bn_mask, other=0.0)
                    y = tl.sum(h1 * C1, axis=1) + tl.sum(h2 * C2, axis=1)
                    if HAS_D:
                        y += Dv * u
                    if HAS_Z:
                        z = tl.load(z_ptr + at, mask=d_mask, other=0.0)
                        y = y * z / (1.0 + tl.exp(-z))  # silu, written out as in the 1-D kernel
                    tl.store(out_ptr + at, y, mask=d_mask)
                h1_pv = h1
                h2_pv = h2
            # The next step reads this column's states: on a GPU perhaps in other threads.
            tl.debug_barrier()

    @triton.jit
    def _scan2d_fwd_kernel(
        u_ptr, dt1_ptr, dt2_ptr, A1_ptr, A2_ptr, A12_ptr, A21_ptr, B1_ptr, C1_ptr, B2_ptr,
        C2_ptr, D_ptr, z_ptr, out_ptr, ring_ptr, column_ptr, ckpt_ring_ptr, ckpt_column_ptr,
        dim, state, n_vars, length, period, segment, n_segments,
        HAS_A12: tl.constexpr, HAS_A21: tl.constexpr, HAS_D: tl.constexpr,
        HAS_Z: tl.constexpr, REVERSE: tl.constexpr, BLOCK_D: tl.constexpr,
        BLOCK_N: tl.constexpr,
    ):
        """Forward: writes ``out`` [B, D, V, T], updates ``ring`` [B, D, V, P, N] and
        ``column`` [B, D, V, N] in place, and saves them entering each segment to
        ``ckpt_ring`` [B, D, NS, V * P * N] and ``ckpt_column`` [B, D, NS, V * N]."""
        d, n, d_mask, n_mask, dn_mask, chan, row, bc = _program_tile(
            dim, state, n_vars, length, BLOCK_D, BLOCK_N)
        A1, A2, A12, A21, Dv = _channel_params(A1_ptr, A2_ptr, A12_ptr, A21_ptr, D_ptr, d, n,
                                               state, d_mask, dn_mask, HAS_A12, HAS_A21, HAS_D,
                                               BLOCK_D, BLOCK_N)
        ring_size = n_vars * period * state
        column_size = n_vars * state
        ring = ring_ptr + chan[:, None] * ring_size + n[None, :]
        column = column_ptr + chan[:, None] * column_size + n[None, :]
        for k in range(n_segments):
            ckpt = chan[:, None] * n_segments + k
            _copy_rows(ring, ckpt_ring_ptr + ckpt * ring_size + n[None, :], n_vars * period,
                       state, dn_mask)
            _copy_rows(column, ckpt_column_ptr + ckpt * column_size + n[None, :], n_vars,
                       state, dn_mask)
            _sweep(u_ptr, dt1_ptr, dt2_ptr, B1_ptr, C1_ptr, B2_ptr, C2_ptr, z_ptr, out_ptr, ring,
                   column, ring, column, row, bc, A1, A2, A12, A21, Dv, k * segment,
                   tl.minimum(k * segment + segment, length), n_vars, length, period, state,
                   d_mask, n_mask[None, :], dn_mask, HAS_A12, HAS_A21, HAS_D, HAS_Z, REVERSE, False,
                   BLOCK_D, BLOCK_N)

    @triton.jit
    def _scan2d_bwd_kernel(
        u_ptr, dt1_ptr, dt2_ptr, A1_ptr, A2_ptr, A12_ptr, A21_ptr, B1_ptr, C1_ptr, B2_ptr,
        C2_ptr, D_ptr, z_ptr, ckpt_ring_ptr, ckpt_column_ptr, dout_ptr, ring_ptr, column_ptr,
        S1_ptr, S2_ptr, pending_ptr, to_h2_ptr,
        du_ptr, ddt1_ptr, ddt2_ptr, dz_ptr, dA1_ptr, dA2_ptr, dA12_ptr, dA21_ptr,
        dB1_ptr, dC1_ptr, dB2_ptr, dC2_ptr, dD_ptr,
        dim, state, n_vars, length, period, segment, n_segments,
        HAS_A12: tl.constexpr, HAS_A21: tl.constexpr, HAS_D: tl.constexpr,
        HAS_Z: tl.constexpr, REVERSE: tl.constexpr, BLOCK_D: tl.constexpr,
        BLOCK_N: tl.constexpr,
    ):
        """Backward: per segment (last first), recompute its states, then walk it in reverse.

        ``ring``/``column`` (like the forward's) are working copies for the recomputation;
        ``S1`` [B, D, segment + P, V, N] and ``S2`` [B, D, segment + 1, V, N] receive ``h1``
        at steps ``t0 - P .. t1 - 1`` and ``h2`` at steps ``t0 - 1 .. t1 - 1`` of segment
        ``[t0, t1)``. ``pending`` [B, D, V, P, N] (slot ``t mod P``: the gradient reaching
        ``h1`` at step ``t`` from ``t + P``) and ``to_h2`` [B, D, V, N] (the gradient reaching
        ``h2[v, t]`` from ``h1[v, t + 1]``) come in holding the last states' gradients and
        leave holding the initial states'. Writes ``du``, ``ddt1``, ``ddt2``, ``dz`` [B, D,
        V, T] and the partial sums ``dA*`` [B, D, N], ``dB*``/``dC*`` [B, n_dblocks, N, V,
        T] and ``dD`` [B, D].
        """
        d, n, d_mask, n_mask, dn_mask, chan, row, bc = _program_tile(
            dim, state, n_vars, length, BLOCK_D, BLOCK_N)
        A1, A2, A12, A21, Dv = _channel_params(A1_ptr, A2_ptr, A12_ptr, A21_ptr, D_ptr, d, n,
                                               state, d_mask, dn_mask, HAS_A12, HAS_A21, HAS_D,
                                               BLOCK_D, BLOCK_N)
        bn_mask = n_mask[None, :]
        # This program's [BLOCK_N] rows of the dB/dC partials, [B, n_dblocks, N, V, T].
        part = ((tl.program_id(0).to(tl.int64) * tl.num_programs(1) + tl.program_id(1)) * state
                + n) * (n_vars * length)
        ring_size = n_vars * period * state
        column_size = n_vars * state
        ring = ring_ptr + chan[:, None] * ring_size + n[None, :]
        column = column_ptr + chan[:, None] * column_size + n[None, :]
        pending = pending_ptr + chan[:, None] * ring_size + n[None, :]
        to_h2 = to_h2_ptr + chan[:, None] * column_size + n[None, :]
        S1 = S1_ptr + chan[:, None] * ((segment + period) * column_size) + n[None, :]
        S2 = S2_ptr + chan[:, None] * ((segment + 1) * column_size) + n[None, :]
        zero = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        dA1_acc = zero
        dA2_acc = zero
        dA12_acc = zero
        dA21_acc = zero
        dD_acc = tl.zeros([BLOCK_D], tl.float32)
        for kk in range(n_segments):
            k = n_segments - 1 - kk
            t0 = k * segment
            t1 = tl.minimum(t0 + segment, length)
            ckpt = chan[:, None] * n_segments + k
            ckpt_ring = ckpt_ring_ptr + ckpt * ring_size + n[None, :]
            ckpt_column = ckpt_column_ptr + ckpt * column_size + n[None, :]
            # 1. The states before the segment, then its columns, into the scratch.
            _copy_rows(ckpt_ring, ring, n_vars * period, state, dn_mask)
            _copy_rows(ckpt_column, column, n_vars, state, dn_mask)
            _copy_rows(ckpt_column, S2, n_vars, state, dn_mask)
            for q in range(period):  # h1 at step t0 - P + q sits in ring slot (t0 + q) mod P
                for v in range(n_vars):
                    tl.store(S1 + (q * n_vars + v) * state,
                             tl.load(ckpt_ring + (v * period + (t0 + q) % period) * state,
                                     mask=dn_mask), mask=dn_mask)
            tl.debug_barrier()
            _sweep(u_ptr, dt1_ptr, dt2_ptr, B1_ptr, C1_ptr, B2_ptr, C2_ptr, z_ptr, du_ptr, S1, S2,
                   ring, column, row, bc, A1, A2, A12, A21, Dv, t0, t1, n_vars, length, period,
                   state, d_mask, bn_mask, dn_mask, HAS_A12, HAS_A21, HAS_D, HAS_Z, REVERSE, True,
                   BLOCK_D, BLOCK_N)
            # 2. Walk the segment backwards: time reversed, variates against scan order.
            for jj in range(t1 - t0):
                j = t1 - t0 - 1 - jj
                t = t0 + j
                S1_t = S1 + (period + j) * column_size  # h1 at step t, variate v at v * state
                S2_t = S2 + (1 + j) * column_size
                S1_lag = S1 + j * column_size  # h1 at step t - period
                S2_lag = S2 + j * column_size  # h2 at step t - 1
                pending_t = pending + (t % period) * state  # variate v at v * period * state
                c1 = zero  # the gradients reaching h1, h2 at (v, t) from the next variate
                c2 = zero
                last = 0 if REVERSE else n_vars - 1  # the last variate in scan order
                h1 = tl.load(S1_t + last * state, mask=dn_mask, other=0.0)
                h2 = tl.load(S2_t + last * state, mask=dn_mask, other=0.0)
                for ii in range(n_vars):
                    i = n_vars - 1 - ii  # position in scan order
                    v = n_vars - 1 - i if REVERSE else i
                    at = row + v * length + t
                    bc_at = bc + v * length + t
                    part_at = part + v * length + t
                    vs = v * state
                    h1_pv = zero  # the previous variate's states, in scan order
                    h2_pv = zero
                    if i > 0:
                        vps = vs + state if REVERSE else vs - state
                        h1_pv = tl.load(S1_t + vps, mask=dn_mask, other=0.0)
                        h2_pv = tl.load(S2_t + vps, mask=dn_mask, other=0.0)
                    h1_lag = tl.load(S1_lag + vs, mask=dn_mask, other=0.0)
                    u, dt1, dt2, B1, B2 = _cell_inputs(u_ptr, dt1_ptr, dt2_ptr, B1_ptr, B2_ptr,
                                                       at, bc_at, d_mask, bn_mask)
                    C1 = tl.load(C1_ptr + bc_at, mask=bn_mask, other=0.0)
                    C2 = tl.load(C2_ptr + bc_at, mask=bn_mask, other=0.0)
                    dy = tl.load(dout_ptr + at, mask=d_mask, other=0.0)
                    if HAS_Z:
                        # out = (y + D u) silu(z): y read out again from the states.
                        z = tl.load(z_ptr + at, mask=d_mask, other=0.0)
                        sig = 1.0 / (1.0 + tl.exp(-z))
                        y = tl.sum(h1 * C1, axis=1) + tl.sum(h2 * C2, axis=1)
                        if HAS_D:
                            y += Dv * u
                        tl.store(dz_ptr + at, dy * y * sig * (1.0 + z * (1.0 - sig)),
                                 mask=d_mask)
                        dy = dy * z * sig
                    dy_ = dy[:, None]
                    u_ = u[:, None]
                    dt1_ = dt1[:, None]
                    dt2_ = dt2[:, None]
                    tl.store(dC1_ptr + part_at, tl.sum(dy_ * h1, axis=0), mask=n_mask)
                    tl.store(dC2_ptr + part_at, tl.sum(dy_ * h2, axis=0), mask=n_mask)
                    lag_grad = pending_t + vs * period
                    g1 = dy_ * C1 + c1 + tl.load(lag_grad, mask=dn_mask, other=0.0)
                    g2 = dy_ * C2 + c2 + tl.load(to_h2 + vs, mask=dn_mask, other=0.0)
                    # h1 = decay1 h1_lag + dt1 (A12 h2_before + B1 u)
                    decay1 = tl.exp(dt1_ * A1)
                    g1_dt = g1 * dt1_
                    gB1 = tl.sum(g1 * B1, axis=1)
                    g1_decay_h = g1 * decay1 * h1_lag
                    ddt1 = tl.sum(g1_decay_h * A1, axis=1) + u * gB1
                    dA1_acc += g1_decay_h * dt1_
                    tl.store(dB1_ptr + part_at, tl.sum(g1_dt * u_, axis=0), mask=n_mask)
                    tl.store(lag_grad, g1 * decay1, mask=dn_mask)
                    if HAS_A12:
                        h2_before = tl.load(S2_lag + vs, mask=dn_mask, other=0.0)
                        ddt1 += tl.sum(g1 * A12 * h2_before, axis=1)
                        dA12_acc += g1_dt * h2_before
                        tl.store(to_h2 + vs, g1_dt * A12, mask=dn_mask)
                    else:
                        tl.store(to_h2 + vs, zero, mask=dn_mask)
                    # h2 = decay2 h2_pv + dt2 (A21 h1_pv + B2 u)
                    decay2 = tl.exp(dt2_ * A2)
                    g2_dt = g2 * dt2_
                    gB2 = tl.sum(g2 * B2, axis=1)
                    g2_decay_h = g2 * decay2 * h2_pv
                    ddt2 = tl.sum(g2_decay_h * A2, axis=1) + u * gB2
                    dA2_acc += g2_decay_h * dt2_
                    tl.store(dB2_ptr + part_at, tl.sum(g2_dt * u_, axis=0), mask=n_mask)
                    if HAS_A21:
                        ddt2 += tl.sum(g2 * A21 * h1_pv, axis=1)
                        dA21_acc += g2_dt * h1_pv
                        c1 = g2_dt * A21
                    c2 = g2 * decay2
                    du = dt1 * gB1 + dt2 * gB2
                    if HAS_D:
                        du += dy * Dv
                        dD_acc += dy * u
                    tl.store(du_ptr + at, du, mask=d_mask)
                    tl.store(ddt1_ptr + at, ddt1, mask=d_mask)
                    tl.store(ddt2_ptr + at, ddt2, mask=d_mask)
                    h1 = h1_pv  # the next cell of the walk is the previous variate
                    h2 = h2_pv
                tl.debug_barrier()  # the next step reads the gradients carried along time
        at = chan[:, None] * state + n[None, :]
        tl.store(dA1_ptr + at, dA1_acc, mask=dn_mask)
        tl.store(dA2_ptr + at, dA2_acc, mask=dn_mask)
        if HAS_A12:
            tl.store(dA12_ptr + at, dA12_acc, mask=dn_mask)
        if HAS_A21:
            tl.store(dA21_ptr + at, dA21_acc, mask=dn_mask)
        if HAS_D:
            tl.store(dD_ptr + chan, dD_acc, mask=d_mask)


def unavailable_reason(device: torch.device) -> str | None:
    """None when the 2-D Triton kernel can run on ``device``; otherwise why not and what to do
    (the same conditions as the 1-D Triton kernels)."""
    return triton_scan.unavailable_reason(device)


# Largest BLOCK_D * BLOCK_N tile, and the shape of the grid of programs: channel blocks are
# halved (down to one channel) while there are fewer than TARGET_PROGRAMS programs, but never
# into more than MAX_DBLOCKS blocks (each one more copy of the dB/dC partial sums). A scan is
# a chain of n_vars * length dependent steps per channel, so more programs hide more latency.
# Tests lower MAX_TILE to get several channel blocks from tiny shapes.
MAX_TILE = 256
TARGET_PROGRAMS = 512
MAX_DBLOCKS = 8

# Time steps between checkpoints; 0 picks sqrt(length * (period + 1) / 2), which balances the
# checkpoints ((period + 1) * length / segment columns) against the backward's scratch
# (2 * segment columns). Tests set it small to exercise several segments on small grids.
SEGMENT_STEPS = 0


def _launch_config(batch: int, dim: int, state: int) -> tuple[tuple[int, int], dict[str, int]]:
    """Grid and block sizes (``BLOCK_D``, ``BLOCK_N``, ``num_warps``)."""
    block_n = triton.next_power_of_2(state)
    block_d = max(1, min(triton.next_power_of_2(dim), MAX_TILE // block_n))
    while (block_d > 1 and batch * triton.cdiv(dim, block_d) < TARGET_PROGRAMS
           and triton.cdiv(dim, block_d // 2) <= MAX_DBLOCKS):
        block_d //= 2
    num_warps = max(1, min(4, block_d * block_n // 64))
    grid = (batch, triton.cdiv(dim, block_d))
    return grid, {"BLOCK_D": block_d, "BLOCK_N": block_n, "num_warps": num_warps}


def _segment_steps(length: int, period: int) -> int:
    if SEGMENT_STEPS > 0:
        return min(SEGMENT_STEPS, length)
    return max(1, min(length, round(math.sqrt(length * (period + 1) / 2))))


class _Scan2DFn(torch.autograd.Function):
    """``(out, time_state, var_state)`` with gradients for every tensor input, through all
    three outputs. Inputs: float32 and contiguous, the discretised step sizes ``dt1``, ``dt2``
    in place of ``delta_time``, ``delta_var``, in :mod:`._inputs`'s shapes."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, period: int, reverse: bool,
                *tensors: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        u, _, _, A_time, _, A12, A21, _, _, _, _, D, z, time0, var0 = tensors
        batch, dim, n_vars, length = u.shape
        state = A_time.shape[1]
        segment = _segment_steps(length, period)
        n_segments = triton.cdiv(length, segment)
        grid, blocks = _launch_config(batch, dim, state)
        ring = (u.new_zeros(batch, dim, n_vars, period, state) if time0 is None
                else time0.clone())
        column = u.new_zeros(batch, dim, n_vars, state) if var0 is None else var0.clone()
        ckpt_ring = u.new_empty(batch, dim, n_segments, n_vars * period * state)
        ckpt_column = u.new_empty(batch, dim, n_segments, n_vars * state)
        out = torch.empty_like(u)
        present = {"HAS_A12": A12 is not None, "HAS_A21": A21 is not None,
                   "HAS_D": D is not None, "HAS_Z": z is not None, "REVERSE": reverse}
        sizes = (dim, state, n_vars, length, period, segment, n_segments)
        with _on_device(u):
            _scan2d_fwd_kernel[grid](*(_or(x, u) for x in tensors[:13]), out, ring, column,
                                     ckpt_ring, ckpt_column, *sizes, **present, **blocks)
        ctx.save_for_backward(*tensors, ckpt_ring, ckpt_column)
        ctx.launch = (grid, blocks, present, sizes)
        # Ring slot s holds h1 at the last step t = s (mod period); time_state[k] is h1 at
        # step length - period + k.
        return out, ring.roll(-length % period, dims=3), column

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, dout: torch.Tensor,
                 dtime_state: torch.Tensor, dvar_state: torch.Tensor
                 ) -> tuple[torch.Tensor | None, ...]:
        *tensors, ckpt_ring, ckpt_column = ctx.saved_tensors
        grid, blocks, present, sizes = ctx.launch
        u, A_time, time0, var0 = tensors[0], tensors[3], tensors[13], tensors[14]
        batch, dim, n_vars, length = u.shape
        state, period, segment = A_time.shape[1], sizes[4], sizes[5]

        def partial(*shape: int, flag: str | None = None) -> torch.Tensor | None:
            """A gradient (or partial-sum) buffer; None for an absent input."""
            return u.new_empty(*shape) if flag is None or present[flag] else None

        pending = dtime_state.float().roll(length % period, dims=3).contiguous()
        to_h2 = dvar_state.float().clone().contiguous()
        ring, column = torch.empty_like(pending), torch.empty_like(to_h2)
        S1 = u.new_empty(batch, dim, segment + period, n_vars, state)
        S2 = u.new_empty(batch, dim, segment + 1, n_vars, state)
        du, ddt1, ddt2 = (torch.empty_like(u) for _ in range(3))
        dz = partial(*u.shape, flag="HAS_Z")
        dA1, dA2 = partial(batch, dim, state), partial(batch, dim, state)
        dA12 = partial(batch, dim, state, flag="HAS_A12")
        dA21 = partial(batch, dim, state, flag="HAS_A21")
        dB1, dC1, dB2, dC2 = (partial(batch, grid[1], state, n_vars, length) for _ in range(4))
        dD = partial(batch, dim, flag="HAS_D")
        with _on_device(u):
            _scan2d_bwd_kernel[grid](
                *(_or(x, u) for x in tensors[:13]), ckpt_ring, ckpt_column,
                dout.float().contiguous(), ring, column, S1, S2, pending, to_h2, du, ddt1, ddt2,
                *(_or(x, du) for x in (dz, dA1, dA2, dA12, dA21)), dB1, dC1, dB2, dC2,
                _or(dD, du), *sizes, **present, **blocks,
            )

        def total(x: torch.Tensor | None, over: int = 0) -> torch.Tensor | None:
            # Fixed-order host reductions over batch or channel blocks: deterministic.
            return None if x is None else x.sum(over)

        return (None, None, du, ddt1, ddt2, total(dA1), total(dA2), total(dA12), total(dA21),
                total(dB1, 1), total(dC1, 1), total(dB2, 1), total(dC2, 1), total(dD), dz,
                None if time0 is None else pending, None if var0 is None else to_h2)


def selective_scan_2d_triton(
    inputs: Scan2DInputs,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Fused Triton 2-D selective scan; same contract as
    :func:`reference.selective_scan_2d_ref`, computed in float32: ``out`` in ``u``'s dtype,
    ``(time_state [batch, dim, n_vars, period, state], var_state [batch, dim, n_vars,
    state])`` in float32.

    The step sizes are discretised (bias, softplus) in PyTorch before the kernel, an
    elementwise pass whose backward autograd does; everything else is in the kernels.
    """

    def f32(x: torch.Tensor | None) -> torch.Tensor | None:
        # Differentiable cast: autograd returns each gradient in its input's dtype.
        return None if x is None else x.to(torch.float32).contiguous()

    dt1 = discretize(inputs.delta_time, inputs.delta_bias_time, inputs.delta_softplus,
                     torch.float32)
    dt2 = discretize(inputs.delta_var, inputs.delta_bias_var, inputs.delta_softplus,
                     torch.float32)
    tensors = (inputs.u, dt1, dt2, inputs.A_time, inputs.A_var, inputs.A_var_to_time,
               inputs.A_time_to_var, inputs.B_time, inputs.C_time, inputs.B_var, inputs.C_var,
               inputs.D, inputs.z, inputs.time_state0, inputs.var_state0)
    out, time_state, var_state = _Scan2DFn.apply(inputs.period, inputs.reverse_variates,
                                                 *map(f32, tensors))
    return out.to(inputs.u.dtype), (time_state, var_state)
