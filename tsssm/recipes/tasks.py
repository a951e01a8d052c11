"""The ``[data]`` table of each recipe task: its dataclass, the model options it sets, and
its checks. ``config.py`` reads a recipe through :data:`TASKS`; a recipe class registers its
task's spec here.

    forecasting  ForecastingDataConfig  a series (bundled "ETTh1" or a CSV/Parquet file)
    phase        PhaseDataConfig        labelled recordings (bundled "cholec80" or "sleep_edf",
                                        or a folder in one of those layouts)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsssm.data import BUNDLED_FOLDER_SHA256, BUNDLED_SHA256, FILL_CHOICES

from ._schema import Context

SPLITS = ("auto", "ett", "ratio")
PHASE_LAYOUTS = ("cholec80", "sleep_edf")
CHOLEC80_INPUTS = ("tools", "features", "both")


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
    """

    data_cls: type
    derived: tuple[str, ...]
    bundled: frozenset[str]
    path_kind: str
    validate: Callable[[Any, Context], None]


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
