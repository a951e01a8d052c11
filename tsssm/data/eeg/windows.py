"""Cutting recordings into fixed-length windows: a torch ``Dataset`` whose items are read on
demand from each recording (a Raw on disk, a preloaded Raw, or a memory-mapped cache of the
preprocessed signal), so a data set larger than memory still trains.

Labels come from the recording (``labels="recording"``), from annotations
(``labels="annotations"`` with an ``event_map`` such as ``{"T1": 0, "T2": 1}``), from the
recording's own window labeller (``labels="windows"``: e.g. TUAR's artifact fraction per
window and channel), or there are none (``labels=None``, label -1, for pre-training).

Shapes: an item is ``x`` float32 [n_chans, n_times] and ``y`` int64 [] (the class), or [K]
for a labeller that gives K labels per window (e.g. one per channel).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mne
import numpy as np
import polars as pl
import torch
from torch.utils.data import Dataset

from tsssm.runs import atomic_file

from ..series import DataError
from .chunked import ChunkPlan, chunk_plan, write_chunked_npy
from .preprocessing import Preprocessing
from .reading import BadChannels, EEGRecording, handle_bad_channels

UNLABELLED = -1
LABEL_CHOICES = ("recording", "annotations", "windows", None)
Labels = Literal["recording", "annotations", "windows"] | None


@dataclass(frozen=True, eq=False)
class _Signal:
    """A prepared recording: where to read its samples and what windows need to know."""

    id: str
    subject: str
    source: str
    sfreq: float
    ch_names: tuple[str, ...]
    n_times: int
    data: mne.io.BaseRaw | np.ndarray  # a Raw, or a (memory-mapped) float32 array [C, T]
    onset: np.ndarray  # [A] annotation onsets, seconds from the first sample
    duration: np.ndarray  # [A] seconds
    description: tuple[str, ...]  # [A]

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 [C, stop - start] samples."""
        if isinstance(self.data, np.ndarray):
            return np.array(self.data[:, start:stop], dtype=np.float32)
        return self.data.get_data(start=start, stop=stop).astype(np.float32)


class EEGWindows(Dataset):
    """Fixed-length windows of EEG recordings, read on demand.

    Build it with :meth:`from_recordings`. ``windows[i]`` is ``(x, y)``: ``x`` float32
    [n_chans, n_times], ``y`` int64 [] (-1 for unlabelled windows; [K] from a labeller that
    gives K labels per window); :attr:`metadata` is a
    polars DataFrame with one row per window: ``recording``, ``subject``, ``start_s`` (start
    in seconds from the recording's first sample), ``label``.
    """

    def __init__(self, signals: Sequence[_Signal], index: pl.DataFrame, n_times: int) -> None:
        self._signals = list(signals)
        self._index = index  # columns signal (int), start (sample), label
        self.n_times = n_times

    @classmethod
    def from_recordings(
        cls,
        recordings: Sequence[EEGRecording],
        window_s: float,
        stride_s: float | None = None,
        labels: Labels = "recording",
        event_map: Mapping[str, int] | None = None,
        preprocessing: Preprocessing | Sequence[Mapping] | None = None,
        bad_channels: BadChannels = "raise",
        cache_dir: str | Path | None = None,
    ) -> EEGWindows:
        """Prepare recordings (bad channels, preprocessing) and cut them into windows.

        Args:
            recordings: the recordings; all must end with the same channels and rate.
            window_s: window length in seconds.
            stride_s: step between window starts in seconds (default: ``window_s``).
            labels: ``"recording"`` (each recording's ``label``), ``"annotations"`` (windows
                inside each annotation listed in ``event_map``, labelled by it; an
                annotation of duration 0 gives one window from its onset), ``"windows"``
                (each recording's ``window_labels``, windows tiled from its start) or
                ``None``.
            event_map: {annotation description: class} for ``labels="annotations"``.
            preprocessing: a :class:`Preprocessing` chain or its config (list of dicts).
            bad_channels: what to do with NaN/flat channels (``"raise"``, ``"drop"``,
                ``"interpolate"``), checked before preprocessing.
            cache_dir: where to keep preprocessed recordings as float32 ``.npy`` files, read
                back memory-mapped (recordings are then processed one at a time, and only
                windows being read are in memory). A chain that can run in chunks (see
                ``tsssm.data.eeg.chunked``) is then run chunk by chunk straight into the
                file, so memory stays flat in the recording's duration. Without it, a
                preprocessed recording stays in memory, and one without preprocessing is read
                from disk per window.

        Raises:
            DataError: bad options; a recording shorter than a window or without a label;
                bad channels; channels or sampling rates that differ between recordings.
        """
        stride_s = window_s if stride_s is None else stride_s
        if not (window_s > 0 and stride_s > 0):
            raise DataError(f"window_s and stride_s must be positive, not {window_s}, {stride_s}")
        _check_labels(labels, event_map)
        if not recordings:
            raise DataError("no recordings to cut into windows")
        if not isinstance(preprocessing, Preprocessing):
            preprocessing = Preprocessing.from_config(preprocessing or [])
        signals = [_prepare(r, preprocessing, bad_channels, cache_dir) for r in recordings]
        _check_consistent(signals)
        sfreq = signals[0].sfreq
        n_times, stride = round(window_s * sfreq), round(stride_s * sfreq)
        if n_times < 1 or stride < 1:
            raise DataError(f"at {sfreq:g} Hz, windows of {window_s} s / strides of {stride_s} s "
                            "are shorter than one sample")
        rows = [
            _windows(i, s, rec, n_times, stride, labels, event_map)
            for i, (s, rec) in enumerate(zip(signals, recordings, strict=True))
        ]
        return cls(signals, pl.concat(rows), n_times)

    def __len__(self) -> int:
        return self._index.height

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        signal, start, label = self._index.row(i)
        x = self._signals[signal].read(start, start + self.n_times)  # [C, n_times]
        return torch.from_numpy(x), torch.tensor(label, dtype=torch.int64)

    @property
    def sfreq(self) -> float:
        """Sampling rate (Hz) shared by every window."""
        return self._signals[0].sfreq

    @property
    def ch_names(self) -> tuple[str, ...]:
        """Channel names, the rows of ``x``."""
        return self._signals[0].ch_names

    @property
    def n_chans(self) -> int:
        return len(self.ch_names)

    @property
    def labels(self) -> np.ndarray:
        """int64 [N] (or [N, K]) label of every window (-1: unlabelled)."""
        return self._index["label"].to_numpy()

    @property
    def metadata(self) -> pl.DataFrame:
        """One row per window: recording (str), subject (str), start_s (f64), label (i64, or
        an array of K)."""
        ids = pl.Series([s.id for s in self._signals])
        subjects = pl.Series([s.subject for s in self._signals])
        rates = pl.Series([s.sfreq for s in self._signals])
        signal = self._index["signal"]
        return pl.DataFrame(
            {
                "recording": ids.gather(signal),
                "subject": subjects.gather(signal),
                "start_s": self._index["start"] / rates.gather(signal),
                "label": self._index["label"],
            }
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> EEGWindows:
        """The windows at ``indices`` (sharing the recordings, nothing is copied)."""
        indices = np.asarray(indices, dtype=np.int64)
        return EEGWindows(self._signals, self._index[indices], self.n_times)

    def __repr__(self) -> str:
        return (
            f"EEGWindows(windows={len(self)}, recordings={len(self._signals)}, "
            f"n_chans={self.n_chans}, n_times={self.n_times}, sfreq={self.sfreq:g})"
        )


def _check_labels(labels: Labels, event_map: Mapping[str, int] | None) -> None:
    if labels not in LABEL_CHOICES:
        raise DataError(f"unknown labels {labels!r}; choose one of {list(LABEL_CHOICES)}")
    if labels == "annotations" and not event_map:
        raise DataError('labels="annotations" needs event_map, e.g. {"T1": 0, "T2": 1}')
    if labels != "annotations" and event_map:
        raise DataError(f'event_map is used only with labels="annotations", not {labels!r}')


def _prepare(
    recording: EEGRecording,
    preprocessing: Preprocessing,
    bad_channels: BadChannels,
    cache_dir: str | Path | None,
) -> _Signal:
    """Check bad channels and preprocess one recording (through the cache when given)."""
    source = recording.source
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / _cache_key(recording, preprocessing, bad_channels)
        _refuse_symlinks(cached)
        if cached.with_suffix(".json").is_file():
            return _from_cache(recording, source, cached)
    raw = recording.raw
    plan = chunk_plan(preprocessing, raw) if cached is not None and len(preprocessing) else None
    if plan is not None and bad_channels == "raise":
        # In chunks straight into the cache: the recording is never held whole.
        handle_bad_channels(raw, bad_channels, source)  # reads it 60 s at a time
        _write_cache(cached, raw, plan, source)
        return _from_cache(recording, source, cached)
    if len(preprocessing) or bad_channels != "raise":
        raw = raw.copy()  # never modify the caller's recording
    raw = handle_bad_channels(raw, bad_channels, source)
    raw = preprocessing.apply(raw, source) if len(preprocessing) else raw
    if cached is not None:
        _write_cache(cached, raw)
        return _from_cache(recording, source, cached)
    return _Signal(
        recording.id, recording.subject, source, float(raw.info["sfreq"]), tuple(raw.ch_names),
        raw.n_times, raw, *_annotations(raw),
    )


def _annotations(raw: mne.io.BaseRaw) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Onsets (s from the first sample), durations (s) and descriptions of the annotations."""
    annotations = raw.annotations
    # as mne.events_from_annotations does: the origin depends on annotations.orig_time
    first = raw.time_as_index(annotations.onset, use_rounding=True, origin=annotations.orig_time)
    onset = np.asarray(first, dtype=np.float64) / raw.info["sfreq"]
    return onset, np.asarray(annotations.duration, np.float64), tuple(annotations.description)


def _cache_key(
    recording: EEGRecording, preprocessing: Preprocessing, bad_channels: BadChannels
) -> str:
    """sha256 of what decides the prepared signal: its file (or samples) and the chain."""
    digest = hashlib.sha256()
    files = [Path(f) for f in recording.raw.filenames if f is not None]
    if files:
        stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        digest.update(json.dumps(stats).encode())
    else:
        digest.update(np.ascontiguousarray(recording.raw.get_data()).tobytes())
    spec = {"id": recording.id, "steps": preprocessing.to_config(), "bad": bad_channels,
            "first": recording.raw.first_samp, "n": recording.raw.n_times}
    digest.update(json.dumps(spec, sort_keys=True, default=str).encode())
    name = re.sub(r"[^A-Za-z0-9_-]", "_", recording.id)
    return f"{name}-{digest.hexdigest()[:16]}"


def _refuse_symlinks(path: Path) -> None:
    """A cache entry is tsssm's own file: a symlink there (which would make the cache read
    or replace another file) is refused."""
    for entry in (path.with_suffix(".npy"), path.with_suffix(".json")):
        if entry.is_symlink():
            raise DataError(f"the EEG cache entry {entry} is a symlink; tsssm reads and writes "
                            "only its own files there: remove the link")


def _write_cache(path: Path, raw: mne.io.BaseRaw, plan: ChunkPlan | None = None,
                 source: str = "") -> None:
    """Save the samples (``path.npy``, float32 [C, T]) and what windows need (``path.json``,
    written last, so its presence means the entry is complete); each write is atomic. With a
    ``plan``, ``raw`` is the unprocessed recording, preprocessed chunk by chunk into the file
    (see ``tsssm.data.eeg.chunked``); else it is the preprocessed recording."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A chunk plan keeps the rate, or resamples only recordings without annotations.
    onset, duration, description = _annotations(raw)
    # Private temporary files (mkstemp, mkdtemp), renamed over the entry: nothing is written
    # through a symlink planted in the cache folder.
    if plan is None:
        info = raw.info
        with atomic_file(path.with_suffix(".npy")) as file:
            np.save(file, raw.get_data().astype(np.float32))
    else:
        info = write_chunked_npy(raw, plan, source, path.with_suffix(".npy"))
    meta = {
        "sfreq": info["sfreq"],
        "ch_names": info["ch_names"],
        "onset": onset.tolist(),
        "duration": duration.tolist(),
        "description": list(description),
    }
    with atomic_file(path.with_suffix(".json"), "w") as file:
        file.write(json.dumps(meta))


def _from_cache(recording: EEGRecording, source: str, path: Path) -> _Signal:
    """The cached signal of ``recording``, its samples memory-mapped."""
    meta = json.loads(path.with_suffix(".json").read_text())
    data = np.load(path.with_suffix(".npy"), mmap_mode="r", allow_pickle=False)  # [C, T]
    return _Signal(
        recording.id, recording.subject, source, float(meta["sfreq"]),
        tuple(meta["ch_names"]), data.shape[1], data, np.asarray(meta["onset"], np.float64),
        np.asarray(meta["duration"], np.float64), tuple(meta["description"]),
    )


def _check_consistent(signals: Sequence[_Signal]) -> None:
    """Every prepared recording must have the first one's sampling rate and channels."""
    first = signals[0]
    rates = {s.source: s.sfreq for s in signals}
    if len(set(rates.values())) > 1:
        shown = ", ".join(f"{source}: {rate:g} Hz" for source, rate in list(rates.items())[:6])
        raise DataError(
            f"recordings have different sampling rates ({shown}{', ...' if len(rates) > 6 else ''}"
            f"); add a resample step, e.g. {{'step': 'resample', 'sfreq': {first.sfreq:g}}}"
        )
    for signal in signals[1:]:
        if signal.ch_names != first.ch_names:
            extra = sorted(set(signal.ch_names) - set(first.ch_names))
            lacking = sorted(set(first.ch_names) - set(signal.ch_names))
            raise DataError(
                f"{signal.source} has channels {list(signal.ch_names)}, {first.source} has "
                f"{list(first.ch_names)} (only in the former: {extra}, only in the latter: "
                f"{lacking}); windows need the same channels in the same order: add a "
                "pick_channels step"
            )


def _windows(
    number: int,
    signal: _Signal,
    recording: EEGRecording,
    n_times: int,
    stride: int,
    labels: Labels,
    event_map: Mapping[str, int] | None,
) -> pl.DataFrame:
    """Rows (signal number, start sample, label) of one recording's windows."""
    total = signal.n_times
    if total < n_times:
        raise DataError(
            f"{signal.source}: a window of {n_times} samples ({n_times / signal.sfreq:.2f} s at "
            f"{signal.sfreq:g} Hz) is longer than the recording ({total} samples, "
            f"{total / signal.sfreq:.2f} s)"
        )
    if labels == "annotations":
        starts, classes = _annotated_starts(signal, n_times, stride, event_map or {})
    elif labels == "windows":
        starts = np.arange(0, total - n_times + 1, stride, dtype=np.int64)
        classes = _labelled_windows(signal, recording, starts, n_times)
    else:
        if labels == "recording" and recording.label is None:
            raise DataError(
                f"{signal.source}: recording {recording.id!r} has no label; use "
                'labels="annotations" or labels=None'
            )
        starts = np.arange(0, total - n_times + 1, stride, dtype=np.int64)
        label = UNLABELLED if labels is None else int(recording.label)
        classes = np.full(len(starts), label, dtype=np.int64)
    return pl.DataFrame(
        {"signal": np.full(len(starts), number, dtype=np.int64), "start": starts, "label": classes}
    )


def _labelled_windows(signal: _Signal, recording: EEGRecording, starts: np.ndarray,
                      n_times: int) -> np.ndarray:
    """int64 [W] or [W, K] labels of the windows at ``starts`` from the recording's
    ``window_labels``, checked."""
    if recording.window_labels is None:
        raise DataError(f"{signal.source}: recording {recording.id!r} has no window labeller; "
                        'labels="windows" needs one (e.g. from load_tuar or load_tusl)')
    classes = np.asarray(recording.window_labels(signal.ch_names, signal.sfreq,
                                                 signal.n_times, starts, n_times))
    if classes.ndim not in (1, 2) or len(classes) != len(starts) or not np.issubdtype(
            classes.dtype, np.integer):
        raise DataError(f"{signal.source}: the window labeller gave {classes.dtype} labels of "
                        f"shape {classes.shape}; {len(starts)} windows need integer labels "
                        "[W] or [W, K]")
    return classes.astype(np.int64)


def _annotated_starts(
    signal: _Signal, n_times: int, stride: int, event_map: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Window starts inside the annotations listed in ``event_map``, and their classes.

    An annotation spanning at least one window is tiled with ``stride``; a shorter one (or
    one of duration 0, an event) gives one window from its onset. Windows running past the
    end of the recording are left out.
    """
    starts, classes = [], []
    for onset, duration, description in zip(
        signal.onset, signal.duration, signal.description, strict=True
    ):
        if description not in event_map:
            continue
        first = round(onset * signal.sfreq)
        span = max(round(duration * signal.sfreq), n_times)
        inside = np.arange(first, first + span - n_times + 1, stride, dtype=np.int64)
        inside = inside[(inside >= 0) & (inside + n_times <= signal.n_times)]
        starts.append(inside)
        classes.append(np.full(len(inside), event_map[description], dtype=np.int64))
    if not starts or not sum(len(s) for s in starts):
        found = sorted(set(signal.description))
        raise DataError(
            f"{signal.source}: no window from the annotations {sorted(event_map)}; the "
            f"recording's annotations are {found}"
        )
    return np.concatenate(starts), np.concatenate(classes)
