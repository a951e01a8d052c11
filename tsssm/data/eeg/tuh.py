"""Readers of three corpora of the Temple University Hospital EEG data (TUH), in the folder
layouts and label files TUH distributes, labelled as FEMBA's paper and BioFoundation's data
preparation do:

- TUAB, abnormal EEG (v3): ``<root>/{train,eval}/{normal,abnormal}/01_tcp_ar/*.edf``; a
  recording is normal (0) or abnormal (1) by its folder (:func:`load_tuab`).
- TUAR, artifacts (v3): ``<root>/{01_tcp_ar,02_tcp_le,...}/<name>.edf`` and its
  ``<name>.csv`` of events per channel; windows are labelled by the fraction of each window an
  artifact covers (>= 0.3): one label per window, per channel, the artifact type per
  channel, or one artifact type per window (:func:`load_tuar`, :class:`TUARLabels`).
- TUSL, slowing (v2): ``<root>/<subject>/<session>/<montage>/<name>.edf`` and ``<name>.csv``;
  a window takes its most frequent class (:func:`load_tusl`, :class:`TUSLLabels`).

``<root>`` is the corpus' ``edf`` folder (or the folder holding it). The recordings keep
TUH's referential channels (renamed ``"EEG FP1-REF"`` -> ``"Fp1"``); FEMBA's preprocessing is
the ``femba_tuh`` preset (TCP bipolar montage, 0.1-75 Hz band-pass, 60 Hz notch, 256 Hz,
5-s windows)::

    from tsssm.data.eeg import EEGWindows, FEMBA_TUH, load_tuar

    recordings = load_tuar("tuh_eeg_artifact/v3.0.1/edf", mode="per_channel")
    windows = EEGWindows.from_recordings(
        recordings, FEMBA_TUH.window_s, FEMBA_TUH.stride_s, labels="windows",
        preprocessing=FEMBA_TUH.preprocessing)
    x, y = windows[0]  # float32 [22, 1280], int64 [22]

The events of TUAR and TUSL are in seconds; their labels are laid on the samples of the
preprocessed signal (``round(seconds * sfreq)``), so they follow any resampling. A subject is
the first part of a file name (``aaaaaaju_s007_t000`` -> ``aaaaaaju``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..series import DataError
from .reading import EEGRecording, read_raw, standard_channel_names

TUAB_CLASSES = ("normal", "abnormal")  # folder -> label 0, 1
TUAB_SPLITS = ("train", "eval")
# TUAR's artifact types, coded 1-5 in this order for ``mode="per_type"`` and
# ``"window_type"`` (0: none); an event of two artifacts (``eyem_musc``) counts as its first.
TUAR_ARTIFACT_TYPES = ("chew", "elec", "eyem", "musc", "shiv")
# Events that count as artifacts for ``mode="binary"``/``"per_channel"`` without a type: the
# electrode pop and the seizure types, as in BioFoundation's TUAR preparation.
TUAR_UNTYPED_EVENTS = ("elpp", "cpsz", "fnsz", "gnsz", "tcsz")
TUAR_MONTAGES = ("01_tcp_ar", "02_tcp_le")  # 03_tcp_ar_a lacks A1/A2, which TCP needs
TUAR_MODES = ("binary", "per_channel", "per_type", "window_type")
TUAR_THRESHOLD = 0.3
# TUSL's classes (0: a sample no event covers)
TUSL_CLASSES: Mapping[str, int] = {"bckg": 1, "seiz": 2, "slow": 3}
TUARMode = Literal["binary", "per_channel", "per_type", "window_type"]
_CSV_COLUMNS = ("channel", "start_time", "stop_time", "label")


@dataclass(frozen=True)
class TUHEvent:
    """One row of a TUH annotation file: ``label`` on ``channel`` (a TCP derivation such as
    ``"FP1-F7"``, or ``"TERM"`` for the whole montage) from ``start_s`` to ``stop_s``."""

    channel: str
    start_s: float
    stop_s: float
    label: str


def read_tuh_csv(path: str | Path) -> tuple[TUHEvent, ...]:
    """The events of a TUH ``.csv`` annotation file (``# ...`` header lines, then the columns
    ``channel,start_time,stop_time,label,confidence``).

    Raises:
        DataError: a missing file, a missing column or a malformed row (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read the TUH annotations {path}: it does not exist")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = [(number, line) for number, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise DataError(f"{path}: no header line ({','.join(_CSV_COLUMNS)},confidence)")
    header_line, *data = rows
    header = [name.strip() for name in next(csv.reader([header_line[1]]))]
    missing = [name for name in _CSV_COLUMNS if name not in header]
    if missing:
        raise DataError(f"{path}, line {header_line[0]}: the header {header} lacks {missing}")
    columns = [header.index(name) for name in _CSV_COLUMNS]
    events = []
    for number, line in data:
        fields = next(csv.reader([line]))
        try:
            channel, start, stop, label = (fields[i].strip() for i in columns)
            event = TUHEvent(channel, float(start), float(stop), label)
        except (IndexError, ValueError):
            raise DataError(f"{path}, line {number}: {line.strip()!r} is not a row of "
                            f"{','.join(header)}") from None
        if event.stop_s < event.start_s:
            raise DataError(f"{path}, line {number}: the event stops ({event.stop_s} s) "
                            f"before it starts ({event.start_s} s)")
        events.append(event)
    return tuple(events)


def _span(event: TUHEvent, sfreq: float, n_samples: int) -> slice:
    """The samples an event covers at ``sfreq``, clipped to the signal."""
    start = min(max(round(event.start_s * sfreq), 0), n_samples)
    return slice(start, min(max(round(event.stop_s * sfreq), start), n_samples))


def tuar_type(label: str) -> int:
    """The artifact type code of a TUAR label (1-5, :data:`TUAR_ARTIFACT_TYPES`; a pair
    such as ``"eyem_musc"`` counts as its first), 0 for other labels."""
    first = label.lower().split("_")[0]
    return TUAR_ARTIFACT_TYPES.index(first) + 1 if first in TUAR_ARTIFACT_TYPES else 0


def is_tuar_artifact(label: str) -> bool:
    """Whether a TUAR label counts as an artifact for the binary and per-channel labels."""
    return tuar_type(label) > 0 or label.lower() in TUAR_UNTYPED_EVENTS


@dataclass(frozen=True)
class TUARLabels:
    """TUAR's window labels (a :class:`~tsssm.data.eeg.reading.WindowLabeller`).

    Each event is laid on the samples of its channel; events on channels the windows do not
    have are left out (TUAR annotates the 22 TCP derivations). A window [n_times] is then
    labelled by the fraction of it that artifacts cover, ``threshold`` = 0.3 as in FEMBA:

    - ``"binary"``: int64 [W], 1 where at least that fraction of the window's samples has an
      artifact on some channel;
    - ``"per_channel"``: int64 [W, C], 1 per channel with at least that fraction;
    - ``"per_type"``: int64 [W, C], per channel the artifact type (1-5,
      :data:`TUAR_ARTIFACT_TYPES`) covering most of the window if it covers at least that
      fraction, else 0;
    - ``"window_type"``: int64 [W], the artifact type (1-5) present on some channel for
      most of the window's samples if it is present for at least that fraction, else 0 (the
      window-level multi-class protocol, FEMBA's MCC: BioFoundation documents it as "a
      subset of classes" without naming them; here all five types and none are classes).

    ``"per_type"`` departs from BioFoundation's preparation twice: there, the artifact-free
    samples compete as a class of their own (a channel 40 % eye movement and 60 % clean is
    labelled 0, where ``"per_channel"`` calls it an artifact; here it is eye movement, the
    0.3 rule of the paper), and an event that is no typed artifact overwrites an artifact
    on the same samples, in file order (here it never does).
    """

    events: tuple[TUHEvent, ...]
    mode: TUARMode = "binary"
    threshold: float = TUAR_THRESHOLD
    source: str = "TUAR recording"

    def __post_init__(self) -> None:
        if self.mode not in TUAR_MODES:
            raise DataError(f"TUAR labels: unknown mode {self.mode!r}; modes: "
                            f"{list(TUAR_MODES)}")
        if not 0.0 < self.threshold <= 1.0:
            raise DataError(f"TUAR labels: threshold must lie in (0, 1], got {self.threshold}")

    def sample_codes(self, ch_names: Sequence[str], sfreq: float,
                     n_samples: int) -> np.ndarray:
        """int8 [C, n_samples]: per channel and sample, 1 (``"binary"``, ``"per_channel"``)
        or the artifact type (``"per_type"``, ``"window_type"``) where an event covers it,
        else 0.

        Raises:
            DataError: the file has events, but on none of ``ch_names``.
        """
        rows = {name.upper(): i for i, name in enumerate(ch_names)}
        codes = np.zeros((len(ch_names), n_samples), dtype=np.int8)
        known = [event for event in self.events if event.channel.upper() in rows]
        if self.events and not known:
            found = sorted({event.channel for event in self.events})
            raise DataError(f"{self.source}: the events are on channels {found}, none of "
                            f"which the windows have ({list(ch_names)}); apply the TCP "
                            "bipolar montage first (the femba_tuh preset)")
        for event in known:
            typed = self.mode in ("per_type", "window_type")
            code = tuar_type(event.label) if typed else int(is_tuar_artifact(event.label))
            if code:
                codes[rows[event.channel.upper()], _span(event, sfreq, n_samples)] = code
        return codes

    def __call__(self, ch_names: Sequence[str], sfreq: float, n_samples: int,
                 starts: np.ndarray, n_times: int) -> np.ndarray:
        """int64 labels [W] or [W, C] of the windows at ``starts`` (see the class)."""
        codes = self.sample_codes(ch_names, sfreq, n_samples)
        # [W, C, n_times]; a view, nothing is copied
        windows = np.lib.stride_tricks.sliding_window_view(codes, n_times, axis=1)[:, starts]
        windows = windows.transpose(1, 0, 2)
        if self.mode == "binary":
            return (windows.any(axis=1).mean(axis=-1) >= self.threshold).astype(np.int64)
        if self.mode == "per_channel":
            return (windows.mean(axis=-1) >= self.threshold).astype(np.int64)
        types = range(1, len(TUAR_ARTIFACT_TYPES) + 1)
        if self.mode == "window_type":  # [W, types]: samples where a type is on any channel
            counts = np.stack([(windows == code).any(axis=1).sum(axis=-1) for code in types],
                              axis=-1)
        else:  # [W, C, types]
            counts = np.stack([(windows == code).sum(axis=-1) for code in types], axis=-1)
        best = counts.argmax(axis=-1)  # the type covering most; ties to the lower
        covered = np.take_along_axis(counts, best[..., None], axis=-1)[..., 0] / n_times
        return np.where(covered >= self.threshold, best + 1, 0).astype(np.int64)


@dataclass(frozen=True)
class TUSLLabels:
    """TUSL's window labels (a :class:`~tsssm.data.eeg.reading.WindowLabeller`): every event
    of ``classes`` is laid on the samples it covers (any channel, later rows over earlier
    ones), and a window takes the most frequent class of its samples (0 where no event
    covers them; ties to the lower class). int64 [W]."""

    events: tuple[TUHEvent, ...]
    classes: Mapping[str, int] | None = None

    def __call__(self, ch_names: Sequence[str], sfreq: float, n_samples: int,
                 starts: np.ndarray, n_times: int) -> np.ndarray:
        """int64 labels [W] of the windows at ``starts``."""
        classes = TUSL_CLASSES if self.classes is None else self.classes
        codes = np.zeros(n_samples, dtype=np.int64)
        for event in self.events:
            code = classes.get(event.label, 0)
            if code:
                codes[_span(event, sfreq, n_samples)] = code
        windows = np.lib.stride_tricks.sliding_window_view(codes, n_times)[starts]  # [W, T]
        n_classes = max(classes.values(), default=0) + 1
        counts = np.stack([(windows == code).sum(axis=-1) for code in range(n_classes)],
                          axis=-1)
        return counts.argmax(axis=-1).astype(np.int64)


def _edf_root(root: str | Path, corpus: str) -> Path:
    """The corpus' ``edf`` folder: ``root`` itself, or ``root/edf``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{corpus}: {root} is not a folder")
    return root / "edf" if (root / "edf").is_dir() else root


def _tuh_recording(path: Path, label: int | None = None,
                   window_labels: TUARLabels | TUSLLabels | None = None) -> EEGRecording:
    """One TUH EDF file, not preloaded, channels renamed to their 10-05 spelling."""
    raw = read_raw(path)
    renamed = standard_channel_names(raw.ch_names)
    if renamed:
        raw.rename_channels(renamed, verbose="error")
    name = path.name.removesuffix(".edf")
    return EEGRecording(raw, name, name.split("_")[0], label, path, window_labels)


def _chosen(files: list[Path], subjects: Iterable[str] | None, where: str) -> list[Path]:
    """The ``files`` of ``subjects`` (all when None), by file name (so by subject and
    session); DataError if there is none or a subject is missing."""
    if not files:
        raise DataError(f"no .edf files in {where}")
    if subjects is not None:
        wanted = set(subjects)
        missing = sorted(wanted - {path.name.split("_")[0] for path in files})
        if missing:
            raise DataError(f"subjects {missing} not found in {where}")
        files = [path for path in files if path.name.split("_")[0] in wanted]
    return sorted(files, key=lambda path: (path.name, str(path)))


def load_tuab(root: str | Path, split: Literal["train", "eval"] = "train",
              subjects: Iterable[str] | None = None) -> list[EEGRecording]:
    """TUAB's recordings of one split, labelled normal 0 / abnormal 1 by their folder.

    Args:
        root: the ``edf`` folder (``.../tuh_eeg_abnormal/v3.0.1/edf``) or the one holding it:
            ``train/`` and ``eval/`` hold ``normal/`` and ``abnormal/``, each with the
            montage folder ``01_tcp_ar/`` of EDF files (any depth below is searched).
        split: ``"train"`` or ``"eval"`` (the paper's test set; FEMBA's validation set is a
            share of the training subjects: ``subject_split``).
        subjects: subject ids (``"aaaaaaav"``) to keep; default all.

    Raises:
        DataError: a missing folder, no EDF file, an unknown subject, an unreadable file.
    """
    if split not in TUAB_SPLITS:
        raise DataError(f"load_tuab: split must be one of {list(TUAB_SPLITS)}, got {split!r}")
    base = _edf_root(root, "TUAB") / split
    files, labels = [], {}
    for label, name in enumerate(TUAB_CLASSES):
        folder = base / name
        if not folder.is_dir():
            raise DataError(f"TUAB: no folder {folder} (expected {split}/normal and "
                            f"{split}/abnormal under {base.parent})")
        for path in folder.rglob("*.edf"):
            files.append(path)
            labels[path] = label
    return [_tuh_recording(path, labels[path]) for path in _chosen(files, subjects, str(base))]


def load_tuar(root: str | Path, mode: TUARMode = "binary",
              montages: Sequence[str] = TUAR_MONTAGES, subjects: Iterable[str] | None = None,
              threshold: float = TUAR_THRESHOLD) -> list[EEGRecording]:
    """TUAR's recordings, each with its window labeller (windows: ``labels="windows"``).

    Args:
        root: the ``edf`` folder (``.../tuh_eeg_artifact/v3.0.1/edf``) or the one holding it,
            with the montage folders of ``<name>.edf`` and ``<name>.csv`` pairs.
        mode: ``"binary"``, ``"per_channel"``, ``"per_type"`` or ``"window_type"`` (see
            :class:`TUARLabels`).
        montages: the montage folders to read (FEMBA: the two with ear electrodes).
        subjects: subject ids to keep; default all.
        threshold: the fraction of a window an artifact must cover.

    Raises:
        DataError: a missing montage folder or annotation file, a malformed annotation, no
            EDF file, an unknown subject or mode.
    """
    if mode not in TUAR_MODES:
        raise DataError(f"load_tuar: unknown mode {mode!r}; modes: {list(TUAR_MODES)}")
    base = _edf_root(root, "TUAR")
    files = []
    for montage in montages:
        folder = base / montage
        if not folder.is_dir():
            raise DataError(f"TUAR: no montage folder {folder}")
        files += folder.glob("*.edf")
    chosen = _chosen(files, subjects, str(base))
    return [_tuh_recording(path, window_labels=TUARLabels(
        read_tuh_csv(path.with_suffix(".csv")), mode, threshold, str(path)))
        for path in chosen]


def load_tusl(root: str | Path, subjects: Iterable[str] | None = None,
              classes: Mapping[str, int] | None = None) -> list[EEGRecording]:
    """TUSL's recordings, each with its window labeller (windows: ``labels="windows"``).

    Args:
        root: the ``edf`` folder (``.../tuh_eeg_slowing/v2.0.1/edf``) or the one holding it:
            ``<subject>/<session>/<montage>/<name>.edf`` with ``<name>.csv``.
        subjects: subject ids to keep; default all.
        classes: {event label: class}, default :data:`TUSL_CLASSES` (0 is no event).

    Raises:
        DataError: a missing annotation file, a malformed one, no EDF file, an unknown
            subject.
    """
    base = _edf_root(root, "TUSL")
    chosen = _chosen(list(base.rglob("*.edf")), subjects, str(base))
    return [_tuh_recording(path, window_labels=TUSLLabels(
        read_tuh_csv(path.with_suffix(".csv")), classes)) for path in chosen]
