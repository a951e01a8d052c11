"""What every model of a task is told about its data: the config base of each model task.

    forecasting     ForecastingShape     x [batch, lookback, n_variates] (+ x_mark) -> [batch,
                                         horizon, n_variates]; with ``quantiles`` set,
                                         [batch, horizon, n_variates, n_quantiles]
    classification  ClassificationShape  x [batch, n_chans, n_times] -> logits [batch, n_outputs]
    pretraining     PretrainingShape     x [batch, n_chans, n_times] -> reconstruction and mask
    reconstruction  ReconstructionShape  x [batch, n_chans, n_times] -> the same shape
    phase           PhaseShape           x [batch, T, n_inputs] -> per-step logits and progress


Layouts follow the biosignal vocabulary (braindecode, MNE): a batch of windows is
``[batch, n_chans, n_times]`` for classification and reconstruction models alike, whether the
channels are EEG electrodes or the variates of a multivariate series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

MEDIAN = 0.5


def check_int(config: object, name: str, minimum: int) -> None:
    """Raise a ValueError unless ``config.name`` is an integer (not a bool) >= ``minimum``."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{type(config).__name__}: `{name}` must be an integer >= {minimum}, got {value!r}"
        )


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be a positive integer, "
                             f"got {value!r}")


@dataclass
class ClassificationShape:
    """Task "classification": ``forward(x [batch, n_chans, n_times]) -> logits
    [batch, n_outputs]``."""

    n_chans: int
    n_times: int
    n_outputs: int

    def __post_init__(self) -> None:
        _check_positive(self, "n_chans", "n_times", "n_outputs")


@dataclass
class ReconstructionShape:
    """Task "reconstruction" (anomaly scoring by reconstruction error):
    ``forward(x [batch, n_chans, n_times]) -> [batch, n_chans, n_times]``."""

    n_chans: int
    n_times: int

    def __post_init__(self) -> None:
        _check_positive(self, "n_chans", "n_times")


def check_quantiles(levels: Sequence[float] | None, owner: str = "quantiles"
                    ) -> tuple[float, ...] | None:
    """``levels`` as a tuple of floats (None stays None: point forecasts).

    Quantile levels must be numbers strictly inside (0, 1), strictly increasing (so none is
    repeated), and include the median 0.5: it is the point forecast and the anchor the other
    levels are built from (as in pytorch-forecasting's ``QuantileLoss``).

    Raises:
        ValueError: naming ``owner`` and the offending levels.
    """
    if levels is None:
        return None
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence):
        raise ValueError(f"{owner} must be a sequence of quantile levels, e.g. "
                         f"(0.1, 0.5, 0.9), got {levels!r}")
    if not levels:
        raise ValueError(f"{owner} is empty; give levels such as (0.1, 0.5, 0.9), or None "
                         "for point forecasts")
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int | float) or \
                not math.isfinite(level) or not 0.0 < level < 1.0:
            raise ValueError(f"{owner}: every quantile level must lie strictly inside (0, 1); "
                             f"got {level!r} in {list(levels)}")
    values = tuple(float(level) for level in levels)
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError(f"{owner} must be strictly increasing (sorted, no level twice); "
                         f"got {list(values)}")
    if MEDIAN not in values:
        raise ValueError(f"{owner} must include the median 0.5 (the point forecast); got "
                         f"{list(values)}")
    return values


@dataclass
class ForecastingShape:
    """What every forecaster is told about its data: window lengths and widths, and the
    quantile levels it forecasts.

    ``quantiles`` None: ``forward(x [batch, lookback, n_variates]) -> [batch, horizon,
    n_variates]`` (point forecasts). Levels such as ``(0.1, 0.5, 0.9)`` (see
    :func:`check_quantiles`): ``-> [batch, horizon, n_variates, n_quantiles]``, the last
    axis in the order of the levels and non-decreasing along it
    (:class:`tsssm.layers.QuantileOutput`).
    """

    lookback: int
    horizon: int
    n_variates: int
    n_time_features: int = 0  # > 0: calendar features are given beside the series
    quantiles: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_positive(self, "lookback", "horizon", "n_variates")
        check_int(self, "n_time_features", 0)
        self.quantiles = check_quantiles(self.quantiles, f"{type(self).__name__}.quantiles")


@dataclass
class PretrainingShape:
    """Task "pretraining" (masked reconstruction of EEG windows): ``forward(x [batch,
    n_chans, n_times])`` -> ``{"reconstruction": [batch, n_chans, n_times], "mask": bool,
    same shape}``."""

    n_chans: int
    n_times: int

    def __post_init__(self) -> None:
        _check_positive(self, "n_chans", "n_times")


@dataclass
class PhaseShape:
    """What every phase recogniser is told about its task.

    Attributes:
        n_inputs: F, features per step.
        n_phases: C, phases (7 for Cholec80, 5 for sleep stages).
        online: causal (each output sees only the past; streams) or offline (sees the whole
            recording).
        predict_video_progress: also predict the elapsed fraction of the recording.
    """

    n_inputs: int
    n_phases: int
    online: bool = True
    predict_video_progress: bool = False

    def __post_init__(self) -> None:
        check_int(self, "n_inputs", 1)
        check_int(self, "n_phases", 2)


# The data shape of each task's tiny example models (``ModelEntry.example_config``).
EXAMPLE_SHAPES: dict[str, dict[str, int]] = {
    "forecasting": {"lookback": 16, "horizon": 4, "n_variates": 3},
    "classification": {"n_chans": 4, "n_times": 32, "n_outputs": 3},
    "pretraining": {"n_chans": 4, "n_times": 32},
    "reconstruction": {"n_chans": 3, "n_times": 16},
    "phase": {"n_inputs": 5, "n_phases": 3},
}
