"""Selective scan in Triton: a fused forward kernel and a deterministic chunked backward.

Grid: both kernels launch ``(batch, groups * cdiv(dim_per_group, BLOCK_D))`` programs. A
program owns ``BLOCK_D`` channels of one group of one sequence and keeps their state as an
fp32 ``[BLOCK_D, BLOCK_N]`` tile in registers (``BLOCK_N`` is ``state`` rounded up to a power
of two; the padding is masked). Because a program never straddles two groups, it reads one
``B_t``/``C_t`` vector per step and can reduce its channels' ``dB``/``dC`` by itself.

Forward: one loop over time (backwards when ``reverse``); inputs load in their own dtype
(fp32/bf16/fp16) and everything computes in fp32. Every ``chunk_size`` steps the state is
saved to a checkpoint buffer ``[batch, dim, n_chunks, state]``, so what is kept for backward is
``length / chunk_size`` states per channel, never a ``[batch, dim, length, state]`` tensor.

Backward: the scan is replayed in reverse, one chunk at a time (last first). The chunk's
states are recomputed from its checkpoint into a per-program scratch region of a
``[batch, dim, chunk_size, state]`` buffer that every chunk reuses, then the chunk is walked
backwards carrying the state gradient (seeded with the gradient of ``last_state``).

Determinism: there are no atomics. Gradients summed over channels or batch are written as
per-program partial sums (``dB``/``dC``: ``[batch, groups, n_dblocks, state, length]``;
``dA``: ``[batch, dim, state]``; ``dD``/``ddelta_bias``: ``[batch, dim]``) and reduced with
``torch.sum`` on the host, so repeated backward passes are bit-identical.
"""

from __future__ import annotations

import contextlib

import torch

from ._inputs import ScanInputs

try:
    import triton
    import triton.language as tl
except ImportError:  # the module must import without triton; unavailable_reason says why
    triton = None

DEFAULT_CHUNK_SIZE = 64

if triton is not None:

    @triton.jit
    def _tile(dim, state, length, groups, dim_per_group, BLOCK_D: tl.constexpr,
              BLOCK_N: tl.constexpr):
        """Indices of this program's tile: channels ``d`` and states ``n`` with masks."""
        b = tl.program_id(0).to(tl.int64)  # int64 so offsets do not overflow on long inputs
        n_blocks = tl.cdiv(dim_per_group, BLOCK_D)
        grp = tl.program_id(1) // n_blocks
        blk = tl.program_id(1) % n_blocks
        local = blk * BLOCK_D + tl.arange(0, BLOCK_D)
        d_mask = local < dim_per_group
        d = grp * dim_per_group + local
        n = tl.arange(0, BLOCK_N)
        n_mask = n < state
        chan = b * dim + d  # [BLOCK_D] flat (batch, channel) index
        bc = ((b * groups + grp) * state + n) * length  # [BLOCK_N] row offsets into B and C
        return d, d_mask, n, n_mask, chan, bc

    @triton.jit
    def _channel_params(A_ptr, bias_ptr, D_ptr, d, n, d_mask, dn_mask, state,
                        HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, BLOCK_D: tl.constexpr):
        """Per-channel parameters in fp32: ``A`` [BLOCK_D, BLOCK_N], ``delta_bias`` and ``D``
        [BLOCK_D] (zeros when absent)."""
        A = tl.load(A_ptr + d[:, None] * state + n[None, :], mask=dn_mask, other=0.0)
        bias = tl.zeros([BLOCK_D], tl.float32)
        if HAS_BIAS:
            bias = tl.load(bias_ptr + d, mask=d_mask, other=0.0).to(tl.float32)
        Dv = tl.zeros([BLOCK_D], tl.float32)
        if HAS_D:
            Dv = tl.load(D_ptr + d, mask=d_mask, other=0.0).to(tl.float32)
        return A.to(tl.float32), bias, Dv

    @triton.jit
    def _step_inputs(u_ptr, delta_ptr, B_ptr, bias, row, bc, t, d_mask, n_mask,
                     SOFTPLUS: tl.constexpr):
        """Load step ``t``: returns ``u``, ``delta + bias``, ``dt`` ([BLOCK_D]) and ``B_t``."""
        u = tl.load(u_ptr + row + t, mask=d_mask, other=0.0).to(tl.float32)
        dt_raw = tl.load(delta_ptr + row + t, mask=d_mask, other=0.0).to(tl.float32) + bias
        dt = dt_raw
        if SOFTPLUS:
            # torch's softplus (threshold 20). log1p(e) is computed as log(w) * e / (w - 1),
            # w = 1 + e, which stays accurate for tiny e where log(1 + e) rounds to 0 (libdevice's
            # log1p does not run in the interpreter). The clamp and the guarded division keep
            # the branches tl.where drops free of inf and NaN.
            e = tl.exp(tl.minimum(dt_raw, 20.0))
            w = 1.0 + e
            w_1 = w - 1.0
            log1p_e = tl.where(w_1 == 0.0, e, tl.log(w) * e / tl.where(w_1 == 0.0, 1.0, w_1))
            dt = tl.where(dt_raw > 20.0, dt_raw, log1p_e)
        B_t = tl.load(B_ptr + bc + t, mask=n_mask, other=0.0).to(tl.float32)
        return u, dt_raw, dt, B_t

    @triton.jit
    def _scan_fwd_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, h0_ptr,
        out_ptr, last_ptr, ckpt_ptr,
        dim, state, length, groups, dim_per_group, chunk, n_chunks,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        HAS_H0: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        """Forward scan; writes ``out`` [B, D, L], ``last`` [B, D, N], ``ckpt`` [B, D, NC, N]."""
        d, d_mask, n, n_mask, chan, bc = _tile(
            dim, state, length, groups, dim_per_group, BLOCK_D, BLOCK_N)
        dn_mask = d_mask[:, None] & n_mask[None, :]
        row = chan * length
        state_off = chan[:, None] * state + n[None, :]
        A, bias, Dv = _channel_params(A_ptr, bias_ptr, D_ptr, d, n, d_mask, dn_mask, state,
                                      HAS_BIAS, HAS_D, BLOCK_D)
        h = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        if HAS_H0:
            h = tl.load(h0_ptr + state_off, mask=dn_mask, other=0.0).to(tl.float32)
        for c in range(n_chunks):
            ckpt_off = (chan[:, None] * n_chunks + c) * state + n[None, :]
            tl.store(ckpt_ptr + ckpt_off, h, mask=dn_mask)
            for s in range(c * chunk, tl.minimum(c * chunk + chunk, length)):
                t = length - 1 - s if REVERSE else s
                u, _, dt, B_t = _step_inputs(
                    u_ptr, delta_ptr, B_ptr, bias, row, bc, t, d_mask, n_mask, SOFTPLUS)
                h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * B_t[None, :]
                C_t = tl.load(C_ptr + bc + t, mask=n_mask, other=0.0).to(tl.float32)
                y = tl.sum(h * C_t[None, :], axis=1)
                if HAS_D:
                    y += Dv * u
                if HAS_Z:
                    z = tl.load(z_ptr + row + t, mask=d_mask, other=0.0).to(tl.float32)
                    # silu(z) written out: tl.sigmoid is a nested jit call, which is slow in
                    # the interpreter the tests run in, and compiles to the same code.
                    y = y * z / (1.0 + tl.exp(-z))
                tl.store(out_ptr + row + t, y, mask=d_mask)
        tl.store(last_ptr + state_off, h, mask=dn_mask)

    @triton.jit
    def _scan_bwd_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, ckpt_ptr,
        dout_ptr, dlast_ptr, scratch_ptr,
        du_ptr, ddelta_ptr, dz_ptr, dh0_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, dbias_ptr,
        dim, state, length, groups, dim_per_group, chunk, n_chunks,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        HAS_H0: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):
        """Backward scan: replays each chunk from its checkpoint and walks it in reverse.

        Writes ``du``, ``ddelta``, ``dz`` [B, D, L] and ``dh0`` [B, D, N] directly, and the
        partial sums ``dA`` [B, D, N], ``dB``/``dC`` [B, G, n_dblocks, N, L], ``dD``,
        ``dbias`` [B, D] that the host reduces.
        """
        d, d_mask, n, n_mask, chan, bc = _tile(
            dim, state, length, groups, dim_per_group, BLOCK_D, BLOCK_N)
        dn_mask = d_mask[:, None] & n_mask[None, :]
        row = chan * length
        state_off = chan[:, None] * state + n[None, :]
        # This program's slice of the dB/dC partials, [B, G, n_dblocks, N, L] read as
        # [n_programs, N, L]: its [BLOCK_N] rows of `length` values.
        prog = tl.program_id(0).to(tl.int64) * tl.num_programs(1) + tl.program_id(1)
        part = (prog * state + n) * length
        A, bias, Dv = _channel_params(A_ptr, bias_ptr, D_ptr, d, n, d_mask, dn_mask, state,
                                      HAS_BIAS, HAS_D, BLOCK_D)
        g = tl.load(dlast_ptr + state_off, mask=dn_mask, other=0.0)  # dLoss/dh, fp32
        dA_acc = tl.zeros([BLOCK_D, BLOCK_N], tl.float32)
        dD_acc = tl.zeros([BLOCK_D], tl.float32)
        dbias_acc = tl.zeros([BLOCK_D], tl.float32)
        for ci in range(n_chunks):
            c = n_chunks - 1 - ci
            start = c * chunk
            steps = tl.minimum(chunk, length - start)
            h = tl.load(ckpt_ptr + (chan[:, None] * n_chunks + c) * state + n[None, :],
                        mask=dn_mask, other=0.0)
            # Recompute the chunk; scratch slot j holds the state *before* step j, and the
            # state after the chunk's last step stays in registers as `h`.
            for j in range(steps):
                tl.store(scratch_ptr + (chan[:, None] * chunk + j) * state + n[None, :], h,
                         mask=dn_mask)
                t = length - 1 - (start + j) if REVERSE else start + j
                u, _, dt, B_t = _step_inputs(
                    u_ptr, delta_ptr, B_ptr, bias, row, bc, t, d_mask, n_mask, SOFTPLUS)
                h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * B_t[None, :]
            # On a GPU the threads that read a scratch element need not be the ones that
            # wrote it: the barrier makes the block's global writes visible to all its threads.
            tl.debug_barrier()
            for i in range(steps):
                j = steps - 1 - i
                t = length - 1 - (start + j) if REVERSE else start + j
                h_prev = tl.load(scratch_ptr + (chan[:, None] * chunk + j) * state + n[None, :],
                                 mask=dn_mask, other=0.0)
                u, dt_raw, dt, B_t = _step_inputs(
                    u_ptr, delta_ptr, B_ptr, bias, row, bc, t, d_mask, n_mask, SOFTPLUS)
                decay = tl.exp(dt[:, None] * A)
                C_t = tl.load(C_ptr + bc + t, mask=n_mask, other=0.0).to(tl.float32)
                dy = tl.load(dout_ptr + row + t, mask=d_mask, other=0.0).to(tl.float32)
                if HAS_Z:
                    # out = y * silu(z): needs y, recomputed from the state after this step.
                    z = tl.load(z_ptr + row + t, mask=d_mask, other=0.0).to(tl.float32)
                    sig = 1.0 / (1.0 + tl.exp(-z))
                    y = tl.sum(h * C_t[None, :], axis=1)
                    if HAS_D:
                        y += Dv * u
                    tl.store(dz_ptr + row + t, dy * y * sig * (1.0 + z * (1.0 - sig)),
                             mask=d_mask)
                    dy = dy * z * sig
                g += dy[:, None] * C_t[None, :]
                tl.store(dC_ptr + part + t, tl.sum(dy[:, None] * h, axis=0), mask=n_mask)
                tl.store(dB_ptr + part + t, tl.sum(g * (dt * u)[:, None], axis=0), mask=n_mask)
                gB = tl.sum(g * B_t[None, :], axis=1)
                g_decay_h = g * decay * h_prev
                du = dt * gB
                if HAS_D:
                    dD_acc += dy * u
                    du += dy * Dv
                ddt = tl.sum(g_decay_h * A, axis=1) + u * gB
                dA_acc += g_decay_h * dt[:, None]
                if SOFTPLUS:
                    ddt = tl.where(dt_raw > 20.0, ddt, ddt / (1.0 + tl.exp(-dt_raw)))
                if HAS_BIAS:
                    dbias_acc += ddt
                tl.store(du_ptr + row + t, du, mask=d_mask)
                tl.store(ddelta_ptr + row + t, ddt, mask=d_mask)
                g = g * decay
                h = h_prev
            # The next chunk overwrites the scratch: every thread must be done reading it.
            tl.debug_barrier()
        if HAS_H0:
            tl.store(dh0_ptr + state_off, g, mask=dn_mask)
        tl.store(dA_ptr + state_off, dA_acc, mask=dn_mask)
        if HAS_D:
            tl.store(dD_ptr + chan, dD_acc, mask=d_mask)
        if HAS_BIAS:
            tl.store(dbias_ptr + chan, dbias_acc, mask=d_mask)

    _INTERPRETED = type(_scan_fwd_kernel).__name__ == "InterpretedFunction"


def unavailable_reason(device: torch.device) -> str | None:
    """None when the Triton backend can run on ``device``; otherwise why not and what to do."""
    device = torch.device(device)
    if triton is None:
        return "triton is not installed: pip install triton."
    if device.type == "cuda":
        return None
    if device.type == "cpu":
        # The kernels above were compiled or interpreted when this module was imported.
        if _INTERPRETED:
            return None
        return ("Triton runs on CUDA GPUs; on the CPU it needs TRITON_INTERPRET=1 set before "
                "triton is imported (slow, for tests).")
    return (f"Triton runs on CUDA GPUs (or on the CPU with TRITON_INTERPRET=1), not on "
            f"{device.type}.")


# Largest BLOCK_D * BLOCK_N tile: 512 fp32 values keep the backward's live tiles (state,
# previous state, state gradient, decay, dA) in registers. Tests lower it to get several
# d-blocks per group from tiny shapes.
MAX_TILE = 512


def _launch_config(
    u: torch.Tensor, A: torch.Tensor, B: torch.Tensor
) -> tuple[tuple[int, int], dict[str, int], int]:
    """Grid, block sizes and d-blocks per group for ``u`` [B, D, L], ``A`` [D, N], ``B``."""
    batch, dim, _ = u.shape
    groups = B.shape[1]
    block_n = triton.next_power_of_2(A.shape[1])
    block_d = max(1, min(triton.next_power_of_2(dim // groups), MAX_TILE // block_n))
    n_dblocks = triton.cdiv(dim // groups, block_d)
    return (batch, groups * n_dblocks), {"BLOCK_D": block_d, "BLOCK_N": block_n}, n_dblocks


def _on_device(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """Triton launches on the current CUDA device, so make it ``x``'s device."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _or(x: torch.Tensor | None, placeholder: torch.Tensor) -> torch.Tensor:
    """``x``, or a tensor to pass for a pointer the kernel never reads (its flag is off)."""
    return placeholder if x is None else x


class _SelectiveScanFn(torch.autograd.Function):
    """``(out, last_state)`` with gradients for every tensor input, through both outputs."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, u: torch.Tensor, delta: torch.Tensor,
        A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor | None,
        z: torch.Tensor | None, delta_bias: torch.Tensor | None,
        initial_state: torch.Tensor | None, delta_softplus: bool, reverse: bool, chunk: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, dim, length = u.shape
        state = A.shape[1]
        chunk = min(chunk, length)  # so the backward's scratch is never longer than the input
        n_chunks = triton.cdiv(length, chunk)
        grid, blocks, n_dblocks = _launch_config(u, A, B)
        out = torch.empty_like(u)
        last = u.new_empty(batch, dim, state, dtype=torch.float32)
        ckpt = u.new_empty(batch, dim, n_chunks, state, dtype=torch.float32)
        flags = {"HAS_D": D is not None, "HAS_Z": z is not None,
                 "HAS_BIAS": delta_bias is not None, "HAS_H0": initial_state is not None,
                 "SOFTPLUS": delta_softplus, "REVERSE": reverse}
        with _on_device(u):
            _scan_fwd_kernel[grid](
                u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u),
                _or(initial_state, u), out, last, ckpt,
                dim, state, length, B.shape[1], dim // B.shape[1], chunk, n_chunks,
                **flags, **blocks,
            )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        # The backward reuses this launch configuration: its partial sums follow the d-blocks.
        ctx.launch = (grid, blocks, n_dblocks, flags, chunk)
        ctx.h0_dtype = None if initial_state is None else initial_state.dtype
        return out, last

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, dout: torch.Tensor, dlast: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        grid, blocks, n_dblocks, flags, chunk = ctx.launch
        batch, dim, length = u.shape
        state, groups = A.shape[1], B.shape[1]
        f32 = {"dtype": torch.float32, "device": u.device}
        du = torch.empty_like(u)
        ddelta = torch.empty_like(delta)
        dz = None if z is None else torch.empty_like(z)
        dh0 = None
        if ctx.h0_dtype is not None:
            dh0 = torch.empty(batch, dim, state, dtype=ctx.h0_dtype, device=u.device)
        dA = torch.empty(batch, dim, state, **f32)
        dB = torch.empty(batch, groups, n_dblocks, state, length, **f32)
        dC = torch.empty_like(dB)
        dD = None if D is None else torch.empty(batch, dim, **f32)
        dbias = None if delta_bias is None else torch.empty(batch, dim, **f32)
        scratch = torch.empty(batch, dim, chunk, state, **f32)
        with _on_device(u):
            _scan_bwd_kernel[grid](
                u, delta, A, B, C, _or(D, u), _or(z, u), _or(delta_bias, u), ckpt,
                dout.contiguous(), dlast.float().contiguous(), scratch,
                du, ddelta, _or(dz, du), _or(dh0, dA), dA, dB, dC, _or(dD, dA), _or(dbias, dA),
                dim, state, length, groups, dim // groups, chunk, ckpt.shape[2],
                **flags, **blocks,
            )
        # Fixed-order host reductions over batch and d-blocks: deterministic, unlike atomics.
        return (
            du, ddelta, dA.sum(0).to(A.dtype), dB.sum(2).to(B.dtype), dC.sum(2).to(C.dtype),
            None if dD is None else dD.sum(0).to(D.dtype),
            dz,
            None if dbias is None else dbias.sum(0).to(delta_bias.dtype),
            dh0,
            None, None, None,
        )


def selective_scan_triton(
    inputs: ScanInputs, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton selective scan; same contract as :func:`reference.selective_scan_ref`.

    Returns ``out`` [B, D, L] in ``u``'s dtype and ``last_state`` [B, D, N] in float32 (also
    for float64 inputs, which compute in float32). ``chunk_size`` is the number of steps
    between the checkpoints the backward replays from (memory vs. recompute granularity).
    """
    if chunk_size < 1:
        raise ValueError(f"selective_scan_triton: chunk_size must be >= 1, got {chunk_size}")

    def c(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.contiguous()

    return _SelectiveScanFn.apply(
        c(inputs.u), c(inputs.delta), c(inputs.A), c(inputs.B), c(inputs.C), c(inputs.D),
        c(inputs.z), c(inputs.delta_bias), c(inputs.initial_state), inputs.delta_softplus,
        inputs.reverse, chunk_size,
    )
