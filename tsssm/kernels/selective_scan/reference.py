"""The specification of the selective scan: the recurrence written as a plain loop.

Every other backend is tested against this function, values and gradients. It favours
clarity over speed, computes in float32 (float64 stays float64), and iterates with
``unbind`` so that autograd's backward stays linear in length.

For each batch ``b``, channel ``d`` and state ``n`` (groups omitted)::

    dt_t  = softplus(delta_t + delta_bias)   if delta_softplus else delta_t + delta_bias
    h_t   = exp(dt_t * A[d, n]) * h_{t-1} + dt_t * B_t[n] * u_t        h_{-1} = initial_state
    y_t   = sum_n C_t[n] * h_t[n] + D[d] * u_t
    out_t = y_t * silu(z_t)                                             if z is given

With ``reverse=True`` the same recurrence runs from the last step to the first, so
``out_t`` depends on steps ``t..L-1`` and the returned state is the one after step 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._inputs import ScanInputs


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64; every other floating dtype computes in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def discretize_delta(inputs: ScanInputs, dtype: torch.dtype) -> torch.Tensor:
    """``dt = delta (+ delta_bias)``, optionally through softplus; ``[batch, dim, length]``."""
    dt = inputs.delta.to(dtype)
    if inputs.delta_bias is not None:
        dt = dt + inputs.delta_bias.to(dtype)[:, None]
    return F.softplus(dt) if inputs.delta_softplus else dt


def apply_skip_and_gate(y: torch.Tensor, inputs: ScanInputs) -> torch.Tensor:
    """``(y + D * u) * silu(z)`` with whichever of ``D`` and ``z`` are given, in y's dtype."""
    if inputs.D is not None:
        y = y + inputs.D.to(y.dtype)[:, None] * inputs.u.to(y.dtype)
    if inputs.z is not None:
        y = y * F.silu(inputs.z.to(y.dtype))
    return y


def selective_scan_ref(inputs: ScanInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence step by step.

    Returns ``(out, last_state)``: ``out`` is ``[batch, dim, length]`` in ``u``'s dtype and
    ``last_state`` is ``[batch, dim, state]`` in the compute dtype (float32 or float64).
    """
    dtype = compute_dtype(inputs.u)
    batch, dim, state, groups = inputs.batch, inputs.dim, inputs.state, inputs.groups
    # Channels are viewed as [groups, dim // groups] so that each group's B_t and C_t broadcast
    # over its channels without copying B and C to every channel.
    per_group = (batch, groups, dim // groups)
    u = inputs.u.to(dtype).view(*per_group, -1)
    dt = discretize_delta(inputs, dtype).view(*per_group, -1)
    A = inputs.A.to(dtype).view(groups, dim // groups, state)
    B = inputs.B.to(dtype)  # [b, g, n, l]
    C = inputs.C.to(dtype)
    if inputs.initial_state is None:
        h = u.new_zeros(*per_group, state)
    else:
        h = inputs.initial_state.to(dtype).view(*per_group, state)

    steps = list(zip(u.unbind(-1), dt.unbind(-1), B.unbind(-1), C.unbind(-1), strict=True))
    if inputs.reverse:
        steps.reverse()
    ys = []
    for u_t, dt_t, B_t, C_t in steps:  # u_t, dt_t: [b, g, d/g]; B_t, C_t: [b, g, n]
        decay = torch.exp(dt_t[..., None] * A)  # [b, g, d/g, n]
        h = decay * h + (dt_t * u_t)[..., None] * B_t[:, :, None, :]
        ys.append((h * C_t[:, :, None, :]).sum(-1))  # [b, g, d/g]
    if inputs.reverse:
        ys.reverse()
    y = torch.stack(ys, dim=-1).view(batch, dim, -1)  # [b, d, l]
    out = apply_skip_and_gate(y, inputs).to(inputs.u.dtype)
    return out, h.reshape(batch, dim, state)
