"""What every model of a task is told about its data (the config base of each task).

Layouts follow the biosignal vocabulary (braindecode, MNE): a batch of windows is
``[batch, n_chans, n_times]`` for classification and reconstruction models alike, whether the
channels are EEG electrodes or the variates of a multivariate series.
"""

from __future__ import annotations

from dataclasses import dataclass


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
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
