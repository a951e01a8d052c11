"""Bidirectional Mamba: a forward and a backward (reversed) mixer over the same sequence."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.kernels import selective_scan

from .mamba import MambaMixer, causal_depthwise_conv


class BiMamba(nn.Module):
    """Sum (or mean) of a forward and a reversed Mamba mixer.

    ``[batch, length, d_model]`` -> same shape. With ``shared=True`` both directions use
    one set of weights (the sequence is read both ways by the same mixer); otherwise each
    direction has its own, as in S-Mamba and FEMBA.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        shared: bool = False,
        combine: Literal["sum", "mean"] = "sum",
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if combine not in ("sum", "mean"):
            raise ValueError(f"BiMamba: combine must be 'sum' or 'mean', got {combine!r}")
        kwargs = {"d_state": d_state, "d_conv": d_conv, "expand": expand, "backend": backend,
                  "device": device, "dtype": dtype}
        self.forward_mixer = MambaMixer(d_model, **kwargs)
        self.backward_mixer = self.forward_mixer if shared else MambaMixer(d_model, **kwargs)
        self.combine = combine

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``hidden`` [batch, length, d_model] -> [batch, length, d_model]."""
        both = both_directions(self.forward_mixer, self.backward_mixer, hidden)
        return both / 2 if self.combine == "mean" else both


def _stacked(first: torch.Tensor | None, second: torch.Tensor | None, dim: int = 0
             ) -> torch.Tensor | None:
    return None if first is None else torch.cat([first, second], dim=dim)


def both_directions(forward_mixer: MambaMixer, backward_mixer: MambaMixer,
                    hidden: torch.Tensor) -> torch.Tensor:
    """``forward_mixer(hidden) + backward_mixer(hidden, reverse=True)`` with each stage of
    the two mixers as one operation: one input projection (the backward half of it reversed
    in time, since a projection per step commutes with the reversal), one depthwise
    convolution and one selective scan over both mixers' channels (each mixer's ``B`` and
    ``C`` a group of the scan), batched ``x_proj`` and ``dt`` projections, and one output
    projection over both. The same maths as the two mixers one after the other, in half the
    calls: at S-Mamba's few variate tokens the calls, not the arithmetic, set the time.

    ``hidden`` [batch, length, d_model] -> [batch, length, d_model]; the parameters stay the
    two mixers' own (checkpoints and ``shared=True`` are unaffected).
    """
    f, b = forward_mixer, backward_mixer
    batch, length, _ = hidden.shape
    di, n, r = f.d_inner, f.d_state, f.dt_rank
    projected = F.linear(hidden, torch.cat([f.in_proj.weight, b.in_proj.weight]),
                         _stacked(f.in_proj.bias, b.in_proj.bias))  # [b, l, 4 di]
    x_f, z_f, x_b, z_b = projected.split(di, dim=-1)
    x = torch.cat([x_f, x_b.flip(1)], dim=-1)  # [b, l, 2 di]
    z = torch.cat([z_f, z_b.flip(1)], dim=-1)
    x = F.silu(causal_depthwise_conv(x, torch.cat([f.conv1d.weight, b.conv1d.weight]),
                                     _stacked(f.conv1d.bias, b.conv1d.bias)))
    x_dbl = torch.einsum("blgd,ged->blge", x.view(batch, length, 2, di),
                         torch.stack([f.x_proj.weight, b.x_proj.weight]))
    dt, B, C = torch.split(x_dbl, [r, n, n], dim=-1)  # [b, l, 2, .]
    dt = torch.einsum("blgr,gdr->blgd", dt, torch.stack([f.dt_proj.weight, b.dt_proj.weight]))
    # Every [b, l, .] tensor goes in as a transposed view, the layout the CPU kernel reads
    # in place; y [b, 2 di, l] comes back the same way.
    y = selective_scan(
        x.transpose(1, 2), dt.reshape(batch, length, 2 * di).transpose(1, 2),
        -torch.exp(torch.cat([f.A_log, b.A_log]).float()),
        B.contiguous().permute(0, 2, 3, 1), C.contiguous().permute(0, 2, 3, 1),
        D=torch.cat([f.D, b.D]).float(), z=z.transpose(1, 2),
        delta_bias=torch.cat([f.dt_proj.bias, b.dt_proj.bias]).float(), delta_softplus=True,
        backend=f.backend,
    ).transpose(1, 2)  # [b, l, 2 di]
    y = torch.cat([y[..., :di], y[..., di:].flip(1)], dim=-1)
    out_bias = None if f.out_proj.bias is None else f.out_proj.bias + b.out_proj.bias
    return F.linear(y, torch.cat([f.out_proj.weight, b.out_proj.weight], dim=1), out_bias)
