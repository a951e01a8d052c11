"""Pure-PyTorch selective scan for any device, with few Python steps and memory linear in length.

The sequence is cut into chunks of ``chunk_size`` steps and scanned in two levels:

1. every chunk is scanned from a zero state, all chunks at once: ``chunk_size`` vectorised
   steps over ``[batch, dim, chunks, state]`` tensors, which also accumulate each chunk's
   decay product (stable for any decay: nothing is ever divided by a decay);
2. the true state entering each chunk is carried across chunk boundaries, one step per chunk,
   and added back as ``local_t + decay_product_t * state_at_chunk_start``.

A long sequence therefore costs about ``chunk_size + length / chunk_size`` Python steps instead
of ``length``. Time is processed in blocks whose ``[batch, dim, block, state]`` tensors stay
under a fixed budget, and each block runs under activation checkpointing, so the memory kept
for backward is the inputs plus one state per block: linear in length.

This is the fallback where no compiled kernel can run; the fused CPU kernel and Triton are
faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ._inputs import ScanInputs
from .reference import apply_skip_and_gate, compute_dtype, discretize_delta

DEFAULT_CHUNK_SIZE = 64
# Elements of one [batch, dim, block, state] tensor; bounds the memory of one block.
BLOCK_ELEMENTS = 1 << 22


def _scan_block(
    h0: torch.Tensor, A: torch.Tensor, u: torch.Tensor, dt: torch.Tensor, B: torch.Tensor,
    C: torch.Tensor, chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan one block of time.

    Args: ``h0`` [b, d, n]; ``A`` [d, n]; ``u``, ``dt`` [b, d, T]; ``B``, ``C`` [b, g, n, T].
    Returns ``y`` [b, d, T] (``<C_t, h_t>``, no skip or gate) and the state after the block.
    """
    batch, dim, steps = u.shape
    groups, state = B.shape[1], B.shape[2]
    pad = -steps % chunk_size
    if pad:
        # Padded steps have dt = 0: decay 1 and no input, so they leave the state unchanged.
        u, dt, B, C = (F.pad(x, (0, pad)) for x in (u, dt, B, C))
    chunks = (steps + pad) // chunk_size

    def per_chunk(x: torch.Tensor) -> torch.Tensor:  # [b, d|g, ..., T] -> [b, d|g, k, c, ...]
        return x.unflatten(-1, (chunks, chunk_size)).movedim(-3, -1) if x.dim() == 4 else \
            x.unflatten(-1, (chunks, chunk_size))

    dt_c, u_c = per_chunk(dt), per_chunk(u)  # [b, d, k, c]
    B_c = per_chunk(B).unsqueeze(2)  # [b, g, 1, k, c, n]
    C_c = per_chunk(C).unsqueeze(2)
    A_g = A.view(groups, dim // groups, 1, state)  # [g, d/g, 1, n]
    dt_g = dt_c.view(batch, groups, dim // groups, chunks, chunk_size)
    u_g = u_c.view(batch, groups, dim // groups, chunks, chunk_size)

    local = u.new_zeros(batch, groups, dim // groups, chunks, state)
    product = torch.ones_like(local)
    locals_, products = [], []
    # unbind, not indexing: indexing in a loop makes autograd's backward quadratic.
    steps_in_chunk = zip(dt_g.unbind(-1), u_g.unbind(-1), B_c.unbind(-2), strict=True)
    for dt_i, u_i, B_i in steps_in_chunk:  # all chunks advance together
        decay = torch.exp(dt_i[..., None] * A_g)  # [b, g, d/g, k, n]
        local = decay * local + (dt_i * u_i)[..., None] * B_i
        product = product * decay
        locals_.append(local)
        products.append(product)
    local_all = torch.stack(locals_, dim=-2)  # [b, g, d/g, k, c, n]
    product_all = torch.stack(products, dim=-2)

    h = h0.view(batch, groups, dim // groups, state)
    starts = []
    for product_k, local_k in zip(product.unbind(-2), local.unbind(-2), strict=True):
        starts.append(h)  # carry the state across chunk boundaries
        h = product_k * h + local_k
    start = torch.stack(starts, dim=-2)  # [b, g, d/g, k, n]
    hs = local_all + product_all * start[..., None, :]
    y = (hs * C_c).sum(-1)  # [b, g, d/g, k, c]
    return y.reshape(batch, dim, -1)[..., :steps], h.reshape(batch, dim, state)


def selective_scan_chunked(
    inputs: ScanInputs, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked selective scan; same contract as :func:`reference.selective_scan_ref`."""
    dtype = compute_dtype(inputs.u)
    u = inputs.u.to(dtype)
    dt = discretize_delta(inputs, dtype)
    A = inputs.A.to(dtype)
    B = inputs.B.to(dtype)
    C = inputs.C.to(dtype)
    if inputs.reverse:
        u, dt, B, C = (x.flip(-1) for x in (u, dt, B, C))
    h = (
        u.new_zeros(inputs.batch, inputs.dim, inputs.state)
        if inputs.initial_state is None
        else inputs.initial_state.to(dtype)
    )
    per_step = inputs.batch * inputs.dim * inputs.state
    block = max(chunk_size, BLOCK_ELEMENTS // per_step // chunk_size * chunk_size)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad
        for t in (inputs.u, inputs.delta, inputs.A, inputs.B, inputs.C, inputs.delta_bias,
                  inputs.initial_state)
    )
    ys = []
    # split, not slicing in the loop: each slice's backward would allocate a full-length zero
    # gradient, making the backward quadratic in length.
    pieces = zip(*(x.split(block, dim=-1) for x in (u, dt, B, C)), strict=True)
    for u_p, dt_p, B_p, C_p in pieces:
        args = (h, A, u_p, dt_p, B_p, C_p, chunk_size)
        if needs_grad:
            y, h = checkpoint(_scan_block, *args, use_reentrant=False)
        else:
            y, h = _scan_block(*args)
        ys.append(y)
    y = torch.cat(ys, dim=-1)
    if inputs.reverse:
        y = y.flip(-1)
    return apply_skip_and_gate(y, inputs).to(inputs.u.dtype), h
