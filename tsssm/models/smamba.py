"""S-Mamba (Wang et al., "Is Mamba Effective for Time Series Forecasting?", 2024).

Each variate's whole lookback window becomes one token (a linear embedding), a bidirectional
Mamba mixes information across the variate tokens, a feed-forward network works on each
token's embedding (the temporal dependencies), and a linear head maps every token to the
horizon. Windows are normalised per series on the way in and restored on the way out.

``"smamba_classifier"`` reuses that encoder for classification (our addition, not in the
paper): each channel's whole window is a token, the encoded tokens are averaged and a linear
head gives the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsssm.layers import BiMamba, Dropout, QuantileOutput, RevIN

from ._registry import register_model
from .shapes import ClassificationShape, ForecastingShape


@dataclass
class VariateTokenConfig(ForecastingShape):
    """Options shared by the variate-token forecasters (S-Mamba, iTransformer)."""

    d_model: int = 256
    d_ff: int = 256
    n_layers: int = 2
    dropout: float = 0.1
    normalize: bool = True


@dataclass
class SMambaConfig(VariateTokenConfig):
    """S-Mamba hyper-parameters; defaults follow the paper's ETT settings. Calendar
    features (``n_time_features > 0``) become extra tokens, one per feature."""

    d_state: int = 2
    d_conv: int = 2
    expand: int = 1
    backend: str = "auto"


@dataclass
class SMambaClassifierConfig(ClassificationShape):
    """S-Mamba's encoder as a classifier of ``[batch, n_chans, n_times]`` windows; the
    encoder options mean what they mean in :class:`SMambaConfig`."""

    d_model: int = 128
    d_ff: int = 128
    n_layers: int = 2
    dropout: float = 0.1
    normalize: bool = True  # standardise each channel of each window over time
    d_state: int = 2
    d_conv: int = 2
    expand: int = 1
    backend: str = "auto"


class VariateEncoderLayer(nn.Module):
    """Bidirectional Mamba across variate tokens, then a feed-forward network per token.

    ``[batch, tokens, d_model]`` -> same shape (post-norm residual blocks).
    """

    def __init__(self, config: SMambaConfig | SMambaClassifierConfig) -> None:
        super().__init__()
        self.mixer = BiMamba(config.d_model, d_state=config.d_state, d_conv=config.d_conv,
                             expand=config.expand, backend=config.backend)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff), nn.GELU(), Dropout(config.dropout),
            nn.Linear(config.d_ff, config.d_model), Dropout(config.dropout),
        )
        self.norm2 = nn.LayerNorm(config.d_model)
        self.dropout = Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.norm1(tokens + self.dropout(self.mixer(tokens)))
        return self.norm2(tokens + self.feed_forward(tokens))


class VariateTokenForecaster(nn.Module):
    """Shared skeleton of variate-token forecasters (S-Mamba, the iTransformer baseline):
    normalise, embed each series as a token, run ``layers``, project tokens to the horizon
    (to every quantile of every step when the config has ``quantiles``).

    Subclasses set ``self.layers`` (a module list mapping [batch, tokens, d_model] to itself).
    """

    layers: nn.ModuleList

    def __init__(self, config: VariateTokenConfig) -> None:
        super().__init__()
        self.config = config
        self.horizon, self.n_variates = config.horizon, config.n_variates
        self.revin = RevIN(config.n_variates) if config.normalize else None
        self.embed = nn.Linear(config.lookback, config.d_model)
        self.embed_dropout = Dropout(config.dropout)
        self.final_norm = nn.LayerNorm(config.d_model)
        self.output = QuantileOutput(config.quantiles)
        self.head = nn.Linear(config.d_model, config.horizon * self.output.n_outputs)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [batch, lookback, n_variates] (and optional calendar features ``x_mark``
        [batch, lookback, n_time_features]) -> forecast [batch, horizon, n_variates] (with
        quantiles: [batch, horizon, n_variates, n_quantiles])."""
        if x.dim() != 3 or x.shape[2] != self.n_variates:
            raise ValueError(
                f"{type(self).__name__}: `x` has shape {tuple(x.shape)}; it needs "
                f"(batch, lookback, n_variates={self.n_variates})"
            )
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        series = x if x_mark is None else torch.cat([x, x_mark], dim=-1)
        tokens = self.embed_dropout(self.embed(series.transpose(1, 2)))  # [b, tokens, d_model]
        for layer in self.layers:
            tokens = layer(tokens)
        raw = self.head(self.final_norm(tokens))[:, : self.n_variates]  # [b, v, horizon * q]
        forecast = self.output(raw).transpose(1, 2)  # [b, horizon, v] or [b, horizon, v, q]
        return forecast if stats is None else self.revin.denormalize(forecast, stats)


@register_model("smamba", SMambaConfig, task="forecasting",
                example={"d_model": 16, "d_ff": 16, "n_layers": 1})
class SMamba(VariateTokenForecaster):
    """S-Mamba forecaster: ``[batch, lookback, n_variates]`` -> ``[batch, horizon, n_variates]``."""

    def __init__(self, config: SMambaConfig) -> None:
        super().__init__(config)
        self.layers = nn.ModuleList(VariateEncoderLayer(config) for _ in range(config.n_layers))


@register_model("smamba_classifier", SMambaClassifierConfig, task="classification",
                example={"d_model": 16, "d_ff": 16, "n_layers": 1})
class SMambaClassifier(nn.Module):
    """S-Mamba's encoder, pooled: ``[batch, n_chans, n_times]`` -> logits ``[batch,
    n_outputs]``. Each channel's window is one token; the tokens go through the
    :class:`VariateEncoderLayer` stack, are averaged and mapped to the classes."""

    def __init__(self, config: SMambaClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.revin = RevIN(config.n_chans) if config.normalize else None
        self.embed = nn.Linear(config.n_times, config.d_model)
        self.embed_dropout = Dropout(config.dropout)
        self.layers = nn.ModuleList(VariateEncoderLayer(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> logits [batch, n_outputs]."""
        c = self.config
        if x.dim() != 3 or tuple(x.shape[1:]) != (c.n_chans, c.n_times):
            raise ValueError(f"SMambaClassifier: `x` has shape {tuple(x.shape)}; it needs "
                             f"(batch, n_chans={c.n_chans}, n_times={c.n_times})")
        if self.revin is not None:
            normalized, _ = self.revin.normalize(x.transpose(1, 2))  # over time
            x = normalized.transpose(1, 2)
        tokens = self.embed_dropout(self.embed(x))  # [b, n_chans, d_model]
        for layer in self.layers:
            tokens = layer(tokens)
        return self.head(self.final_norm(tokens).mean(dim=1))
