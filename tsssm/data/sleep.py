"""Sleep staging on Sleep-EDF Expanded (Kemp et al., IEEE TBME 2000), sleep-cassette study:
a night is a sequence of 30-s epochs, each with 72 precomputed EEG features and a stage.

Files ``SC4ssNE0.npz`` (subject ss, night N) hold ``X`` [epochs, 72] float and ``y`` [epochs]
stages 0 W, 1 N1, 2 N2, 3 N3, 4 REM. Splits go by subject, so the two nights of one subject
always land in the same part.

Shapes: T epochs of a night, F = 72 features.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np

from ._bundled import BundledFolder, bundled_folder, verified_path
from .phase import PhaseSequence, PhaseSplit, split_by_group
from .phase_names import SLEEP_STAGES
from .series import DataError, unreadable

SLEEP_EPOCH_SECONDS = 30.0
_NIGHT = re.compile(r"SC4(\d\d)(\d)E\d")


def load_sleep_edf(
    root: str | Path | None = None, nights: str | Iterable[str] | None = None
) -> list[PhaseSequence]:
    """Load Sleep-EDF nights (feature files) as labelled sequences of 30-s epochs.

    Args:
        root: folder holding ``SC4ssNE0.npz`` files (searched recursively). Default: the 14
            bundled nights of subjects 0-6 (``datasets/sleep_edf/features/``), each file
            checksum-verified.
        nights: night ids such as ``"SC4001E0"`` (or one id); default: all found, sorted.

    Returns:
        One ``PhaseSequence`` per night: ``inputs`` [T, 72], ``labels`` indexing
        ``SLEEP_STAGES``, ``fps`` = 1/30.

    Raises:
        DataError: a missing or malformed file; the message names it.
        ChecksumError: a bundled file differs from the one shipped.
    """
    bundle = bundled_folder("sleep_edf") if root is None else None
    files = _night_files(bundle, None if root is None else Path(root))
    if isinstance(nights, str):
        nights = [nights]
    wanted = sorted(files) if nights is None else list(nights)
    missing = [night for night in wanted if night not in files]
    if missing:
        raise DataError(f"nights {missing} not found; nights available: {sorted(files)}")
    return [_load_night(night, verified_path(bundle, files[night])) for night in wanted]


def sleep_edf_split(
    sequences: Iterable[PhaseSequence],
    train: Collection[int] = range(5),
    val: Collection[int] = (5,),
    test: Collection[int] = (6,),
) -> PhaseSplit:
    """Split Sleep-EDF nights by subject number (``ss`` of ``SC4ssNE0``), never by night.

    The default suits the bundled subjects 0-6: train 0-4 (10 nights), val 5, test 6 (2 nights
    each). Nights of subjects no part lists are left out.

    Raises:
        DataError: a subject in two parts, or a part whose subjects were not loaded.
    """
    parts = {"train": train, "val": val, "test": test}
    return split_by_group(list(sequences), lambda s: sleep_edf_subject(s.id), parts, "subjects")


def sleep_edf_subject(night: str) -> int:
    """Subject number of a sleep-cassette night id: 1 for ``"SC4012E0"``."""
    match = _NIGHT.fullmatch(night)
    if match is None:
        raise DataError(f"not a Sleep-EDF sleep-cassette night id: {night!r} (like 'SC4012E0')")
    return int(match.group(1))


def _night_files(bundle: BundledFolder | None, root: Path | None) -> dict[str, Path]:
    """{night id: path} of the feature files available."""
    if bundle is not None:
        paths = [bundle.root / name for name in bundle.sums if name.endswith(".npz")]
    elif root is not None and root.is_dir():
        paths = sorted(root.rglob("*.npz"))
    else:
        raise DataError(f"Sleep-EDF folder {root} does not exist")
    return {path.stem: path for path in paths if _NIGHT.fullmatch(path.stem)}


def _load_night(night: str, path: Path) -> PhaseSequence:
    """One night from its npz file (``X`` [T, F], ``y`` [T] stages)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not {"X", "y"} <= set(archive.files):
                raise DataError(f"{path} holds {archive.files}, expected the arrays 'X' and 'y'")
            features, stages = archive["X"], archive["y"]
    except (OSError, zipfile.BadZipFile) as error:
        raise unreadable(path, error, "NumPy .npz file") from None
    if features.ndim != 2 or stages.ndim != 1 or len(features) != len(stages):
        raise DataError(
            f"{path}: X has shape {features.shape} and y {stages.shape}; expected "
            "[epochs, features] and [epochs] with the same number of epochs"
        )
    if not np.issubdtype(stages.dtype, np.integer):
        raise DataError(f"{path}: y has type {stages.dtype}, expected integer stages")
    bad = np.flatnonzero((stages < 0) | (stages >= len(SLEEP_STAGES)))
    if bad.size or len(stages) == 0:
        what = f"epoch {bad[0]} has stage {stages[bad[0]]}" if bad.size else "no epochs"
        raise DataError(f"{path}: {what}; stages are 0-4 ({', '.join(SLEEP_STAGES)})")
    if not np.isfinite(features).all():
        raise DataError(f"{path}: epoch {np.argwhere(~np.isfinite(features))[0][0]} not finite")
    names = [f"feature_{i:02d}" for i in range(features.shape[1])]
    return PhaseSequence.build(night, features, stages, 1 / SLEEP_EPOCH_SECONDS, names)
