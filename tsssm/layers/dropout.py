"""``Dropout``: ``torch.nn.Dropout`` on :func:`tsssm.kernels.dropout.dropout`, the CPU dropout
whose masks are a keyed hash per element rather than torch's scalar Bernoulli draws (14-19x
faster forward, 6-9x forward and backward, on Chimera's float32 CPU grids:
``benchmarks/dropout_speed.py``; the same distribution, not the same draws; elsewhere it is
torch's dropout). Every tsssm model, baselines included, uses it, so models compare on their
architectures rather than on their dropout's random-number generator."""

from __future__ import annotations

import torch
from torch import nn

from tsssm.kernels.dropout import dropout


class Dropout(nn.Dropout):
    """Drop-in ``nn.Dropout(p)``: in training zero each element with probability ``p`` and
    scale the rest by ``1 / (1 - p)``; in eval mode the identity. Any shape. (No
    ``inplace``: the fast path writes a new tensor.)"""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
