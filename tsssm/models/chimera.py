"""Chimera (Behrouz, Santacatterina, Zabih, NeurIPS 2024): stacked 2-D SSM blocks over the
(variate x time) grid of a multivariate series, with heads for three tasks.

One :class:`ChimeraBackbone` (cell embedding, ``n_layers`` pre-norm residual blocks of
:class:`tsssm.layers.SSM2D` and a feed-forward network per cell, final norm) serves three
registered models:

- ``"chimera"`` (forecasting): ``x`` [batch, lookback, n_variates] (+ ``x_mark``
  [batch, lookback, n_time_features], extra grid rows) -> [batch, horizon, n_variates];
  RevIN normalisation; each cell is read out to ``head_features`` numbers and each
  variate's ``lookback x head_features`` read-outs are mapped to the horizon by one linear map
  shared by the variates.
- ``"chimera_classifier"`` (classification): ``x`` [batch, n_chans, n_times] -> logits
  [batch, n_outputs]; values are embedded by a small MLP, each cell is read out to
  ``head_features`` numbers and one linear map takes all ``n_chans x n_times x
  head_features`` of them to the logits. (A linear embedding averaged over time left
  z-normalised cases nearly indistinguishable at initialisation, every case having mean 0,
  and training sat at the class prior for many epochs. On validation cases carved from
  ECG200's TRAIN file, both changes lowered the validation loss, together the most.)
- ``"chimera_anomaly"`` (reconstruction): ``x`` [batch, n_chans, n_times] -> its
  reconstruction, same shape; scored by reconstruction error downstream.

Where this departs from the paper: the forecaster uses a direct linear head rather than the
paper's closed-loop decoder, and the paper's third (variate-selection) head is left out; the
2-D SSM itself is simplified as described in :mod:`tsssm.kernels.scan2d`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsssm.layers import SSM2D, RevIN

from ._registry import register_model
from .shapes import ClassificationShape, ForecastingShape, ReconstructionShape, _check_positive


@dataclass
class ChimeraOptions:
    """Hyper-parameters of the Chimera backbone, shared by its three task configs."""

    d_model: int = 64
    d_state: int = 16
    expand: int = 1
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    season_period: int = 12
    bidirectional: bool = True
    backend: str = "auto"

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        _check_positive(self, "d_model", "d_state", "expand", "n_layers", "d_ff",
                        "season_period")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{type(self).__name__}.dropout must be in [0, 1), "
                             f"got {self.dropout!r}")


@dataclass
class CellHeadOptions(ChimeraOptions):
    """The backbone options plus the width of the per-cell read-out of :class:`CellHead`."""

    head_features: int = 4  # numbers read out of each cell for the head

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive(self, "head_features")


@dataclass
class ChimeraConfig(CellHeadOptions, ForecastingShape):
    """Chimera forecaster: the data's window shapes plus the backbone and head options."""

    normalize: bool = True


@dataclass
class ChimeraForClassificationConfig(CellHeadOptions, ClassificationShape):
    """Chimera classifier: ``[batch, n_chans, n_times]`` -> logits ``[batch, n_outputs]``."""


@dataclass
class ChimeraAnomalyConfig(ChimeraOptions, ReconstructionShape):
    """Chimera reconstruction model for anomaly detection."""

    normalize: bool = True


def check_grid(model: str, name: str, x: torch.Tensor, needed: tuple[tuple[str, int], ...]
               ) -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is ``[batch, *needed sizes]``."""
    sizes = tuple(size for _, size in needed)
    if x.dim() != len(needed) + 1 or tuple(x.shape[1:]) != sizes:
        layout = ", ".join(["batch", *(f"{label}={size}" for label, size in needed)])
        raise ValueError(f"{model}: `{name}` has shape {tuple(x.shape)}; it needs ({layout})")


class ChimeraLayer(nn.Module):
    """Pre-norm residual 2-D SSM block, then a pre-norm residual feed-forward network per cell.

    ``[batch, n_vars, n_times, d_model]`` -> same shape.
    """

    def __init__(self, options: ChimeraOptions) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(options.d_model)
        self.mixer = SSM2D(options.d_model, d_state=options.d_state, expand=options.expand,
                           season_period=options.season_period,
                           bidirectional=options.bidirectional, backend=options.backend)
        self.norm2 = nn.LayerNorm(options.d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(options.d_model, options.d_ff), nn.GELU(), nn.Dropout(options.dropout),
            nn.Linear(options.d_ff, options.d_model),
        )
        self.dropout = nn.Dropout(options.dropout)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        cells = cells + self.dropout(self.mixer(self.norm1(cells)))
        return cells + self.dropout(self.feed_forward(self.norm2(cells)))


def mlp_value_embedding(d_model: int) -> nn.Sequential:
    """A value embedding that is not linear in the value: ``[..., 1]`` -> ``[..., d_model]``
    through one GELU layer of width ``d_model``. Averages of its cells over a case depend on
    the case's distribution of values, not only on their mean (0 on z-normalised data)."""
    return nn.Sequential(nn.Linear(1, d_model), nn.GELU(), nn.Linear(d_model, d_model))


class ChimeraBackbone(nn.Module):
    """Embed every cell of a ``[batch, n_vars, n_times]`` grid and run the Chimera layers.

    Each value becomes ``f(value) + e_v`` (a learned embedding ``e_v`` per variate tells the
    variates apart), then ``n_layers`` :class:`ChimeraLayer` and a final LayerNorm. ``f`` is
    ``value_embed`` (``[..., 1]`` -> ``[..., d_model]``), ``value * w + b`` when None.
    Returns cell features ``[batch, n_vars, n_times, d_model]``.
    """

    def __init__(self, n_vars: int, options: ChimeraOptions,
                 value_embed: nn.Module | None = None) -> None:
        super().__init__()
        self.n_vars = n_vars
        self.value_embed = (nn.Linear(1, options.d_model) if value_embed is None
                            else value_embed)
        self.variate_embed = nn.Parameter(torch.randn(n_vars, options.d_model) * 0.02)
        self.embed_dropout = nn.Dropout(options.dropout)
        self.layers = nn.ModuleList(ChimeraLayer(options) for _ in range(options.n_layers))
        self.final_norm = nn.LayerNorm(options.d_model)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """``grid`` [batch, n_vars, n_times] -> [batch, n_vars, n_times, d_model]."""
        if grid.dim() != 3 or grid.shape[1] != self.n_vars:
            raise ValueError(f"ChimeraBackbone: input has shape {tuple(grid.shape)}; it needs "
                             f"(batch, n_vars={self.n_vars}, n_times)")
        cells = self.value_embed(grid[..., None]) + self.variate_embed[:, None, :]
        cells = self.embed_dropout(cells)
        for layer in self.layers:
            cells = layer(cells)
        return self.final_norm(cells)


class CellHead(nn.Module):
    """Read every cell out to ``head_features`` numbers, then map a row of ``n_cells`` cells'
    read-outs to ``n_outputs`` with one linear map.

    ``[..., n_cells, d_model]`` -> ``[..., n_outputs]``. The map weighs each position in the
    row separately, so it can tell *when* something happens, which a pooled summary cannot.
    """

    def __init__(self, d_model: int, head_features: int, n_cells: int, n_outputs: int) -> None:
        super().__init__()
        self.readout = nn.Linear(d_model, head_features)
        self.project = nn.Linear(n_cells * head_features, n_outputs)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``cells`` [..., n_cells, d_model] -> [..., n_outputs]."""
        return self.project(self.readout(cells).flatten(-2))


@register_model("chimera", ChimeraConfig, task="forecasting",
                example={"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4})
class Chimera(nn.Module):
    """Chimera forecaster: ``[batch, lookback, n_variates]`` -> ``[batch, horizon,
    n_variates]``; calendar features (``n_time_features > 0``) are extra rows of the grid."""

    def __init__(self, config: ChimeraConfig) -> None:
        super().__init__()
        self.config = config
        self.revin = RevIN(config.n_variates) if config.normalize else None
        self.backbone = ChimeraBackbone(config.n_variates + config.n_time_features, config)
        self.head = CellHead(config.d_model, config.head_features, config.lookback,
                             config.horizon)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [batch, lookback, n_variates] (and ``x_mark`` [batch, lookback,
        n_time_features] when the config has time features) -> [batch, horizon, n_variates]."""
        c = self.config
        check_grid("Chimera", "x", x, (("lookback", c.lookback), ("n_variates", c.n_variates)))
        if (x_mark is None) != (c.n_time_features == 0):
            raise ValueError(f"Chimera: `x_mark` must be given exactly when n_time_features > 0 "
                             f"(n_time_features={c.n_time_features})")
        if x_mark is not None:
            check_grid("Chimera", "x_mark", x_mark,
                       (("lookback", c.lookback), ("n_time_features", c.n_time_features)))
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        series = x if x_mark is None else torch.cat([x, x_mark], dim=-1)  # [b, l, rows]
        cells = self.backbone(series.transpose(1, 2))  # [b, rows, l, d_model]
        forecast = self.head(cells)[:, : c.n_variates]  # [b, v, horizon]
        forecast = forecast.transpose(1, 2)
        return forecast if stats is None else self.revin.denormalize(forecast, stats)


@register_model("chimera_classifier", ChimeraForClassificationConfig, task="classification",
                example={"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4})
class ChimeraForClassification(nn.Module):
    """Chimera classifier: ``[batch, n_chans, n_times]`` -> logits ``[batch, n_outputs]``:
    the backbone with :func:`mlp_value_embedding`, then one :class:`CellHead` over all
    ``n_chans x n_times`` cells."""

    def __init__(self, config: ChimeraForClassificationConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = ChimeraBackbone(config.n_chans, config,
                                        mlp_value_embedding(config.d_model))
        self.head = CellHead(config.d_model, config.head_features,
                             config.n_chans * config.n_times, config.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> logits [batch, n_outputs]."""
        c = self.config
        check_grid("ChimeraForClassification", "x", x,
                   (("n_chans", c.n_chans), ("n_times", c.n_times)))
        cells = self.backbone(x)  # [b, n_chans, n_times, d_model]
        return self.head(cells.flatten(1, 2))  # cells [b, n_chans * n_times, d_model]


@register_model("chimera_anomaly", ChimeraAnomalyConfig, task="reconstruction",
                example={"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4})
class ChimeraAnomaly(nn.Module):
    """Chimera reconstruction model: ``[batch, n_chans, n_times]`` -> the same shape."""

    def __init__(self, config: ChimeraAnomalyConfig) -> None:
        super().__init__()
        self.config = config
        self.revin = RevIN(config.n_chans) if config.normalize else None
        self.backbone = ChimeraBackbone(config.n_chans, config)
        self.readout = nn.Linear(config.d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> reconstruction [batch, n_chans, n_times]."""
        c = self.config
        check_grid("ChimeraAnomaly", "x", x, (("n_chans", c.n_chans), ("n_times", c.n_times)))
        stats = None
        if self.revin is not None:
            normalized, stats = self.revin.normalize(x.transpose(1, 2))  # over time
            x = normalized.transpose(1, 2)
        recon = self.readout(self.backbone(x))[..., 0]  # [b, n_chans, n_times]
        if stats is None:
            return recon
        return self.revin.denormalize(recon.transpose(1, 2), stats).transpose(1, 2)
