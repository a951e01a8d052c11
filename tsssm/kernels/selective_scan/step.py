"""One step of the selective scan, for streaming inference (mamba-ssm's signature).

Feeding a sequence one step at a time through :func:`selective_state_update`, starting from
the state a scan returned, gives the same outputs as scanning the whole sequence at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(name: str, x: torch.Tensor | None, shape: tuple[int, ...], needed: str) -> None:
    if x is not None and tuple(x.shape) != shape:
        raise ValueError(
            f"selective_state_update: `{name}` has shape {tuple(x.shape)}; it needs {needed} = "
            f"{shape}"
        )


def selective_state_update(
    state: torch.Tensor,
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
) -> torch.Tensor:
    """Advance ``state`` by one step in place and return that step's output.

    Args:
        state: ``[batch, dim, state]``, updated in place (keep it in float32).
        x, dt, z: ``[batch, dim]``.
        A: ``[dim, state]``.
        B, C: ``[batch, state]`` or grouped ``[batch, groups, state]``.
        D, dt_bias: ``[dim]``.

    Returns:
        ``out`` ``[batch, dim]`` in ``x``'s dtype.
    """
    if state.dim() != 3:
        raise ValueError(
            f"selective_state_update: `state` has shape {tuple(state.shape)}; it needs "
            "(batch, dim, state)"
        )
    if 0 in state.shape:
        raise ValueError(
            f"selective_state_update: `state` has shape {tuple(state.shape)}; it needs "
            "(batch, dim, state) with every size >= 1 (an empty dimension has nothing to scan)"
        )
    batch, dim, n_state = state.shape
    _check("x", x, (batch, dim), "(batch, dim)")
    _check("dt", dt, (batch, dim), "(batch, dim)")
    _check("z", z, (batch, dim), "(batch, dim)")
    _check("A", A, (dim, n_state), "(dim, state)")
    _check("D", D, (dim,), "(dim,)")
    _check("dt_bias", dt_bias, (dim,), "(dim,)")
    projections = []
    for name, proj in (("B", B), ("C", C)):
        if proj.dim() == 2:
            proj = proj.unsqueeze(1)
        groups = proj.shape[1] if proj.dim() == 3 else 0
        if proj.dim() != 3 or proj.shape[0] != batch or proj.shape[2] != n_state or not groups \
                or dim % groups:
            raise ValueError(
                f"selective_state_update: `{name}` has shape {tuple(proj.shape)}; it needs "
                f"(batch, state) = ({batch}, {n_state}) or (batch, groups, state) with dim={dim} "
                "divisible by groups"
            )
        projections.append(proj.repeat_interleave(dim // groups, dim=1).float())  # [b, d, n]
    B_t, C_t = projections

    step = dt.float()
    if dt_bias is not None:
        step = step + dt_bias.float()
    if dt_softplus:
        step = F.softplus(step)
    x32 = x.float()
    decay = torch.exp(step[..., None] * A.float())  # [b, d, n]
    new_state = decay * state.float() + (step * x32)[..., None] * B_t
    state.copy_(new_state)
    out = (new_state * C_t).sum(-1)
    if D is not None:
        out = out + D.float() * x32
    if z is not None:
        out = out * F.silu(z.float())
    return out.to(x.dtype)
