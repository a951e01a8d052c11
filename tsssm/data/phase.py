"""Phase recognition data shared by surgical workflow (``cholec80``) and sleep staging
(``sleep``): one labelled sequence per recording, progress targets, group-wise splits, and the
checksum check of bundled data folders.

Shapes: T time steps of one recording (frames after resampling, or 30-s sleep epochs), F input
features.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ._bundled import BUNDLED_FOLDER_SHA256, DATA_DIR_ENV, check_sha256, datasets_dir
from .series import DataError

SUMS_FILE = "SHA256SUMS"


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


@dataclass(frozen=True)
class BundledFolder:
    """A bundled data folder whose ``SHA256SUMS`` matches the sha256 recorded in
    ``tsssm/data/_bundled.py``; every file read through ``path`` is checked against it."""

    root: Path
    sums: dict[str, str]  # path relative to root (posix) -> sha256

    def path(self, relative: str) -> Path:
        """The verified file ``root/relative``.

        Raises:
            DataError: the file is not part of the bundled data, or is missing.
            ChecksumError: its content differs from the bundled one.
        """
        if relative not in self.sums:
            raise DataError(f"{relative} is not listed in {self.root / SUMS_FILE}")
        path = self.root / relative
        if not path.is_file():
            raise DataError(f"bundled file {path} is missing (listed in {SUMS_FILE})")
        check_sha256(path, self.sums[relative], "the file was modified or truncated")
        return path


def bundled_folder(name: str) -> BundledFolder:
    """The bundled data folder ``datasets/<name>/``, its ``SHA256SUMS`` verified.

    Raises:
        DataError: unknown name, or the folder or its ``SHA256SUMS`` is missing.
        ChecksumError: ``SHA256SUMS`` differs from the one recorded in ``_bundled.py``.
    """
    if name not in BUNDLED_FOLDER_SHA256:
        known = sorted(BUNDLED_FOLDER_SHA256)
        raise DataError(f"no bundled data folder {name!r}; bundled: {known}")
    root = datasets_dir() / name
    sums = root / SUMS_FILE
    if not sums.is_file():
        raise DataError(
            f"bundled data folder {root} (or its {SUMS_FILE}) not found: it ships in datasets/ "
            f"of the tsssm source checkout; use a checkout, set {DATA_DIR_ENV} to a folder "
            f"holding an unmodified copy, or pass root= to read your own copy"
        )
    check_sha256(sums, BUNDLED_FOLDER_SHA256[name], "the folder's checksum list was modified")
    return BundledFolder(root, _read_sums(str(sums), BUNDLED_FOLDER_SHA256[name]))


def verified_path(bundle: BundledFolder | None, path: Path) -> Path:
    """``path``, checked against ``bundle``'s checksums when it is a bundled file."""
    return path if bundle is None else bundle.path(path.relative_to(bundle.root).as_posix())


@functools.lru_cache(maxsize=8)
def _read_sums(path: str, sha256: str) -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256} (``sha256`` keys the cache to the content)."""
    table = {}
    for line in Path(path).read_text().splitlines():
        digest, _, name = line.partition("  ")
        table[name.removeprefix("./")] = digest
    return table
