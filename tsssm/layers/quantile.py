"""The output layer every forecaster ends with: point forecasts, or quantiles that never cross.

A forecaster's last linear map gives ``n_outputs`` raw numbers per horizon step (1 for a point
forecast, one per quantile level otherwise); :class:`QuantileOutput` turns them into the
forecast. For quantiles, the raw number of the median (level 0.5) is the median itself, and
each other raw number is the gap to the next level nearer the median, made positive by a
softplus and summed outwards:

    q_m = r_m ;  q_{m+k} = q_{m+k-1} + softplus(r_{m+k}) ;  q_{m-k} = q_{m-k+1} - softplus(r_{m-k})

so ``q`` never decreases along the level axis, whatever the weights: quantiles cannot cross,
by construction (strictly increasing in exact arithmetic; in float32 a gap that underflows
gives two equal quantiles). This is the idea of SQF-RNN's piecewise-linear quantile function
(Gasthaus et al., AISTATS 2019), whose slopes are kept positive the same way; anchored here at
the median, so that the point forecast is an output the model predicts directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def median_index(levels: tuple[float, ...]) -> int:
    """Position of the median 0.5 among ``levels`` (checked to hold it)."""
    if 0.5 not in levels:
        raise ValueError(f"quantile levels {list(levels)} do not include the median 0.5")
    return levels.index(0.5)


class QuantileOutput(nn.Module):
    """Raw per-step outputs -> point forecasts or non-crossing quantiles.

    Args:
        quantiles: increasing levels in (0, 1) holding 0.5
            (:func:`tsssm.models.shapes.check_quantiles`), or None for point forecasts.

    ``forward``: raw ``[..., steps * n_outputs]`` (step-major: the outputs of step 1, then of
    step 2, ...) -> ``[..., steps]`` (point) or ``[..., steps, n_quantiles]``.
    """

    def __init__(self, quantiles: tuple[float, ...] | None) -> None:
        super().__init__()
        self.quantiles = None if quantiles is None else tuple(quantiles)
        self.n_outputs = 1 if self.quantiles is None else len(self.quantiles)
        self.median = 0 if self.quantiles is None else median_index(self.quantiles)

    def point_outputs(self) -> slice:
        """The raw outputs that are the point forecast (the median's, every ``n_outputs``-th
        from ``median``): a slice of the last axis of ``forward``'s input."""
        return slice(self.median, None, self.n_outputs)

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        if self.quantiles is None:
            return raw
        raw = raw.unflatten(-1, (-1, self.n_outputs))  # [..., steps, n_quantiles]
        m = self.median
        centre = raw[..., m : m + 1]
        above = centre + F.softplus(raw[..., m + 1 :]).cumsum(-1)
        below = centre - F.softplus(raw[..., :m]).flip(-1).cumsum(-1).flip(-1)
        return torch.cat([below, centre, above], dim=-1)

    def point(self, forecast: torch.Tensor) -> torch.Tensor:
        """The point forecast (the median) of ``forward``'s output: ``[..., steps]``."""
        return forecast if self.quantiles is None else forecast[..., self.median]

    def extra_repr(self) -> str:
        return "point" if self.quantiles is None else f"quantiles={list(self.quantiles)}"
