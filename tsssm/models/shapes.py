"""What every model of a task is told about its data: the config base of each model task.

    forecasting     ForecastingShape     x [batch, lookback, n_variates] (+ x_mark) -> [batch,
                                         horizon, n_variates]
    classification  ClassificationShape  x [batch, n_chans, n_times] -> logits [batch, n_outputs]
    pretraining     PretrainingShape     x [batch, n_chans, n_times] -> reconstruction and mask
    reconstruction  ReconstructionShape  x [batch, n_chans, n_times] -> the same shape
    phase           PhaseShape           x [batch, T, n_inputs] -> per-step logits and progress


Layouts follow the biosignal vocabulary (braindecode, MNE): a batch of windows is
``[batch, n_chans, n_times]`` for classification and reconstruction models alike, whether the
channels are EEG electrodes or the variates of a multivariate series.
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass
class ForecastingShape:
    """What every forecaster is told about its data: window lengths and widths."""

    lookback: int
    horizon: int
    n_variates: int
    n_time_features: int = 0  # > 0: calendar features are given beside the series

    def __post_init__(self) -> None:
        _check_positive(self, "lookback", "horizon", "n_variates")
        check_int(self, "n_time_features", 0)


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
