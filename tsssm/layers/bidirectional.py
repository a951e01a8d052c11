"""Bidirectional Mamba: a forward and a backward (reversed) mixer over the same sequence."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .mamba import MambaMixer


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
        both = self.forward_mixer(hidden) + self.backward_mixer(hidden, reverse=True)
        return both / 2 if self.combine == "mean" else both
