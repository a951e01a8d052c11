"""The ``[data]`` table of each recipe task: its dataclass, the model options it sets, and
its checks. ``config.py`` reads a recipe through :data:`TASKS`; a recipe class registers its
task's spec here.

    forecasting  ForecastingDataConfig  a series (bundled "ETTh1" or a CSV/Parquet file)
    phase        PhaseDataConfig        labelled recordings (bundled "cholec80" or "sleep_edf",
                                        or a folder in one of those layouts)
    eeg          EEGDataConfig          EEG windows to classify (bundled "mental_arithmetic",
                                        "bonn", "eegmmidb", or a folder in one of those
                                        layouts); models of task "classification"
    eeg_pretrain EEGPretrainDataConfig  unlabelled EEG windows of the training subjects (and
                                        of other bundled sets); models of task "pretraining"
    classification UCRDataConfig        a UCR/UEA classification problem (bundled "ECG200",
                                        one aeon ships, or a folder of _TRAIN/_TEST files)
    anomaly      AnomalyDataConfig      a labelled series with an anomaly-free training prefix
                                        (bundled "KDD-TSAD_135", "mitdb", "yahoo", or a
                                        CSV/UCR-archive file); models of task "reconstruction"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsssm.data import (
    BUNDLED_FOLDER_SHA256,
    BUNDLED_SHA256,
    FILL_CHOICES,
    list_anomaly,
    list_ucr,
)
from tsssm.data.eeg import (
    BAD_CHANNEL_CHOICES,
    BONN_SETS,
    EEGMMIDB_EVENT_MAP,
    MENTAL_ARITHMETIC_CLASSES,
    PRESETS,
    Preprocessing,
)
from tsssm.data.series import DataError

from ._schema import Context
from .augmentation import SignalAugmentation

SPLITS = ("auto", "ett", "ratio")
EEG_LAYOUTS = ("mental_arithmetic", "bonn", "eegmmidb")
PHASE_LAYOUTS = ("cholec80", "sleep_edf")
CHOLEC80_INPUTS = ("tools", "features", "both")
RAGGED_CHOICES = ("error", "pad", "truncate")
THRESHOLD_METHODS = ("quantile", "mean_std")


@dataclass(frozen=True)
class TaskSpec:
    """How a task's ``[data]`` table is read.

    Attributes:
        data_cls: the dataclass of the table; it has a ``dataset`` field (a bundled name or
            a path, relative to the recipe file).
        derived: model options the recipe sets from the data (never from the recipe file).
        bundled: names ``dataset`` may take without being a path.
        path_kind: what a ``dataset`` path must be: ``"file"`` or ``"dir"``.
        validate: further checks of a built table (raise ``ctx.error``).
        model_task: the registry task of the task's models (``tsssm.models.list_models``);
            empty: the task's own name.
    """

    data_cls: type
    derived: tuple[str, ...]
    bundled: frozenset[str]
    path_kind: str
    validate: Callable[[Any, Context], None]
    model_task: str = ""


@dataclass
class ForecastingDataConfig:
    """The series and its windows (see ``tsssm.data.ForecastingData.from_file``)."""

    dataset: str  # a bundled data set ("ETTh1") or the path of a CSV/Parquet file
    lookback: int = 96
    horizon: int = 96
    split: str = "auto"
    fill: str = "none"
    scale: bool = True
    time_features: bool = True  # feed calendar features to the model (x_mark)
    date_column: str = "date"
    columns: list[str] | None = None


@dataclass
class PhaseDataConfig:
    """Labelled recordings for phase recognition (surgical phases, sleep stages).

    ``dataset`` is ``"cholec80"`` or ``"sleep_edf"`` (bundled) or a folder laid out like one
    of them (``layout`` says which). ``train``/``val``/``test`` list video numbers (Cholec80)
    or subject numbers (Sleep-EDF); empty lists keep the loader's standard split. The targets
    are the phase, its progress and (when ``video_progress_weight > 0``) the elapsed fraction
    of the recording; the weights are those of the L1 progress terms beside cross-entropy.
    """

    dataset: str = "cholec80"
    layout: str = ""  # "cholec80" or "sleep_edf"; set from a bundled name
    inputs: str = "tools"  # Cholec80: "tools", "features" or "both"
    features_dir: str | None = None  # Cholec80: one [frames, F] array per video
    fps: float = 1.0  # Cholec80: steps per second of the sequences
    features_fps: float = 1.0
    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)
    progress_weight: float = 1.0
    video_progress_weight: float = 0.0


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

    def chain(self) -> Preprocessing:
        """The preprocessing chain (a preset's, or the listed steps)."""
        if isinstance(self.preprocessing, str):
            return PRESETS[self.preprocessing].preprocessing
        return Preprocessing.from_config(self.preprocessing)


@dataclass
class EEGDataConfig(EEGWindowsConfig):
    """EEG window classification: :class:`EEGWindowsConfig` plus labels, augmentation and a
    pre-trained start.

    Labels: mental arithmetic is rest (0) vs arithmetic (1), from the recordings.
    ``label_map`` maps Bonn set letters (only the sets listed are loaded; default: each set
    its own class) or EEGMMIDB annotations (default: T0 rest, T1, T2) to classes 0..K-1;
    ``class_names`` names the K classes (default: the keys of each class joined by "+").
    ``augment`` lists MONAI signal transforms applied to training windows
    (``{name = "SignalRandScale", prob = 0.5, boundaries = [0.9, 1.1]}``, see
    ``tsssm.recipes.augmentation``). ``pretrained`` is a pre-training checkpoint (``.ckpt``)
    or an ``eeg_pretrain`` run folder (relative to the recipe file) whose encoder starts the
    main model (the baselines train from scratch); ``freeze_encoder`` then trains its head
    only.
    """

    label_map: dict = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    augment: list[dict] = field(default_factory=list)
    pretrained: str | None = None
    freeze_encoder: bool = False


@dataclass
class EEGPretrainDataConfig(EEGWindowsConfig):
    """Masked-reconstruction pre-training: unlabelled windows of the ``train`` subjects of
    :class:`EEGWindowsConfig`'s split (``val`` picks the best checkpoint, ``test`` scores the
    held-out reconstruction), plus every recording of the bundled ``extra_datasets``, all
    through one preprocessing chain that must bring them to the same channels and rate."""

    extra_datasets: list[str] = field(default_factory=list)


@dataclass
class UCRDataConfig:
    """A UCR/UEA time-series classification problem (see ``tsssm.data.load_ucr``).

    ``dataset`` is ``"ECG200"`` (bundled), a problem aeon ships (``"GunPoint"``, ...), or a
    folder holding ``<folder name>_TRAIN`` and ``_TEST`` files. The validation cases are
    ``val_fraction`` of the TRAIN file, drawn per class (stratified) with ``split_seed``; the
    TEST file is only ever used for the test. ``ragged`` handles series of different lengths
    (``"error"``, ``"pad"`` with NaN, which the models cannot take, or ``"truncate"``);
    ``znormalize`` standardises every series of every case by its own mean and std.
    """

    dataset: str = "ECG200"
    val_fraction: float = 0.2
    split_seed: int = 0
    ragged: str = "error"
    znormalize: bool = False


@dataclass
class AnomalyDataConfig:
    """A labelled series for reconstruction-based anomaly detection (see
    ``tsssm.data.load_anomaly``).

    ``dataset`` is ``"KDD-TSAD_135"``, ``"mitdb"``, ``"yahoo"`` (shipped with aeon/sktime) or
    a ``.csv``/UCR anomaly archive ``.txt`` file. Steps ``[0, train_end)`` are the
    anomaly-free training prefix (``train_end``: the series' own when it defines one, which
    KDD-TSAD and archive files do; required otherwise); the last ``val_fraction`` of it
    picks the best checkpoint; the steps from ``train_end`` on are the test. Models see
    windows of ``window`` steps, ``stride`` apart for training and ``score_stride`` apart
    for scoring. The threshold comes from the scores of the training prefix only:
    ``threshold = "quantile"`` (their ``quantile``) or ``"mean_std"`` (mean + ``k`` std).
    """

    dataset: str = "KDD-TSAD_135"
    train_end: int | None = None
    window: int = 64
    stride: int = 1
    score_stride: int = 1
    val_fraction: float = 0.2
    threshold: str = "quantile"
    quantile: float = 0.99
    k: float = 3.0


def _validate_forecasting(data: ForecastingDataConfig, ctx: Context) -> None:
    for key in ("lookback", "horizon"):
        if getattr(data, key) < 1:
            raise ctx.error(f"data.{key}", f"data.{key} must be at least 1")
    if data.fill not in FILL_CHOICES:
        raise ctx.error("data.fill", f"data.fill must be one of {list(FILL_CHOICES)}, "
                                     f"not {data.fill!r}")
    if data.split not in SPLITS:
        raise ctx.error("data.split", f"data.split must be one of {list(SPLITS)}, "
                                      f"not {data.split!r}")


def _validate_phase(data: PhaseDataConfig, ctx: Context) -> None:
    if data.dataset in PHASE_LAYOUTS:
        if data.layout not in ("", data.dataset):
            raise ctx.error("data.layout", f"data.layout {data.layout!r} contradicts the "
                                           f"bundled data set {data.dataset!r}")
        data.layout = data.dataset
    elif data.layout not in PHASE_LAYOUTS:
        raise ctx.error("data.layout", f"data.layout must be one of {list(PHASE_LAYOUTS)} for "
                                       f"the folder {data.dataset}, not {data.layout!r}")
    if data.inputs not in CHOLEC80_INPUTS:
        raise ctx.error("data.inputs", f"data.inputs must be one of {list(CHOLEC80_INPUTS)}, "
                                       f"not {data.inputs!r}")
    if data.inputs != "tools" and data.features_dir is None:
        raise ctx.error("data.features_dir", f"data.inputs = {data.inputs!r} needs "
                                             "data.features_dir (one array per video)")
    for key in ("fps", "features_fps"):
        if not getattr(data, key) > 0:
            raise ctx.error(f"data.{key}", f"data.{key} must be positive")
    for key in ("progress_weight", "video_progress_weight"):
        if getattr(data, key) < 0:
            raise ctx.error(f"data.{key}", f"data.{key} must not be negative")
    parts = {key: set(getattr(data, key)) for key in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = parts[a] & parts[b]
        if shared:
            raise ctx.error(f"data.{b}", f"data.{a} and data.{b} share {sorted(shared)}: a "
                                         "video (subject) belongs to one part only")


def _resolve_path(value: str, key: str, ctx: Context) -> str:
    """A path of the recipe, relative to the recipe file (or to the working directory when
    it comes from an override), made absolute."""
    path = Path(value).expanduser()
    recipe = Path(ctx.source)
    if not path.is_absolute() and key not in ctx.origins and recipe.is_file():
        path = recipe.parent / path
    return str(path.resolve())


def _validate_eeg_windows(data: EEGWindowsConfig, ctx: Context) -> None:
    if data.dataset in EEG_LAYOUTS:
        if data.layout not in ("", data.dataset):
            raise ctx.error("data.layout", f"data.layout {data.layout!r} contradicts the "
                                           f"bundled data set {data.dataset!r}")
        data.layout = data.dataset
    elif data.layout not in EEG_LAYOUTS:
        raise ctx.error("data.layout", f"data.layout must be one of {list(EEG_LAYOUTS)} for "
                                       f"the folder {data.dataset}, not {data.layout!r}")
    if isinstance(data.preprocessing, str) and data.preprocessing not in PRESETS:
        raise ctx.error("data.preprocessing", f"data.preprocessing: unknown preset "
                                              f"{data.preprocessing!r}; presets: "
                                              f"{sorted(PRESETS)} (or give a list of steps)")
    try:
        data.chain()
    except DataError as error:
        raise ctx.error("data.preprocessing", f"data.preprocessing: {error}") from None
    if not data.window_s > 0:
        raise ctx.error("data.window_s", "data.window_s must be positive")
    if data.stride_s is not None and not data.stride_s > 0:
        raise ctx.error("data.stride_s", "data.stride_s must be positive")
    if data.bad_channels not in BAD_CHANNEL_CHOICES:
        raise ctx.error("data.bad_channels", f"data.bad_channels must be one of "
                                             f"{list(BAD_CHANNEL_CHOICES)}, not "
                                             f"{data.bad_channels!r}")
    _validate_subject_split(data, ctx)
    if data.cache_dir is not None:
        data.cache_dir = _resolve_path(data.cache_dir, "data.cache_dir", ctx)


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


def _default_label_map(layout: str) -> dict[str, int]:
    if layout == "bonn":
        return {letter: number for number, letter in enumerate(BONN_SETS)}
    return dict(EEGMMIDB_EVENT_MAP) if layout == "eegmmidb" else {}


def _validate_eeg(data: EEGDataConfig, ctx: Context) -> None:
    _validate_eeg_windows(data, ctx)
    if data.layout == "mental_arithmetic":
        if data.label_map:
            raise ctx.error("data.label_map", "data.label_map: mental arithmetic takes its "
                                              "labels from the recordings (rest 0, "
                                              "arithmetic 1); leave it out")
        classes = list(MENTAL_ARITHMETIC_CLASSES)
    else:
        data.label_map = data.label_map or _default_label_map(data.layout)
        values = list(data.label_map.values())
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ctx.error("data.label_map", f"data.label_map values must be class numbers "
                                              f"(integers), got {data.label_map}")
        if sorted(set(values)) != list(range(max(values, default=-1) + 1)) or len(
                set(values)) < 2:
            raise ctx.error("data.label_map", f"data.label_map must use the classes 0..K-1, "
                                              f"each at least once, K >= 2; got {values}")
        unknown = sorted(set(data.label_map) - set(BONN_SETS))
        if data.layout == "bonn" and unknown:
            raise ctx.error("data.label_map", f"data.label_map: {unknown} are not Bonn sets "
                                              f"{list(BONN_SETS)}")
        classes = ["+".join(k for k, v in data.label_map.items() if v == number)
                   for number in range(max(values) + 1)]
    data.class_names = data.class_names or classes
    if len(data.class_names) != len(classes):
        raise ctx.error("data.class_names", f"data.class_names names {len(data.class_names)} "
                                            f"classes; the labels have {len(classes)}")
    try:
        SignalAugmentation(data.augment)
    except ValueError as error:
        raise ctx.error("data.augment", f"data.{error}") from None
    if data.pretrained is not None:
        data.pretrained = _resolve_path(data.pretrained, "data.pretrained", ctx)
        if not Path(data.pretrained).exists():
            raise ctx.error("data.pretrained", f"data.pretrained: no checkpoint file or run "
                                               f"folder {data.pretrained}")
    elif data.freeze_encoder:
        raise ctx.error("data.freeze_encoder", "data.freeze_encoder needs data.pretrained "
                                               "(an encoder to freeze)")


def _validate_eeg_pretrain(data: EEGPretrainDataConfig, ctx: Context) -> None:
    _validate_eeg_windows(data, ctx)
    unknown = [name for name in data.extra_datasets if name not in EEG_LAYOUTS]
    if unknown:
        raise ctx.error("data.extra_datasets", f"data.extra_datasets: {unknown} are not "
                                               f"bundled EEG sets {list(EEG_LAYOUTS)}")
    if data.dataset in data.extra_datasets:
        raise ctx.error("data.extra_datasets", f"data.extra_datasets repeats data.dataset "
                                               f"{data.dataset!r}: its test subjects must "
                                               "stay out of training")


def _validate_ucr(data: UCRDataConfig, ctx: Context) -> None:
    if not 0 < data.val_fraction < 1:
        raise ctx.error("data.val_fraction", f"data.val_fraction must lie in (0, 1), not "
                                             f"{data.val_fraction}: validation cases come from "
                                             "the TRAIN file, never from TEST")
    if data.ragged not in RAGGED_CHOICES:
        raise ctx.error("data.ragged", f"data.ragged must be one of {list(RAGGED_CHOICES)}, "
                                       f"not {data.ragged!r}")


def _validate_anomaly(data: AnomalyDataConfig, ctx: Context) -> None:
    for key in ("window", "stride", "score_stride"):
        if getattr(data, key) < 1:
            raise ctx.error(f"data.{key}", f"data.{key} must be at least 1")
    if data.score_stride > data.window:
        raise ctx.error("data.score_stride", f"data.score_stride {data.score_stride} exceeds "
                                             f"data.window {data.window}: some steps would "
                                             "get no score")
    if data.train_end is not None and data.train_end < 1:
        raise ctx.error("data.train_end", "data.train_end must be at least 1")
    if not 0 < data.val_fraction < 1:
        raise ctx.error("data.val_fraction", f"data.val_fraction must lie in (0, 1), not "
                                             f"{data.val_fraction}")
    if data.threshold not in THRESHOLD_METHODS:
        raise ctx.error("data.threshold", f"data.threshold must be one of "
                                          f"{list(THRESHOLD_METHODS)}, not {data.threshold!r}")
    if not 0 < data.quantile < 1:
        raise ctx.error("data.quantile", f"data.quantile must lie in (0, 1), not "
                                         f"{data.quantile}")
    if not data.k > 0:
        raise ctx.error("data.k", f"data.k must be positive, not {data.k}")


TASKS: dict[str, TaskSpec] = {
    "forecasting": TaskSpec(
        ForecastingDataConfig, ("lookback", "horizon", "n_variates", "n_time_features"),
        frozenset(name.removesuffix(".csv") for name in BUNDLED_SHA256), "file",
        _validate_forecasting,
    ),
    "phase": TaskSpec(
        PhaseDataConfig, ("n_inputs", "n_phases", "predict_video_progress"),
        frozenset(PHASE_LAYOUTS) & frozenset(BUNDLED_FOLDER_SHA256), "dir", _validate_phase,
    ),
    "eeg": TaskSpec(
        EEGDataConfig, ("n_chans", "n_times", "n_outputs"), frozenset(EEG_LAYOUTS), "dir",
        _validate_eeg, model_task="classification",
    ),
    "eeg_pretrain": TaskSpec(
        EEGPretrainDataConfig, ("n_chans", "n_times"), frozenset(EEG_LAYOUTS), "dir",
        _validate_eeg_pretrain, model_task="pretraining",
    ),
    "classification": TaskSpec(
        UCRDataConfig, ("n_chans", "n_times", "n_outputs"), frozenset(list_ucr()), "dir",
        _validate_ucr,
    ),
    "anomaly": TaskSpec(
        AnomalyDataConfig, ("n_chans", "n_times"), frozenset(list_anomaly()), "file",
        _validate_anomaly, model_task="reconstruction",
    ),
}


def resolve_dataset(dataset: str, spec: TaskSpec, base_dir: str | Path | None,
                    from_override: bool) -> str:
    """A bundled name stays a name; a relative path becomes absolute (relative to the recipe
    file, or to the working directory when it comes from a ``--set`` override)."""
    if dataset in spec.bundled:
        return dataset
    path = Path(dataset).expanduser()
    if not path.is_absolute() and base_dir is not None and not from_override:
        path = Path(base_dir) / path
    return str(path.resolve())
