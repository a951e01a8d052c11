"""Reading EEG recordings: any format MNE reads (EDF/EDF+, BDF, GDF, FIF, BrainVision,
EEGLAB) through ``mne.io.read_raw``, the Bonn text segments, channel-name clean-up, and the
check for NaN or flat channels.

Shapes: C channels, T samples of a recording.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import mne
import numpy as np

from ..series import DataError, unreadable

BONN_SFREQ = 173.61  # Hz, Andrzejak et al. 2001
BONN_SAMPLES = 4097  # samples per segment (23.6 s)
BAD_CHANNEL_CHOICES = ("raise", "drop", "interpolate")
BadChannels = Literal["raise", "drop", "interpolate"]

# MNE reads some broken files with only a warning; these warnings become errors.
_FATAL_WARNINGS = (
    "does not match the file size",  # EDF/BDF: fewer data records than the header announces
    "data file is truncated",
    "file is truncated",
)
_PREFIX = re.compile(r"^(EEG|EKG|ECG|EOG|EMG)[ _]+", re.IGNORECASE)
_SUFFIX = re.compile(r"(-REF|-LE|-AR)$", re.IGNORECASE)
_CHUNK_SECONDS = 60.0  # the bad-channel check reads this much at a time


class WindowLabeller(Protocol):
    """Labels of a recording's windows, computed from the prepared (preprocessed) signal's
    channels and rate, e.g. from a TUH annotation file (:mod:`tsssm.data.eeg.tuh`)."""

    def __call__(self, ch_names: Sequence[str], sfreq: float, n_samples: int,
                 starts: np.ndarray, n_times: int) -> np.ndarray:
        """int64 labels [W] (one per window) or [W, K] (e.g. one per channel) of the W
        windows starting at the samples ``starts`` [W] and ``n_times`` samples long, of a
        signal of ``n_samples`` samples at ``sfreq`` Hz with channels ``ch_names``."""
        ...


@dataclass
class EEGRecording:
    """One recording and what windows need to know about it.

    Attributes:
        raw: the signal (preloaded or read from disk on demand), channels [C, T].
        id: the recording's name, e.g. ``"Subject00_1"`` or ``"S001R04"``.
        subject: whom it was recorded from; splits never separate one subject's recordings.
        label: the class of the whole recording (mental arithmetic rest 0 / task 1, Bonn set),
            or ``None`` where labels come from annotations or there are none.
        path: the file it was read from, when MNE does not know it (a Bonn text segment).
        window_labels: labels each window from the recording's annotation file, for
            ``labels="windows"`` (the TUAR and TUSL readers set it).
    """

    raw: mne.io.BaseRaw
    id: str
    subject: str
    label: int | None = None
    path: Path | None = None
    window_labels: WindowLabeller | None = None

    @property
    def source(self) -> str:
        """The file the recording was read from, else its id (for error messages)."""
        files = [f for f in self.raw.filenames if f is not None]
        return str(self.path or (files[0] if files else self.id))

    def __repr__(self) -> str:
        raw = self.raw
        return (
            f"EEGRecording(id={self.id!r}, subject={self.subject!r}, label={self.label}, "
            f"n_chans={len(raw.ch_names)}, n_times={raw.n_times}, sfreq={raw.info['sfreq']:g})"
        )


def read_raw(path: str | Path, preload: bool = False) -> mne.io.BaseRaw:
    """Read a recording in any format ``mne.io.read_raw`` knows.

    Args:
        path: the file (``.edf``, ``.bdf``, ``.gdf``, ``.fif``, ``.vhdr``, ``.set``, ...).
        preload: read the samples into memory now; otherwise they are read on demand.

    Raises:
        DataError: the file is missing, unreadable, or truncated; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        why = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"cannot read {path}: it {why}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = mne.io.read_raw(path, preload=preload, verbose="warning")
        except Exception as error:  # MNE's readers raise many types on broken files
            raise unreadable(path, error, "recording MNE can read") from None
    for warning in caught:
        message = str(warning.message)
        if any(fatal in message for fatal in _FATAL_WARNINGS):
            raise DataError(f"{path} is truncated or damaged: {message}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return raw


def read_bonn_segment(
    path: str | Path,
    sfreq: float = BONN_SFREQ,
    n_samples: int | None = BONN_SAMPLES,
    ch_name: str = "EEG",
) -> mne.io.RawArray:
    """Read a Bonn segment (one integer per line) as a one-channel preloaded Raw.

    The integers are taken as microvolts and stored in volts, MNE's unit for EEG.

    Args:
        path: the text file (``Z001.txt``; set N uses ``.TXT``).
        sfreq: sampling rate in Hz (173.61 for the published segments).
        n_samples: the expected number of samples (4097), or ``None`` to accept any.
        ch_name: the channel's name.

    Raises:
        DataError: missing file, a line that is not an integer, or the wrong length.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {path}: it does not exist")
    lines = path.read_text(encoding="ascii", errors="replace").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    values = np.empty(len(lines), dtype=np.float64)
    for i, line in enumerate(lines):
        try:
            values[i] = int(line.strip())
        except ValueError:
            raise DataError(f"{path}, line {i + 1}: {line.strip()!r} is not an integer") from None
    if n_samples is not None and len(values) != n_samples:
        raise DataError(
            f"{path} has {len(values)} samples, expected {n_samples} (truncated file?)"
        )
    info = mne.create_info([ch_name], sfreq, ch_types="eeg", verbose="error")
    return mne.io.RawArray(values[None] * 1e-6, info, verbose="error")


def standard_channel_names(names: Sequence[str]) -> dict[str, str]:
    """Map channel names to the standard 10-05 spelling where one matches.

    ``"EEG Fp1"`` -> ``"Fp1"``, ``"Fc5."`` -> ``"FC5"``, ``"EEG FP1-REF"`` -> ``"Fp1"``; names
    with no standard match lose only their type prefix and dots (``"EEG A2-A1"`` ->
    ``"A2-A1"``). Returns {old name: new name} for the names that change.
    """
    by_upper = {name.upper(): name for name in standard_montage().ch_names}
    renamed = {}
    for name in names:
        bare = _PREFIX.sub("", name.strip()).replace(".", "").strip()
        bare = by_upper.get(_SUFFIX.sub("", bare).upper(), bare)
        if bare != name:
            renamed[name] = bare
    final = [renamed.get(name, name) for name in names]
    clashes = sorted({name for name in final if final.count(name) > 1})
    if clashes:
        raise DataError(f"channel names {list(names)} would give duplicate names {clashes}")
    return renamed


@functools.lru_cache(maxsize=1)
def standard_montage() -> mne.channels.DigMontage:
    """MNE's template 10-05 montage: ``colin27_1005``, called ``standard_1005`` before
    MNE 1.13 (which deprecates that name)."""
    name = "colin27_1005"
    if name not in mne.channels.get_builtin_montages():
        name = "standard_1005"
    return mne.channels.make_standard_montage(name)


def find_bad_channels(raw: mne.io.BaseRaw) -> tuple[list[str], list[str]]:
    """Channels with a NaN/inf sample, and flat channels (one constant value throughout).

    Reads the recording in chunks of 60 s, so a recording on disk is never held whole.

    Returns:
        (non-finite channel names, flat channel names).
    """
    n_chans, step = len(raw.ch_names), max(int(_CHUNK_SECONDS * raw.info["sfreq"]), 1)
    finite = np.ones(n_chans, dtype=bool)
    low, high = np.full(n_chans, np.inf), np.full(n_chans, -np.inf)
    for start in range(0, raw.n_times, step):
        chunk = raw.get_data(start=start, stop=min(start + step, raw.n_times))  # [C, step]
        ok = np.isfinite(chunk)
        finite &= ok.all(axis=1)
        low = np.minimum(low, np.where(ok, chunk, np.inf).min(axis=1))
        high = np.maximum(high, np.where(ok, chunk, -np.inf).max(axis=1))
    names = np.asarray(raw.ch_names)
    return names[~finite].tolist(), names[finite & (high <= low)].tolist()


def handle_bad_channels(
    raw: mne.io.BaseRaw, bad_channels: BadChannels = "raise", source: str = ""
) -> mne.io.BaseRaw:
    """Raise on, drop, or interpolate NaN and flat channels.

    Args:
        raw: the recording; it is modified in place only by ``"drop"``/``"interpolate"``,
            which load it into memory.
        bad_channels: ``"raise"`` a DataError naming them, ``"drop"`` them, or
            ``"interpolate"`` them from their neighbours (spherical splines, MNE's
            ``interpolate_bads``), which needs electrode positions: the channel names must
            be 10-05 names (MNE's ``colin27_1005``, formerly ``standard_1005``, montage).
        source: the file (or recording) named in errors.

    Raises:
        DataError: bad channels with ``"raise"``; every channel bad; positions unknown.
    """
    if bad_channels not in BAD_CHANNEL_CHOICES:
        raise DataError(
            f"unknown bad_channels {bad_channels!r}; choose one of {list(BAD_CHANNEL_CHOICES)}"
        )
    nonfinite, flat = find_bad_channels(raw)
    bads = nonfinite + flat
    if not bads:
        return raw
    what = "; ".join(
        f"{kind} channels {names}" for kind, names in (("NaN/inf", nonfinite), ("flat", flat))
        if names
    )
    if bad_channels == "raise":
        raise DataError(
            f"{source or 'recording'}: {what}; pass bad_channels='drop' or 'interpolate'"
        )
    if len(bads) == len(raw.ch_names):
        raise DataError(f"{source or 'recording'}: every channel is bad ({what})")
    raw.load_data(verbose="error")
    if bad_channels == "drop":
        return raw.drop_channels(bads)
    _set_standard_montage(raw, source)
    picks = mne.pick_channels(raw.ch_names, bads)
    raw._data[picks] = 0.0  # interpolation overwrites them; NaN must not reach its solver
    raw.info["bads"] = bads
    return raw.interpolate_bads(reset_bads=True, verbose="error")


def _set_standard_montage(raw: mne.io.BaseRaw, source: str) -> None:
    """Give ``raw`` template 10-05 electrode positions, or raise naming the unknown channels."""
    montage = standard_montage()
    known = {name.upper() for name in montage.ch_names}
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
    unknown = [name for name in eeg if name.upper() not in known]
    if unknown:
        raise DataError(
            f"{source or 'recording'}: cannot interpolate bad channels: no standard position "
            f"for channels {unknown} (names must be 10-05 names such as 'Fp1'; rename them, "
            "e.g. with standard_channel_names, or use bad_channels='drop')"
        )
    raw.set_montage(montage.copy(), match_case=False, on_missing="raise", verbose="error")
