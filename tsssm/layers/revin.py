"""Reversible instance normalisation (Kim et al., ICLR 2022) for forecasting models."""

from __future__ import annotations

import torch
from torch import nn


class RevIN(nn.Module):
    """Normalise each series of a window by its own mean and standard deviation over time,
    and undo it on the model's output.

    ``normalize``: ``x`` [batch, time, variates] -> same shape, remembering the statistics;
    ``denormalize``: ``y`` [batch, horizon, variates] (or [batch, horizon, variates,
    n_quantiles]: every quantile the same way) -> same shape in the input's scale. With
    ``affine=True`` a learned per-variate scale and shift sit between the two. Without it the
    map is increasing, so quantiles keep their order.
    """

    def __init__(self, n_variates: int, affine: bool = False, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_variates))
            self.bias = nn.Parameter(torch.zeros(n_variates))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Returns the normalised window and ``(mean, std)``, each [batch, 1, variates]."""
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.affine:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]
                    ) -> torch.Tensor:
        """Map model output back to the scale of the window ``stats`` came from."""
        mean, std = stats  # [batch, 1, variates]
        trailing = (1,) * (y.dim() - 3)  # a quantile axis after the variates
        mean, std = mean.reshape(*mean.shape, *trailing), std.reshape(*std.shape, *trailing)
        if self.affine:
            weight = self.weight.reshape(-1, *trailing)
            y = (y - self.bias.reshape(-1, *trailing)) / (weight + self.eps * self.eps)
        return y * std + mean
