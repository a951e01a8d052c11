"""Phase recognition data shared by surgical workflow (``cholec80``) and sleep staging
(``sleep``): one labelled sequence per recording, progress targets, group-wise splits, and the
checksum check of bundled data folders.

Shapes: T time steps of one recording (frames after resampling, or 30-s sleep epochs), F input
features.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from .series import DataError
from .splits import StandardScaler


@dataclass(frozen=True, eq=False)
class PhaseSequence:
    """One recording (a surgical video, a night of sleep) labelled at every time step.

    Attributes:
        id: the recording, e.g. ``"video01"`` (Cholec80) or ``"SC4001E0"`` (Sleep-EDF).
        inputs: float32 [T, F] input signal (tool presence, per-frame features, ...).
        labels: int64 [T] phase (stage) index of every step, in the data set's standard order.
        progress: float32 [T] position inside the contiguous run of the same label: 0 at the
            run's first step, 1 at its last (0 for a run of one step); resets at every change.
        video_progress: float32 [T] position in the whole recording, ``t / (T - 1)``.
        fps: time steps per second (1/30 for 30-s sleep epochs).
        input_names: F names, one per column of ``inputs``.
    """

    id: str
    inputs: torch.Tensor
    labels: torch.Tensor
    progress: torch.Tensor
    video_progress: torch.Tensor
    fps: float
    input_names: tuple[str, ...]

    def __post_init__(self) -> None:
        steps = len(self.labels)
        shapes = {
            "inputs": (steps, len(self.input_names)),
            "labels": (steps,),
            "progress": (steps,),
            "video_progress": (steps,),
        }
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                found = tuple(getattr(self, name).shape)
                raise DataError(f"{self.id}: {name} has shape {found}, expected {shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"PhaseSequence(id={self.id!r}, steps={len(self)}, features={len(self.input_names)}"
            f", fps={self.fps:g})"
        )

    @classmethod
    def build(
        cls,
        id: str,
        inputs: np.ndarray,
        labels: np.ndarray,
        fps: float,
        input_names: Sequence[str],
    ) -> PhaseSequence:
        """A sequence from inputs [T, F] and labels [T]; both progress targets are derived."""
        return cls(
            id=id,
            inputs=torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32)),
            labels=torch.as_tensor(np.asarray(labels, dtype=np.int64)),
            progress=torch.as_tensor(segment_progress(labels)),
            video_progress=torch.as_tensor(sequence_progress(len(labels))),
            fps=float(fps),
            input_names=tuple(input_names),
        )


class PhaseSplit(NamedTuple):
    """Recordings of each part of a split."""

    train: list[PhaseSequence]
    val: list[PhaseSequence]
    test: list[PhaseSequence]


def segment_progress(labels: np.ndarray) -> np.ndarray:
    """Progress inside each contiguous run of equal labels.

    Args:
        labels: [T] integer labels.

    Returns:
        float32 [T]: ``i / (n - 1)`` for the i-th step (from 0) of a run of n steps; 0 for n = 1.
    """
    labels = np.asarray(labels)
    steps = len(labels)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if steps else np.arange(0)
    lengths = np.diff(np.r_[starts, steps])
    position = np.arange(steps) - np.repeat(starts, lengths)
    return (position / np.maximum(np.repeat(lengths, lengths) - 1, 1)).astype(np.float32)


def sequence_progress(steps: int) -> np.ndarray:
    """float32 [T] elapsed fraction of a recording of T steps: ``t / (T - 1)`` (0 when T = 1)."""
    return (np.arange(steps) / max(steps - 1, 1)).astype(np.float32)


def split_by_group(
    sequences: Sequence[PhaseSequence],
    group: Callable[[PhaseSequence], int],
    parts: dict[str, Collection[int]],
    what: str,
) -> PhaseSplit:
    """Assign each sequence to the part (train/val/test) that lists its group.

    A group (a video, a subject) may sit in one part only. Sequences whose group no part
    lists are left out. A part that lists groups but receives no sequence is an error: the ids
    are probably of the wrong kind (names instead of numbers, 0- instead of 1-based).
    """
    wanted = {name: {int(g) for g in groups} for name, groups in parts.items()}
    names = list(wanted)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = sorted(wanted[first] & wanted[second])
            if shared:
                raise DataError(f"{what} {shared} are in both {first} and {second}")
    split = {name: [s for s in sequences if group(s) in groups] for name, groups in wanted.items()}
    for name, chosen in split.items():
        if wanted[name] and not chosen:
            loaded = sorted({group(s) for s in sequences})
            raise DataError(
                f"no loaded sequence belongs to the {name} {what} {sorted(wanted[name])}; "
                f"{what} loaded: {loaded}"
            )
    return PhaseSplit(**split)


# Torch datasets of the phase task ------------------------------------------------------


class PhaseDataset(Dataset):
    """Recordings as training items, inputs standardised by ``scaler`` (when given)."""

    def __init__(self, sequences: Sequence[PhaseSequence],
                 scaler: StandardScaler | None = None) -> None:
        self.sequences, self.scaler = list(sequences), scaler

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sequence = self.sequences[index]
        x = sequence.inputs if self.scaler is None else self.scaler.transform(sequence.inputs)
        return {"x": x, "labels": sequence.labels, "progress": sequence.progress,
                "video_progress": sequence.video_progress, "index": torch.tensor(index)}


def pad_recordings(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items of different lengths, zero-padded at the end, with their ``lengths``."""
    lengths = torch.tensor([len(item["labels"]) for item in items])
    batch = {"lengths": lengths, "index": torch.stack([item["index"] for item in items])}
    for key in ("x", "labels", "progress", "video_progress"):
        batch[key] = torch.nn.utils.rnn.pad_sequence([item[key] for item in items],
                                                     batch_first=True)
    return batch


def fit_input_scaler(sequences: Sequence[PhaseSequence]) -> StandardScaler:
    """Per-feature mean and std over every step of ``sequences`` (the training part)."""
    return StandardScaler.fit(torch.cat([s.inputs for s in sequences]).double().numpy())
