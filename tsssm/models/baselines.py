"""Honest baselines in the same registry, so every result is shown beside them.

- ``dlinear``: DLinear (Zeng et al., AAAI 2023): moving-average decomposition, one linear map
  for the trend and one for the remainder, shared across variates.
- ``itransformer``: iTransformer-style (Liu et al., ICLR 2024): the S-Mamba skeleton with
  self-attention across variate tokens instead of bidirectional Mamba.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.layers import Dropout, QuantileOutput

from ._registry import register_model
from .shapes import ForecastingShape
from .smamba import VariateTokenConfig, VariateTokenForecaster


@dataclass
class DLinearConfig(ForecastingShape):
    """DLinear options; calendar features are accepted for a uniform contract and ignored."""

    moving_average: int = 25


@register_model("dlinear", DLinearConfig, task="forecasting",
                example={"moving_average": 5})
class DLinear(nn.Module):
    """``[batch, lookback, n_variates]`` -> ``[batch, horizon, n_variates]`` (with quantiles:
    ``[batch, horizon, n_variates, n_quantiles]``; both linear maps give every quantile)."""

    def __init__(self, config: DLinearConfig) -> None:
        super().__init__()
        self.config = config
        self.kernel = config.moving_average
        self.output = QuantileOutput(config.quantiles)
        width = config.horizon * self.output.n_outputs
        self.trend = nn.Linear(config.lookback, width)
        self.seasonal = nn.Linear(config.lookback, width)
        for layer in (self.trend, self.seasonal):
            # The point forecast starts from the window mean; the quantiles' raw gaps from 0.
            nn.init.zeros_(layer.weight)
            nn.init.constant_(layer.weight[self.output.point_outputs()], 1.0 / config.lookback)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        series = x.transpose(1, 2)  # [b, v, lookback]
        # Moving average with the ends repeated, so the trend keeps the window's length.
        front = (self.kernel - 1) // 2
        padded = F.pad(series, (front, self.kernel - 1 - front), mode="replicate")
        trend = F.avg_pool1d(padded, self.kernel, stride=1)
        raw = self.trend(trend) + self.seasonal(series - trend)  # [b, v, horizon * q]
        return self.output(raw).transpose(1, 2)


@dataclass
class ITransformerConfig(VariateTokenConfig):
    n_heads: int = 8


@register_model("itransformer", ITransformerConfig, task="forecasting",
                example={"d_model": 16, "d_ff": 16, "n_layers": 1, "n_heads": 2})
class ITransformer(VariateTokenForecaster):
    """``[batch, lookback, n_variates]`` -> ``[batch, horizon, n_variates]`` (with quantiles:
    ``[batch, horizon, n_variates, n_quantiles]``)."""

    def __init__(self, config: ITransformerConfig) -> None:
        super().__init__(config)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                config.d_model, config.n_heads, config.d_ff, config.dropout,
                activation="gelu", batch_first=True,
            )
            for _ in range(config.n_layers)
        )
        for layer in self.layers:
            # tsssm's dropout, as in every tsssm model (the attention weights' own dropout,
            # inside torch's attention, stays torch's).
            for name in ("dropout", "dropout1", "dropout2"):
                setattr(layer, name, Dropout(config.dropout))
