"""Loaders of the three EEG data sets bundled in ``datasets/eeg/`` (each file checked against
the folder's ``SHA256SUMS``, whose sha256 is recorded in ``tsssm/data/_bundled.py``), or of a
user's fuller copy (``data_dir``): PhysioNet mental arithmetic (eegmat), the Bonn epilepsy
segments, PhysioNet motor movement/imagery (EEGMMIDB).

Each returns a list of :class:`EEGRecording`, ready for ``EEGWindows.from_recordings``.
Channel names are given their 10-05 spelling (``"EEG Fp1"`` -> ``"Fp1"``, ``"Fc5."`` ->
``"FC5"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .._bundled import BundledFolder, bundled_folder, verified_path
from ..series import DataError
from .reading import EEGRecording, read_bonn_segment, read_raw, standard_channel_names

BONN_SETS = ("Z", "O", "N", "F", "S")  # healthy eyes open/closed, interictal x2, seizure
MENTAL_ARITHMETIC_CLASSES = ("rest", "arithmetic")  # file suffix _1 -> 0, _2 -> 1
EEGMMIDB_EVENT_MAP = {"T0": 0, "T1": 1, "T2": 2}  # rest, left fist / both fists, right / feet
_MA_FILE = re.compile(r"(Subject\d+)_([12])\.edf")
_BONN_FILE = re.compile(r"([ZONFS])(\d{3})\.txt", re.IGNORECASE)
_EEGMMIDB_FILE = re.compile(r"(S\d{3})(R\d{2})\.edf")


def load_mental_arithmetic(
    data_dir: str | Path | None = None, subjects: Iterable[str] | None = None
) -> list[EEGRecording]:
    """EEG during mental arithmetic (Zyma et al. 2019): rest (label 0) and serial
    subtraction (label 1) of each subject.

    Args:
        data_dir: folder of ``SubjectNN_1.edf`` / ``SubjectNN_2.edf``. Default: the bundled
            subjects 00-07 (19 EEG channels, 128 Hz, 62 s each).
        subjects: ids such as ``"Subject03"``; default: all found.

    Returns:
        Two recordings per subject (``id`` "SubjectNN_1"/"_2", not preloaded).

    Raises:
        DataError: missing or unreadable files, unknown subjects.
        ChecksumError: a bundled file differs from the one shipped.
    """
    files = _find(data_dir, "eeg/mental_arithmetic", _MA_FILE)
    chosen = _choose(files, subjects, lambda match: match.group(1), "subjects")
    return [
        _recording(path, match.group(1), int(match.group(2)) - 1, bundle)
        for match, path, bundle in chosen
    ]


def load_bonn(
    data_dir: str | Path | None = None,
    sets: Iterable[str] = BONN_SETS,
    segments: Iterable[int] | None = None,
    classes: Mapping[str, int] | None = None,
) -> list[EEGRecording]:
    """Bonn epilepsy EEG (Andrzejak et al. 2001): single-channel 23.6-s segments at 173.61 Hz.

    Args:
        data_dir: folder with the set folders ``Z/``, ``O/``, ``N/``, ``F/``, ``S/``.
            Default: the bundled copy (all 5 x 100 segments).
        sets: set letters to load.
        segments: segment numbers (1-100) to load from each set; default: all.
        classes: {set letter: label}; default: the position in ``BONN_SETS`` (Z 0, O 1,
            N 2, F 3, S 4). Seizure detection: ``{"Z": 0, "O": 0, "N": 0, "F": 0, "S": 1}``.

    Returns:
        One preloaded recording per segment, ``id`` like "Z001". The subjects of the
        segments are not published, so ``subject`` is the segment id (see the card).

    Raises:
        DataError: unknown sets, missing or malformed files.
        ChecksumError: a bundled file differs from the one shipped.
    """
    sets = list(sets)
    unknown = [s for s in sets if s not in BONN_SETS]
    if unknown or not sets:
        raise DataError(f"unknown Bonn sets {unknown or sets}; sets: {list(BONN_SETS)}")
    classes = {s: i for i, s in enumerate(BONN_SETS)} if classes is None else dict(classes)
    lacking = [s for s in sets if s not in classes]
    if lacking:
        raise DataError(f"classes gives no label to the sets {lacking}")
    wanted = None if segments is None else {int(n) for n in segments}
    files = _find(data_dir, "eeg/bonn", _BONN_FILE)
    recordings = []
    for letter in sets:
        found = {int(m.group(2)): (m, p, b) for m, p, b in files if m.group(1).upper() == letter}
        numbers = sorted(found) if wanted is None else sorted(wanted)
        missing = [n for n in numbers if n not in found]
        if missing or not numbers:
            raise DataError(f"Bonn set {letter}: segments {missing or 'all'} not found")
        for number in numbers:
            _, path, bundle = found[number]
            raw = read_bonn_segment(verified_path(bundle, path))
            segment = f"{letter}{number:03d}"
            recordings.append(EEGRecording(raw, segment, segment, classes[letter], path))
    return recordings


def load_eegmmidb(
    data_dir: str | Path | None = None, runs: Iterable[str] | None = None
) -> list[EEGRecording]:
    """EEG motor movement/imagery (Schalk et al. 2004): 64 channels at 160 Hz, annotated
    T0 (rest), T1, T2 (see ``EEGMMIDB_EVENT_MAP``; use ``labels="annotations"``).

    Args:
        data_dir: folder of ``SxxxRyy.edf`` files (searched recursively). Default: the
            bundled run R04 of subject S001 (imagined left vs right fist).
        runs: ids such as ``"S001R04"``; default: all found.

    Raises:
        DataError: missing or unreadable files, unknown runs.
        ChecksumError: a bundled file differs from the one shipped.
    """
    files = _find(data_dir, "eeg/eegmmidb", _EEGMMIDB_FILE)
    chosen = _choose(files, runs, lambda match: match.group(1) + match.group(2), "runs")
    return [_recording(path, match.group(1), None, bundle) for match, path, bundle in chosen]


Found = list[tuple[re.Match[str], Path, BundledFolder | None]]


def _find(data_dir: str | Path | None, bundled: str, pattern: re.Pattern[str]) -> Found:
    """(match, path, bundle) of every file named like ``pattern``, sorted by path."""
    if data_dir is None:
        bundle = bundled_folder(bundled)
        paths = [bundle.root / name for name in bundle.sums]
    else:
        bundle, root = None, Path(data_dir)
        if not root.is_dir():
            raise DataError(f"EEG data folder {root} does not exist")
        paths = [p for p in root.rglob("*") if p.is_file()]
    found = [(pattern.fullmatch(p.name), p, bundle) for p in sorted(paths)]
    found = [(m, p, b) for m, p, b in found if m is not None]
    if not found:
        where = bundled if data_dir is None else data_dir
        raise DataError(f"no files named like {pattern.pattern!r} in {where}")
    return found


def _choose(
    files: Found, wanted: Iterable[str] | None, key: Callable[[re.Match[str]], str], what: str
) -> Found:
    """The files whose ``key(match)`` is in ``wanted`` (all when ``None``)."""
    if wanted is None:
        return files
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    available = sorted({key(m) for m, _, _ in files})
    missing = [w for w in wanted if w not in available]
    if missing:
        raise DataError(f"{what} {missing} not found; {what} available: {available}")
    return [f for f in files if key(f[0]) in wanted]


def _recording(
    path: Path, subject: str, label: int | None, bundle: BundledFolder | None
) -> EEGRecording:
    """An EDF recording with standard channel names, not preloaded."""
    raw = read_raw(verified_path(bundle, path))
    renamed = standard_channel_names(raw.ch_names)
    if renamed:
        raw.rename_channels(renamed, verbose="error")
    return EEGRecording(raw, path.name.removesuffix(".edf"), subject, label, path)
