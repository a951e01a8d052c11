"""Splitting EEG windows by subject, never by window: windows of one subject are far more
alike than windows of two subjects, so one subject in two parts leaks."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np

from ..series import DataError
from .windows import EEGWindows

PARTS = ("train", "val", "test")


class EEGSplit(NamedTuple):
    """Windows of each part of a split."""

    train: EEGWindows
    val: EEGWindows
    test: EEGWindows


def subject_split(
    windows: EEGWindows,
    train: Collection[str] | None = None,
    val: Collection[str] | None = None,
    test: Collection[str] | None = None,
    fractions: tuple[float, float, float] | None = None,
    seed: int = 0,
) -> EEGSplit:
    """Split windows by subject: explicit subject lists, or fractions of the subjects.

    Args:
        windows: the windows (their ``metadata["subject"]`` decides).
        train, val, test: subject lists; subjects listed nowhere are left out. Give these or
            ``fractions``, not both.
        fractions: (train, val, test) shares of the subjects, summing to 1; subjects are
            shuffled with ``seed`` and each part with a positive share gets at least one.
        seed: seed of the shuffle.

    Raises:
        DataError: a subject in two parts, an unknown subject, bad fractions, or fewer
            subjects than parts to fill.
    """
    subjects = windows.metadata["subject"].to_numpy()
    known = sorted(set(subjects.tolist()))
    if fractions is not None:
        if any(part is not None for part in (train, val, test)):
            raise DataError("give subject lists or fractions, not both")
        lists = _by_fractions(known, fractions, seed)
    else:
        lists = {name: [str(s) for s in part or ()] for name, part in zip(
            PARTS, (train, val, test), strict=True)}
        unknown = sorted({s for part in lists.values() for s in part} - set(known))
        if unknown:
            raise DataError(f"subjects {unknown} are not in the windows; subjects: {known}")
    check_disjoint(lists)
    parts = [windows.subset(np.flatnonzero(np.isin(subjects, lists[name]))) for name in PARTS]
    return EEGSplit(*parts)


def check_disjoint(parts: dict[str, Collection[str]]) -> None:
    """Raise a DataError naming any subject that sits in two parts."""
    names = list(parts)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = sorted(set(parts[first]) & set(parts[second]))
            if shared:
                raise DataError(f"subjects {shared} are in both {first} and {second}")


def check_subject_split(split: EEGSplit) -> None:
    """Raise a DataError if a subject has windows in two parts of ``split``."""
    check_disjoint(
        {name: set(getattr(split, name).metadata["subject"].to_list()) for name in PARTS}
    )


def _by_fractions(
    subjects: list[str], fractions: tuple[float, float, float], seed: int
) -> dict[str, list[str]]:
    """Shuffle ``subjects`` with ``seed`` and cut them in parts of the given shares."""
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.shape != (3,) or (shares < 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise DataError(f"fractions must be three shares >= 0 summing to 1, not {fractions}")
    wanted = int((shares > 0).sum())
    if len(subjects) < wanted:
        raise DataError(
            f"{len(subjects)} subjects cannot fill {wanted} parts; subjects: {subjects}"
        )
    counts = np.floor(shares * len(subjects)).astype(int)
    counts[(shares > 0) & (counts == 0)] = 1
    # hand out what rounding left (or take back what the minimum of one added) by share
    order = np.argsort(-shares)
    while counts.sum() < len(subjects):
        counts[order[0]] += 1
    for i in order[::-1]:
        while counts.sum() > len(subjects) and counts[i] > 1:
            counts[i] -= 1
    shuffled = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    ends = np.cumsum(counts)
    return {name: shuffled[end - n : end] for name, n, end in zip(PARTS, counts, ends, strict=True)}
