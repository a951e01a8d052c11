"""Chimera (Behrouz, Santacatterina, Zabih, NeurIPS 2024): stacked 2-D SSM blocks over the
(variate x time) grid of a multivariate series, with heads for three tasks.

One :class:`ChimeraBackbone` (cell embedding, ``n_layers`` pre-norm residual blocks of
:class:`tsssm.layers.SSM2D` and a feed-forward network per cell, final norm) serves three
registered models:

- ``"chimera"`` (forecasting): ``x`` [batch, lookback, n_variates] (+ ``x_mark``
  [batch, lookback, n_time_features], extra grid rows) -> [batch, horizon, n_variates];
  RevIN normalisation; two decoders: ``"linear"`` (default) reads each cell out to
  ``head_features`` numbers and maps each variate's ``lookback x head_features`` read-outs to
  the horizon by one linear map shared by the variates; ``"closed_loop"`` (the paper's) reads
  the next value of every variate out of the last time column, feeds it back as the next
  column through :meth:`ChimeraBackbone.step`, and so continues the recurrence over the
  horizon on its own predictions.
- ``"chimera_classifier"`` (classification): ``x`` [batch, n_chans, n_times] -> logits
  [batch, n_outputs]; values are embedded by a small MLP; ``head="cells"`` (the default)
  reads each cell out to ``head_features`` numbers and one linear map takes all ``n_chans x
  n_times x head_features`` of them to the logits; ``head="mean"`` and ``"mean_max"`` pool
  each variate's cells over time (their mean, and with ``"mean_max"`` also their maximum,
  feature by feature: the pooled read-out of S4 and Mamba classifiers) and map the
  ``n_chans x d_model`` (x 2) pooled features to the logits. (A linear embedding averaged
  over time left z-normalised cases nearly indistinguishable at initialisation, every case
  having mean 0, and training sat at the class prior for many epochs. On validation cases
  carved from ECG200's TRAIN file, both changes lowered the validation loss, together the
  most.) ``normalize=True`` z-normalises each series (each case's channel over time)
  first, as the UCR archive's series are. ``embed_kernel`` > 1 embeds each cell from the
  ``embed_kernel`` values of its variate centred on it (a convolution over time, shared by
  the variates, then the MLP's second layer: :class:`LocalValueEmbedding`) instead of from
  its own value alone: the cells then carry local shape (slopes, bumps) from the start, so
  that a pooled head has more than each case's distribution of values to read, like the
  convolutional embeddings of TimesNet's classifiers and the kernels of ROCKET. It looks
  ``embed_kernel // 2`` steps ahead, so such a classifier reads whole windows only.
- ``"chimera_anomaly"`` (reconstruction): ``x`` [batch, n_chans, n_times] -> its
  reconstruction, same shape; scored by reconstruction error downstream. With
  ``objective="predict"`` (the default) step ``t`` is read out of a grid that has seen only
  the steps up to ``t - lead`` (the time scans are causal; the input is shifted ``lead``
  steps, 1 by default), so the
  model must predict each value from its past and cannot copy it: with
  ``objective="reconstruct"`` every cell sees its own value through the residual stream, and
  the model learns to pass anomalies through as faithfully as normal data.

Every backbone streams: :meth:`ChimeraBackbone.step` advances one time column from the
states a previous call (or a forward over a prefix) returned, and gives the cells the whole
grid would.

Where this departs from the paper: the forecaster's default decoder is the direct linear
head (the closed-loop decoder is an option, slower to train since the horizon is a loop);
the variate-selection head is a gate on the variate scans' input, shared by the trend and
seasonal heads (see :mod:`tsssm.layers.ssm2d`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tsssm.layers import SSM2D, Dropout, QuantileOutput, RevIN
from tsssm.layers.ssm2d import ScanState, check_couplings

from ._registry import register_model
from .shapes import ClassificationShape, ForecastingShape, ReconstructionShape, _check_positive


@dataclass
class ChimeraOptions:
    """Hyper-parameters of the Chimera backbone, shared by its three task configs.

    ``season_period`` is the seasonal head's time lag (1: the heads differ by their step
    sizes only, ``trend_dt_*`` and ``seasonal_dt_*``, along time; ``variate_dt_*`` are the
    step sizes along the variates, see :class:`tsssm.layers.SSM2D`); ``coupling_init`` is the
    value the learned couplings start from (0: the coupled model starts as 2-D Mamba);
    ``couplings`` names the couplings of
    the 2-D scan that are learned: ``"both"`` (the paper's), ``"time_to_var"`` (the time state
    feeds the variate axis only, the earlier one-way model), ``"var_to_time"`` (the reverse)
    or ``"none"`` (the axes run independently, 2-D Mamba); ``select_variates`` learns the
    variate-selection gate.
    """

    d_model: int = 64
    d_state: int = 16
    expand: int = 1
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    season_period: int = 1
    bidirectional: bool = True
    couplings: str = "both"
    coupling_init: float = 0.0
    select_variates: bool = True
    trend_dt_min: float = 0.001
    trend_dt_max: float = 0.01
    seasonal_dt_min: float = 0.01
    seasonal_dt_max: float = 0.1
    variate_dt_min: float = 0.1
    variate_dt_max: float = 1.0
    backend: str = "auto"

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        _check_positive(self, "d_model", "d_state", "expand", "n_layers", "d_ff",
                        "season_period")
        check_couplings(type(self).__name__, self.couplings)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{type(self).__name__}.dropout must be in [0, 1), "
                             f"got {self.dropout!r}")
        for head in ("trend", "seasonal", "variate"):
            low, high = getattr(self, f"{head}_dt_min"), getattr(self, f"{head}_dt_max")
            if not 0 < low <= high:
                raise ValueError(f"{type(self).__name__}: {head}_dt_min and {head}_dt_max "
                                 f"must satisfy 0 < min <= max, got {low!r} and {high!r}")

    def check_season(self, length: int, name: str) -> None:
        """The seasonal lag must fit in the series the backbone sees."""
        if self.season_period > length:
            raise ValueError(f"{type(self).__name__}.season_period ({self.season_period}) is "
                             f"longer than the series ({name}={length})")


@dataclass
class CellHeadOptions(ChimeraOptions):
    """The backbone options plus the width of the per-cell read-out of :class:`CellHead`."""

    head_features: int = 4  # numbers read out of each cell for the head

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive(self, "head_features")


DECODERS = ("linear", "closed_loop")


@dataclass
class ChimeraConfig(CellHeadOptions, ForecastingShape):
    """Chimera forecaster: the data's window shapes plus the backbone and head options;
    ``decoder`` is ``"linear"`` or ``"closed_loop"`` (see the module docstring)."""

    normalize: bool = True
    decoder: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive(self, "lookback", "horizon", "n_variates")
        self.check_season(self.lookback, "lookback")
        if self.decoder not in DECODERS:
            raise ValueError(f"ChimeraConfig.decoder must be one of {', '.join(DECODERS)}, "
                             f"got {self.decoder!r}")
        if self.decoder == "closed_loop" and self.n_time_features:
            raise ValueError("ChimeraConfig: the closed-loop decoder feeds its predictions "
                             "back and has no future calendar features; set "
                             "n_time_features=0")


CLASSIFIER_HEADS = ("cells", "mean", "mean_max")


@dataclass
class ChimeraForClassificationConfig(CellHeadOptions, ClassificationShape):
    """Chimera classifier: ``[batch, n_chans, n_times]`` -> logits ``[batch, n_outputs]``;
    ``head`` is one of ``"cells"``, ``"mean"``, ``"mean_max"`` and ``normalize`` z-normalises
    each series first (see the module docstring)."""

    head: str = "cells"
    normalize: bool = False
    embed_kernel: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_season(self.n_times, "n_times")
        _check_positive(self, "embed_kernel")
        if self.embed_kernel % 2 == 0:
            raise ValueError(f"ChimeraForClassificationConfig.embed_kernel must be odd (a "
                             f"window centred on each cell), got {self.embed_kernel!r}")
        if self.head not in CLASSIFIER_HEADS:
            raise ValueError(f"ChimeraForClassificationConfig.head must be one of "
                             f"{', '.join(CLASSIFIER_HEADS)}, got {self.head!r}")


OBJECTIVES = ("predict", "reconstruct")


@dataclass
class ChimeraAnomalyConfig(ChimeraOptions, ReconstructionShape):
    """Chimera reconstruction model for anomaly detection.

    ``objective``: ``"predict"`` (each step from the steps at least ``lead`` before it,
    within the window) or ``"reconstruct"`` (each step from the whole window, its own value
    included; see the module docstring). ``warmup``: with ``"predict"``, the first
    ``warmup + lead - 1`` steps of a window have too little past to be predicted well, and
    scoring skips them where another window covers the step (``score_from``; at most
    ``n_times - 1``). ``normalize``: RevIN over
    each window's steps (its mean and spread include the steps predicted: a look-ahead of
    two numbers, not of any single value).
    """

    normalize: bool = True
    objective: str = "predict"
    lead: int = 1
    warmup: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_season(self.n_times, "n_times")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"ChimeraAnomalyConfig.objective must be one of "
                             f"{', '.join(OBJECTIVES)}, got {self.objective!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"ChimeraAnomalyConfig.warmup must be a non-negative integer, "
                             f"got {self.warmup!r}")
        if isinstance(self.lead, bool) or not isinstance(self.lead, int) or not (
                0 < self.lead < self.n_times):
            raise ValueError(f"ChimeraAnomalyConfig.lead must be an integer in [1, n_times="
                             f"{self.n_times}), got {self.lead!r}")


def check_grid(model: str, name: str, x: torch.Tensor, needed: tuple[tuple[str, int], ...]
               ) -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is ``[batch, *needed sizes]``."""
    sizes = tuple(size for _, size in needed)
    if x.dim() != len(needed) + 1 or tuple(x.shape[1:]) != sizes:
        layout = ", ".join(["batch", *(f"{label}={size}" for label, size in needed)])
        raise ValueError(f"{model}: `{name}` has shape {tuple(x.shape)}; it needs ({layout})")


class ChimeraLayer(nn.Module):
    """Pre-norm residual 2-D SSM block, then a pre-norm residual feed-forward network per cell.

    ``[batch, n_vars, n_times, d_model]`` -> same shape; the state is the block's
    (see :class:`tsssm.layers.SSM2D`).
    """

    def __init__(self, options: ChimeraOptions) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(options.d_model)
        self.mixer = SSM2D(
            options.d_model, d_state=options.d_state, expand=options.expand,
            season_period=options.season_period, bidirectional=options.bidirectional,
            trend_dt=(options.trend_dt_min, options.trend_dt_max),
            seasonal_dt=(options.seasonal_dt_min, options.seasonal_dt_max),
            variate_dt=(options.variate_dt_min, options.variate_dt_max),
            coupling=options.coupling_init, couplings=options.couplings,
            select_variates=options.select_variates, backend=options.backend,
        )
        self.norm2 = nn.LayerNorm(options.d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(options.d_model, options.d_ff), nn.GELU(), Dropout(options.dropout),
            nn.Linear(options.d_ff, options.d_model),
        )
        self.dropout = Dropout(options.dropout)

    def forward(self, cells: torch.Tensor, state: list[ScanState] | None = None
                ) -> tuple[torch.Tensor, list[ScanState]]:
        """``cells`` -> (cells, the mixer's last states), continuing from ``state``."""
        mixed, state = self.mixer(self.norm1(cells), state, return_state=True)
        cells = cells + self.dropout(mixed)
        return cells + self.dropout(self.feed_forward(self.norm2(cells))), state


def mlp_value_embedding(d_model: int) -> nn.Sequential:
    """A value embedding that is not linear in the value: ``[..., 1]`` -> ``[..., d_model]``
    through one GELU layer of width ``d_model``. Averages of its cells over a case depend on
    the case's distribution of values, not only on their mean (0 on z-normalised data)."""
    return nn.Sequential(nn.Linear(1, d_model), nn.GELU(), nn.Linear(d_model, d_model))


class LocalValueEmbedding(nn.Module):
    """Embed each cell from the ``kernel`` values of its variate centred on it: ``[batch,
    n_vars, n_times, 1]`` -> ``[batch, n_vars, n_times, d_model]``.

    A convolution over time (``kernel`` odd, zero padding, shared by the variates) to
    ``d_model`` channels, GELU, then a linear layer; with ``kernel`` 1 it is
    :func:`mlp_value_embedding`'s function.
    """

    def __init__(self, d_model: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, d_model, kernel, padding=kernel // 2)
        self.mix = nn.Sequential(nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` [batch, n_vars, n_times, 1] -> [batch, n_vars, n_times, d_model]."""
        batch, n_vars, n_times, _ = values.shape
        series = values.reshape(batch * n_vars, 1, n_times)
        local = self.conv(series).transpose(1, 2)  # [batch * n_vars, n_times, d_model]
        return self.mix(local).reshape(batch, n_vars, n_times, -1)


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
        self.embed_dropout = Dropout(options.dropout)
        self.layers = nn.ModuleList(ChimeraLayer(options) for _ in range(options.n_layers))
        self.final_norm = nn.LayerNorm(options.d_model)

    def initial_state(self, batch: int) -> list[list[ScanState]]:
        """Zero states of every layer, to stream a grid from its first column."""
        return [layer.mixer.initial_state(batch, self.n_vars) for layer in self.layers]

    def forward(self, grid: torch.Tensor, state: list[list[ScanState]] | None = None,
                return_state: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[list[ScanState]]]:
        """``grid`` [batch, n_vars, n_times] -> [batch, n_vars, n_times, d_model] (and, with
        ``return_state``, every layer's last states), continuing from ``state`` (None: the
        grid starts the series)."""
        if grid.dim() != 3 or grid.shape[1] != self.n_vars:
            raise ValueError(f"ChimeraBackbone: input has shape {tuple(grid.shape)}; it needs "
                             f"(batch, n_vars={self.n_vars}, n_times)")
        cells = self.value_embed(grid[..., None]) + self.variate_embed[:, None, :]
        cells = self.embed_dropout(cells)
        states = [None] * len(self.layers) if state is None else state
        last = []
        for layer, layer_state in zip(self.layers, states, strict=True):
            cells, layer_last = layer(cells, layer_state)
            last.append(layer_last)
        cells = self.final_norm(cells)
        return (cells, last) if return_state else cells

    def step(self, column: torch.Tensor, state: list[list[ScanState]]
             ) -> tuple[torch.Tensor, list[list[ScanState]]]:
        """One time column ``[batch, n_vars]`` -> (its cells ``[batch, n_vars, d_model]``, the
        new state); ``state`` from :meth:`initial_state` or a previous call."""
        cells, state = self.forward(column[:, :, None], state, return_state=True)
        return cells[:, :, 0], state


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


class PooledHead(nn.Module):
    """Pool each variate's cells over time (mean; with ``use_max`` also the maximum),
    standardise each pooled feature over the batch (BatchNorm), then one linear map of all
    variates' pooled features to the logits.

    ``[batch, n_vars, n_times, d_model]`` -> ``[batch, n_outputs]``; the map has
    ``n_vars x d_model`` (x 2 with ``use_max``) inputs, whatever the series' length.

    Why BatchNorm: cells are layer-normalised, so a pooled feature's spread between cases
    starts small (about 0.04 on ArrowHead's TRAIN series, against 1 within a case), and a
    plain linear map moved the logits too little to leave the class prior in a short run.
    """

    def __init__(self, d_model: int, n_vars: int, n_outputs: int, use_max: bool,
                 dropout: float) -> None:
        super().__init__()
        self.use_max = use_max
        features = n_vars * d_model * (2 if use_max else 1)
        self.norm = nn.BatchNorm1d(features)
        self.dropout = Dropout(dropout)
        self.project = nn.Linear(features, n_outputs)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``cells`` [batch, n_vars, n_times, d_model] -> [batch, n_outputs] (training needs
        batches of at least 2)."""
        pooled = [cells.mean(dim=2), *([cells.amax(dim=2)] if self.use_max else [])]
        features = self.norm(torch.cat(pooled, dim=-1).flatten(1))
        return self.project(self.dropout(features))


def z_normalized(x: torch.Tensor) -> torch.Tensor:
    """Each series ``x[..., :]`` (over the last axis) to mean 0 and deviation 1; a constant
    series becomes zeros. Same shape as ``x``."""
    centred = x - x.mean(dim=-1, keepdim=True)
    spread = centred.std(dim=-1, keepdim=True, unbiased=False)
    return centred / torch.where(spread > 1e-8, spread, torch.ones_like(spread))


@register_model("chimera", ChimeraConfig, task="forecasting",
                example={"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4})
class Chimera(nn.Module):
    """Chimera forecaster: ``[batch, lookback, n_variates]`` -> ``[batch, horizon,
    n_variates]`` (with quantiles: ``[batch, horizon, n_variates, n_quantiles]``); calendar
    features (``n_time_features > 0``) are extra rows of the grid. The closed-loop decoder
    feeds back the median."""

    def __init__(self, config: ChimeraConfig) -> None:
        super().__init__()
        self.config = config
        self.revin = RevIN(config.n_variates) if config.normalize else None
        self.backbone = ChimeraBackbone(config.n_variates + config.n_time_features, config)
        self.output = QuantileOutput(config.quantiles)
        if config.decoder == "linear":
            self.head = CellHead(config.d_model, config.head_features, config.lookback,
                                 config.horizon * self.output.n_outputs)
        else:  # a cell -> its variate's next value (each quantile of it)
            self.next_value = nn.Linear(config.d_model, self.output.n_outputs)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [batch, lookback, n_variates] (and ``x_mark`` [batch, lookback,
        n_time_features] when the config has time features) -> [batch, horizon, n_variates]
        (with quantiles: [batch, horizon, n_variates, n_quantiles])."""
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
        if c.decoder == "linear":
            cells = self.backbone(series.transpose(1, 2))  # [b, rows, l, d_model]
            raw = self.head(cells)[:, : c.n_variates]  # [b, v, horizon * q]
            forecast = self.output(raw).transpose(1, 2)  # [b, horizon, v(, q)]
        else:
            forecast = self.closed_loop(series.transpose(1, 2))
        return forecast if stats is None else self.revin.denormalize(forecast, stats)

    def closed_loop(self, grid: torch.Tensor) -> torch.Tensor:
        """The closed-loop decoder: ``grid`` [batch, n_variates, lookback] (normalised) ->
        [batch, horizon, n_variates(, n_quantiles)]; each prediction (its median) is fed back
        as the next time column."""
        cells, state = self.backbone(grid, return_state=True)
        prediction = self.output(self.next_value(cells[:, :, -1]))[:, :, 0]  # [b, v(, q)]
        forecast = [prediction]
        for _ in range(self.config.horizon - 1):
            column, state = self.backbone.step(self.output.point(prediction), state)
            prediction = self.output(self.next_value(column))[:, :, 0]
            forecast.append(prediction)
        return torch.stack(forecast, dim=1)


@register_model("chimera_classifier", ChimeraForClassificationConfig, task="classification",
                example={"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 1, "season_period": 4})
class ChimeraForClassification(nn.Module):
    """Chimera classifier: ``[batch, n_chans, n_times]`` -> logits ``[batch, n_outputs]``:
    the backbone with :func:`mlp_value_embedding` (``embed_kernel`` 1) or a
    :class:`LocalValueEmbedding`, then one :class:`CellHead` over all ``n_chans x n_times``
    cells (``head="cells"``) or a :class:`PooledHead`."""

    def __init__(self, config: ChimeraForClassificationConfig) -> None:
        super().__init__()
        self.config = config
        embed = (mlp_value_embedding(config.d_model) if config.embed_kernel == 1
                 else LocalValueEmbedding(config.d_model, config.embed_kernel))
        self.backbone = ChimeraBackbone(config.n_chans, config, embed)
        if config.head == "cells":
            self.head = CellHead(config.d_model, config.head_features,
                                 config.n_chans * config.n_times, config.n_outputs)
        else:
            self.head = PooledHead(config.d_model, config.n_chans, config.n_outputs,
                                   use_max=config.head == "mean_max", dropout=config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> logits [batch, n_outputs]."""
        c = self.config
        check_grid("ChimeraForClassification", "x", x,
                   (("n_chans", c.n_chans), ("n_times", c.n_times)))
        if c.normalize:
            x = z_normalized(x)
        cells = self.backbone(x)  # [b, n_chans, n_times, d_model]
        if c.head != "cells":
            return self.head(cells)
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

    @property
    def score_from(self) -> int:
        """Scoring skips a window's steps before this one where another window covers them."""
        c = self.config
        return min(c.warmup + c.lead - 1, c.n_times - 1) if c.objective == "predict" else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> reconstruction [batch, n_chans, n_times]
        (with ``objective="predict"``, step ``t`` predicted from steps ``<= t - lead``)."""
        c = self.config
        check_grid("ChimeraAnomaly", "x", x, (("n_chans", c.n_chans), ("n_times", c.n_times)))
        stats = None
        if self.revin is not None:
            normalized, stats = self.revin.normalize(x.transpose(1, 2))  # over time
            x = normalized.transpose(1, 2)
        if c.objective == "predict":
            # Cell t of the causal grid then holds steps <= t - lead only; zeros lead in.
            x = torch.cat([torch.zeros_like(x[..., :c.lead]), x[..., :-c.lead]], dim=-1)
        recon = self.readout(self.backbone(x))[..., 0]  # [b, n_chans, n_times]
        if stats is None:
            return recon
        return self.revin.denormalize(recon.transpose(1, 2), stats).transpose(1, 2)
