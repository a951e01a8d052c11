"""What the two EEG tasks (``eeg_classification``, ``eeg_pretraining``) share: the
``[data]`` fields of recordings, preprocessing, windows and the subject split, their checks,
and loading windows as those fields say.

EEG data and MNE load only when a recipe runs (``tsssm.data.eeg`` is reached lazily).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import tsssm.data.eeg as eeg_data
from tsssm.data.series import DataError
from tsssm.recipes._schema import Context, resolve_layout

if TYPE_CHECKING:
    from tsssm.data.eeg import EEGRecording, EEGSplit, EEGWindows

EEG_LAYOUTS = ("mental_arithmetic", "bonn", "eegmmidb")  # bundled, or a folder like them
# The TUH corpora FEMBA reports on, read from a folder in TUH's layout (never bundled: TUH's
# licence forbids redistribution). TUAB's eval folder is the test; TUAR is read in the mode of
# the classification protocol (TUAR_MODES).
TUH_LAYOUTS = ("tuab", "tuar", "tusl")
# How each layout's windows get their labels (``EEGWindows.from_recordings(labels=...)``).
WINDOW_LABELS = {"mental_arithmetic": "recording", "bonn": "recording", "tuab": "recording",
                 "eegmmidb": "annotations", "tuar": "windows", "tusl": "windows"}
# FEMBA's TUAR protocols (BioFoundation's ``classification_type``) -> the reader's mode:
# artifact per window (bc), per channel (mc), artifact type per channel (mmc), artifact type
# per window (mcc).
TUAR_MODES = {"bc": "binary", "mc": "per_channel", "mmc": "per_type", "mcc": "window_type"}


@dataclass
class EEGWindowsConfig:
    """Recordings, preprocessing, windows and the subject split of an EEG recipe.

    ``dataset`` is ``"mental_arithmetic"``, ``"bonn"`` or ``"eegmmidb"`` (bundled, see
    ``datasets/eeg/``) or a folder laid out like one of them (``layout`` says which).
    ``preprocessing`` is a list of steps (``{step = "filter", l_freq = 1.0, h_freq = 40.0}``,
    see ``tsssm.data.eeg.preprocessing``) or a preset name (``"femba_tuh"``: its chain only,
    the window length is this table's). Windows are ``window_s`` long every ``stride_s``
    (default: ``window_s``). The split is by subject: ``train``/``val``/``test`` subject lists
    (subjects listed nowhere are left out), or ``fractions`` = [train, val, test] shares of the
    subjects, shuffled with ``split_seed``. Bonn publishes no subjects: a segment is its own
    subject there, so its split is by segment. ``bad_channels`` handles NaN or flat channels
    (``"raise"``, ``"drop"``, ``"interpolate"``); ``cache_dir`` keeps preprocessed recordings
    on disk (relative to the recipe file).
    """

    dataset: str = "mental_arithmetic"
    layout: str = ""  # "mental_arithmetic", "bonn" or "eegmmidb"; set from a bundled name
    preprocessing: list[dict] | str = field(default_factory=list)
    window_s: float = 4.0
    stride_s: float | None = None
    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    split_seed: int = 0
    bad_channels: str = "raise"
    cache_dir: str | None = None

    def chain(self) -> eeg_data.Preprocessing:
        """The preprocessing chain (a preset's, or the listed steps)."""
        if isinstance(self.preprocessing, str):
            return eeg_data.PRESETS[self.preprocessing].preprocessing
        return eeg_data.Preprocessing.from_config(self.preprocessing)


def resolve_path(value: str, key: str, ctx: Context) -> str:
    """A path of the recipe, relative to the recipe file (or to the working directory when
    it comes from an override), made absolute."""
    path = Path(value).expanduser()
    recipe = Path(ctx.source)
    if not path.is_absolute() and key not in ctx.origins and recipe.is_file():
        path = recipe.parent / path
    return str(path.resolve())


def validate_eeg_windows(data: EEGWindowsConfig, ctx: Context) -> None:
    resolve_layout(data, (*EEG_LAYOUTS, *TUH_LAYOUTS), ctx)
    if isinstance(data.preprocessing, str) and data.preprocessing not in eeg_data.PRESETS:
        raise ctx.error("data.preprocessing", f"data.preprocessing: unknown preset "
                                              f"{data.preprocessing!r}; presets: "
                                              f"{sorted(eeg_data.PRESETS)} (or give a list of "
                                              "steps)")
    try:
        data.chain()
    except DataError as error:
        raise ctx.error("data.preprocessing", f"data.preprocessing: {error}") from None
    if not data.window_s > 0:
        raise ctx.error("data.window_s", "data.window_s must be positive")
    if data.stride_s is not None and not data.stride_s > 0:
        raise ctx.error("data.stride_s", "data.stride_s must be positive")
    if data.bad_channels not in eeg_data.BAD_CHANNEL_CHOICES:
        raise ctx.error("data.bad_channels", f"data.bad_channels must be one of "
                                             f"{list(eeg_data.BAD_CHANNEL_CHOICES)}, not "
                                             f"{data.bad_channels!r}")
    if data.layout == "tuab":
        _validate_tuab_split(data, ctx)
    else:
        _validate_subject_split(data, ctx)
    if data.cache_dir is not None:
        data.cache_dir = resolve_path(data.cache_dir, "data.cache_dir", ctx)


def _validate_tuab_split(data: EEGWindowsConfig, ctx: Context) -> None:
    """TUAB's test is its eval folder: the config splits the train folder's subjects only,
    by lists ``train``/``val`` or ``fractions = [train, val]``."""
    if data.test:
        raise ctx.error("data.test", "data.test: TUAB's test is its eval folder; list only "
                                     "data.train and data.val (train-folder subjects)")
    if data.fractions:
        if data.train or data.val:
            raise ctx.error("data.fractions", "give data.fractions or the subject lists "
                                              "data.train/val, not both")
        shares = data.fractions
        if len(shares) != 2 or min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
            raise ctx.error("data.fractions", f"data.fractions for TUAB must be two shares "
                                              f"[train, val] > 0 of the train folder's "
                                              f"subjects, summing to 1, not {shares}")
    elif not (data.train and data.val):
        raise ctx.error("data.train", "TUAB: give data.fractions = [train, val] or the "
                                      "subject lists data.train and data.val")


def _validate_subject_split(data: EEGWindowsConfig, ctx: Context) -> None:
    listed = data.train or data.val or data.test
    if data.fractions:
        if listed:
            raise ctx.error("data.fractions", "give data.fractions or the subject lists "
                                              "data.train/val/test, not both")
        shares = data.fractions
        if len(shares) != 3 or min(shares) < 0 or abs(sum(shares) - 1) > 1e-6:
            raise ctx.error("data.fractions", f"data.fractions must be three shares "
                                              f"[train, val, test] >= 0 summing to 1, not "
                                              f"{shares}")
        return
    for key in ("train", "val", "test"):
        if not getattr(data, key):
            raise ctx.error(f"data.{key}", f"data.{key} lists no subject: give subject lists "
                                           "data.train, data.val and data.test, or "
                                           "data.fractions")
    parts = {key: set(getattr(data, key)) for key in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = parts[a] & parts[b]
        if shared:
            raise ctx.error(f"data.{b}", f"data.{a} and data.{b} share {sorted(shared)}: a "
                                         "subject belongs to one part only")


def load_recordings(layout: str, dataset: str, label_map: dict[str, int] | None = None,
                    classification_type: str = "bc") -> list[EEGRecording]:
    """The recordings of a bundled set (``dataset == layout``) or of a folder in that
    layout. Bonn loads the sets of ``label_map`` (set letter -> class; default: all five,
    each its own class); TUAR is labelled for ``classification_type`` (:data:`TUAR_MODES`)."""
    data_dir = None if dataset == layout else dataset
    if layout == "mental_arithmetic":
        return eeg_data.load_mental_arithmetic(data_dir)
    if layout == "bonn":
        sets = list(label_map) if label_map else list(eeg_data.BONN_SETS)
        return eeg_data.load_bonn(data_dir, sets=sets, classes=label_map or None)
    if layout == "eegmmidb":
        return eeg_data.load_eegmmidb(data_dir)
    if layout == "tuab":
        return eeg_data.load_tuab(dataset, "train") + eeg_data.load_tuab(dataset, "eval")
    if layout == "tuar":
        return eeg_data.load_tuar(dataset, mode=TUAR_MODES[classification_type])
    if layout == "tusl":
        return eeg_data.load_tusl(dataset)
    raise DataError(f"unknown EEG layout {layout!r}")


def tuab_eval_subjects(recordings: list[EEGRecording]) -> set[str]:
    """The subjects of TUAB's eval folder (the test) among ``recordings``."""
    return {r.subject for r in recordings if "eval" in Path(r.source).parts}


def listed_subjects(data: EEGWindowsConfig, recordings: list[EEGRecording]
                    ) -> list[EEGRecording]:
    """With subject lists, only the recordings of listed subjects (the others would be
    preprocessed for nothing); with fractions, all.

    Raises:
        DataError: a listed subject has no recording.
    """
    if data.fractions or data.layout == "tuab":  # TUAB: every eval recording is a test one
        return recordings
    listed = {*data.train, *data.val, *data.test}
    known = {r.subject for r in recordings}
    unknown = sorted(listed - known)
    if unknown:
        raise DataError(f"data: subjects {unknown} have no recording in {data.dataset}; "
                        f"subjects: {sorted(known)}")
    return [r for r in recordings if r.subject in listed]


def make_windows(data: EEGWindowsConfig, recordings: list[EEGRecording], labels: str | None,
                 event_map: dict[str, int] | None = None) -> EEGWindows:
    """Windows of ``recordings`` as ``data`` configures them (chain, lengths, bad channels,
    cache)."""
    return eeg_data.EEGWindows.from_recordings(
        recordings, window_s=data.window_s, stride_s=data.stride_s, labels=labels,
        event_map=event_map, preprocessing=data.chain(), bad_channels=data.bad_channels,
        cache_dir=data.cache_dir,
    )


def split_windows(data: EEGWindowsConfig, windows: EEGWindows,
                  test_subjects: set[str] | None = None) -> EEGSplit:
    """``windows`` split by subject: the lists of ``data``, or its fractions; with
    ``test_subjects`` (TUAB's eval folder) those are the test and the rest is split into
    train and val."""
    if test_subjects is not None:
        return _split_with_test(data, windows, test_subjects)
    if data.fractions:
        return eeg_data.subject_split(windows, fractions=tuple(data.fractions),
                                      seed=data.split_seed)
    return eeg_data.subject_split(windows, data.train, data.val, data.test)


def _split_with_test(data: EEGWindowsConfig, windows: EEGWindows,
                     test_subjects: set[str]) -> EEGSplit:
    """Train/val from the subjects outside ``test_subjects`` (lists, or two shares shuffled
    with ``split_seed``), the test from ``test_subjects``."""
    rest = sorted(set(windows.metadata["subject"].to_list()) - test_subjects)
    if data.fractions:
        order = np.random.default_rng(data.split_seed).permutation(len(rest))
        n_train = min(max(round(data.fractions[0] * len(rest)), 1), len(rest) - 1)
        if len(rest) < 2:
            raise DataError(f"data: {len(rest)} training subject(s) cannot fill both train "
                            "and val")
        train = [rest[i] for i in order[:n_train]]
        val = [rest[i] for i in order[n_train:]]
    else:
        train, val = list(data.train), list(data.val)
    return eeg_data.subject_split(windows, train, val, sorted(test_subjects))
