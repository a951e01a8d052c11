"""Cholec80 surgical phase recognition (Twinanda et al., EndoNet, IEEE TMI 2017).

Annotation files, as published (any frame rate):

- ``videoNN-phase*.txt``: tab-separated ``Frame`` and ``Phase`` (a phase *name*); frames count
  video frames at 25 fps: every frame in the original files, 0, 25, 50, ... in the 1-fps ones.
- ``videoNN-tool*.txt``: ``Frame`` (every 25 frames) and 7 binary tool-presence columns.

Both are resampled to ``fps`` (default 1): sample k lies at video frame ``25 k / fps`` and takes
the label (tools) of the last annotated frame at or before it. Inputs are tool presence,
per-frame features (one array per video: ``.npy``, ``.npz`` or Parquet, frames x features at
``features_fps``), or both, concatenated.

Shapes: T samples of a video at ``fps``, F input features.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from ._bundled import BundledFolder, bundled_folder, verified_path
from .phase import PhaseSequence, PhaseSplit, split_by_group
from .phase_names import CHOLEC80_PHASES
from .series import PARQUET_SUFFIXES, DataError, check_float32_range, unreadable

CHOLEC80_TOOLS = (
    "Grasper",
    "Bipolar",
    "Hook",
    "Scissors",
    "Clipper",
    "Irrigator",
    "SpecimenBag",
)
CHOLEC80_VIDEO_FPS = 25.0  # frame rate of the videos, the unit of the ``Frame`` columns
MAX_LENGTH_GAP = 2  # samples (at the target fps) by which inputs and labels may differ
FEATURE_SUFFIXES = (".npy", ".npz", *PARQUET_SUFFIXES)
INPUT_CHOICES = ("tools", "features", "both")
_ANNOTATION = re.compile(r"video(\d+)-(phase|tool).*\.txt")
_EPS = 1e-6  # guards the frame positions of non-integer sampling steps against rounding down

Inputs = Literal["tools", "features", "both"]


def load_cholec80(
    root: str | Path | None = None,
    videos: int | str | Iterable[int | str] | None = None,
    inputs: Inputs = "tools",
    features_dir: str | Path | None = None,
    fps: float = 1.0,
    features_fps: float = 1.0,
) -> list[PhaseSequence]:
    """Load Cholec80 videos as labelled sequences resampled to ``fps``.

    Args:
        root: folder holding the annotation files (searched recursively, so the original
            ``phase_annotations/`` + ``tool_annotations/`` layout works). Default: the bundled
            1-fps labels of videos 01-48 (``datasets/cholec80/``), each file checksum-verified.
        videos: video numbers (``1``) or ids (``"video01"``), or one of them; default: all
            found, sorted.
        inputs: ``"tools"`` (7 binary tool columns), ``"features"`` (the per-frame arrays in
            ``features_dir``) or ``"both"`` (tools, then features).
        features_dir: folder with one array per video named ``videoNN.npy`` / ``.npz`` (a
            single array, or one named ``features``) / ``.parquet`` (numeric columns), each
            [frames, F] sampled at ``features_fps``.
        fps: samples per second of the returned sequences.
        features_fps: samples per second of the feature arrays.

    Sample k lies at video frame ``25 k / fps``, from frame 0 to the last frame of the phase
    file; it takes the phase, tools and features of the last annotated frame (feature row) at
    or before it. Tool and feature files may cover up to ``MAX_LENGTH_GAP`` (2) samples more or
    fewer than the phase file: the extra part is cut, a missing end repeats the last value.

    Returns:
        One ``PhaseSequence`` per video, ``labels`` indexing ``CHOLEC80_PHASES``.

    Raises:
        DataError: a missing or malformed file; the message names the file (and line).
        ChecksumError: a bundled file differs from the one shipped.
    """
    _check_options(inputs, features_dir, fps, features_fps)
    bundle = bundled_folder("cholec80") if root is None else None
    files = _annotation_files(bundle, None if root is None else Path(root))
    where = bundle.root if bundle is not None else root
    if isinstance(videos, int | str):
        videos = [videos]
    numbers = sorted(files) if videos is None else [_video_number(v) for v in videos]
    sequences = []
    for number in numbers:
        if number not in files:
            raise DataError(
                f"no annotation files for video{number:02d} in {where}; "
                f"videos found: {sorted(files)}"
            )
        found = {kind: verified_path(bundle, path) for kind, path in files[number].items()}
        sequences.append(_load_video(number, found, inputs, features_dir, fps, features_fps, where))
    return sequences


def cholec80_split(
    sequences: Iterable[PhaseSequence],
    train: Collection[int | str] = range(1, 33),
    val: Collection[int | str] = range(33, 41),
    test: Collection[int | str] = range(41, 81),
) -> PhaseSplit:
    """Split Cholec80 videos by video number (each video is one patient).

    The default follows the common protocol, 1-40 train and 41-80 test, with 33-40 of the
    training videos held out for validation: train 01-32, val 33-40, test 41-80 (of which the
    bundled data hold 41-48). Videos no part lists are left out.

    Raises:
        DataError: a video in two parts, or a part whose videos were not loaded.
    """
    parts = {
        "train": [_video_number(v) for v in train],
        "val": [_video_number(v) for v in val],
        "test": [_video_number(v) for v in test],
    }
    return split_by_group(list(sequences), lambda s: _video_number(s.id), parts, "videos")


def read_phase_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frames int64 [N] (strictly increasing) and labels int64 [N] (``CHOLEC80_PHASES``
    indices) of a phase annotation file."""
    table = _read_table(path)
    if table.columns != ["Frame", "Phase"]:
        raise DataError(f"{path}: expected the columns ['Frame', 'Phase'], found {table.columns}")
    frames = _frames(path, table["Frame"])
    names = table["Phase"].str.strip_chars()
    unknown = ~names.is_in(CHOLEC80_PHASES)
    if unknown.any():
        i = int(unknown.arg_true()[0])
        raise DataError(
            f"{path}, line {i + 2}: unknown phase {names[i]!r}; known phases: "
            f"{list(CHOLEC80_PHASES)}"
        )
    index = {name: i for i, name in enumerate(CHOLEC80_PHASES)}
    return frames, names.replace_strict(index, return_dtype=pl.Int64).to_numpy()


def read_tool_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frames int64 [N] (strictly increasing) and tool presence float32 [N, 7]
    (``CHOLEC80_TOOLS`` order) of a tool annotation file."""
    table = _read_table(path)
    tools = table.columns[1:]
    if len(tools) != len(CHOLEC80_TOOLS):
        raise DataError(
            f"{path}: {len(tools)} tool columns after 'Frame', expected {len(CHOLEC80_TOOLS)} "
            f"{list(CHOLEC80_TOOLS)}; found {table.columns}"
        )
    if table.columns != ["Frame", *CHOLEC80_TOOLS]:
        raise DataError(
            f"{path}: expected the columns {['Frame', *CHOLEC80_TOOLS]}, found {table.columns}"
        )
    frames = _frames(path, table["Frame"])
    values = table.select(pl.col(tools).str.strip_chars().cast(pl.Int64, strict=False))
    binary = values.select(pl.col(tools).is_in([0, 1]).fill_null(False)).to_numpy()
    if not binary.all():
        i, j = np.argwhere(~binary)[0]
        raise DataError(
            f"{path}, line {i + 2}: tool {tools[j]!r} is {table[tools[j]][int(i)]!r}, not 0 or 1"
        )
    return frames, values.to_numpy().astype(np.float32)


def _check_options(
    inputs: str, features_dir: str | Path | None, fps: float, features_fps: float
) -> None:
    if inputs not in INPUT_CHOICES:
        raise DataError(f"unknown inputs {inputs!r}; choose one of {list(INPUT_CHOICES)}")
    if inputs != "tools" and features_dir is None:
        raise DataError(f'inputs="{inputs}" needs features_dir, a folder of per-video arrays')
    if not (fps > 0 and features_fps > 0):
        raise DataError(f"fps and features_fps must be positive, not {fps} and {features_fps}")


def _video_number(video: int | str) -> int:
    """1 from ``1``, ``"1"``, ``"01"`` or ``"video01"``."""
    if isinstance(video, int | np.integer):
        return int(video)
    match = re.fullmatch(r"(?:video)?(\d+)", str(video))
    if match is None:
        raise DataError(f"not a Cholec80 video: {video!r}; use a number or an id like 'video01'")
    return int(match.group(1))


def _annotation_files(
    bundle: BundledFolder | None, root: Path | None
) -> dict[int, dict[str, Path]]:
    """{video number: {"phase": path, "tool": path}} of the annotation files found."""
    if bundle is not None:
        paths = [bundle.root / name for name in bundle.sums]
    elif root is not None and root.is_dir():
        paths = sorted(root.rglob("video*.txt"))
    else:
        raise DataError(f"Cholec80 folder {root} does not exist")
    files: dict[int, dict[str, Path]] = {}
    for path in paths:
        match = _ANNOTATION.fullmatch(path.name)
        if match is None:
            continue
        number, kind = int(match.group(1)), match.group(2)
        other = files.setdefault(number, {}).setdefault(kind, path)
        if other != path:
            raise DataError(f"two {kind} files for video{number:02d}: {other} and {path}")
    return files


def _load_video(
    number: int,
    files: dict[str, Path],
    inputs: str,
    features_dir: str | Path | None,
    fps: float,
    features_fps: float,
    where: Path | str,
) -> PhaseSequence:
    """One video: labels from its phase file, inputs from tools and/or features."""
    video = f"video{number:02d}"
    if "phase" not in files:
        raise DataError(f"no phase file for {video} in {where} (expected {video}-phase*.txt)")
    frames, phases = read_phase_file(files["phase"])
    steps = _samples(frames[-1] / CHOLEC80_VIDEO_FPS, fps)
    positions = np.arange(steps) * (CHOLEC80_VIDEO_FPS / fps) + _EPS  # video frames
    labels = phases[_previous(frames, positions)]
    columns, names = [], []
    if inputs in ("tools", "both"):
        columns.append(_tool_inputs(video, files, fps, steps, positions, where))
        names += CHOLEC80_TOOLS
    if inputs in ("features", "both"):
        array, feature_names = _feature_inputs(Path(features_dir), video, fps, features_fps, steps)
        columns.append(array)
        names += feature_names
    return PhaseSequence.build(video, np.concatenate(columns, axis=1), labels, fps, names)


def _tool_inputs(
    video: str,
    files: dict[str, Path],
    fps: float,
    steps: int,
    positions: np.ndarray,
    where: Path | str,
) -> np.ndarray:
    """Tool presence float32 [T, 7] at the sample positions (video frames)."""
    if "tool" not in files:
        raise DataError(f"no tool file for {video} in {where} (expected {video}-tool*.txt)")
    frames, tools = read_tool_file(files["tool"])
    covered = _samples(frames[-1] / CHOLEC80_VIDEO_FPS, fps)
    if abs(covered - steps) > MAX_LENGTH_GAP:
        raise DataError(
            f"{files['tool']} covers {covered} samples at {fps:g} fps but {files['phase']} "
            f"covers {steps}: they differ by more than {MAX_LENGTH_GAP}"
        )
    return tools[_previous(frames, positions)]


def _feature_inputs(
    folder: Path, video: str, fps: float, features_fps: float, steps: int
) -> tuple[np.ndarray, list[str]]:
    """Per-frame features float32 [T, F] resampled from ``features_fps`` to ``fps``."""
    candidates = [folder / f"{video}{suffix}" for suffix in FEATURE_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if len(found) != 1:
        what = "no feature file" if not found else f"several feature files {found}"
        expected = [path.name for path in candidates]
        raise DataError(f"{what} for {video} in {folder}; expected one of {expected}")
    path = found[0]
    array, names = _read_features(path)
    covered = _samples((len(array) - 1) / features_fps, fps)
    if abs(covered - steps) > MAX_LENGTH_GAP:
        raise DataError(
            f"{path} has {len(array)} frames at {features_fps:g} fps, {covered} samples at "
            f"{fps:g} fps, but the phase labels of {video} have {steps} samples"
        )
    index = (np.arange(steps) / fps * features_fps + _EPS).astype(np.int64)
    return array[np.minimum(index, len(array) - 1)], names


def _read_features(path: Path) -> tuple[np.ndarray, list[str]]:
    """A feature array float32 [frames, F] and its F column names."""
    array, names = _read_parquet(path) if path.suffix in PARQUET_SUFFIXES else _read_numpy(path)
    if array.ndim != 2 or len(array) == 0:
        raise DataError(f"{path}: expected a [frames, features] array, found shape {array.shape}")
    if not np.isfinite(array).all():
        frame = np.argwhere(~np.isfinite(array))[0][0]
        raise DataError(f"{path}: frame {frame} holds a value that is not finite")
    names = names or [f"feature_{i}" for i in range(array.shape[1])]
    check_float32_range(array, names, str(path), "frame {}".format)
    return array.astype(np.float32), names


def _read_parquet(path: Path) -> tuple[np.ndarray, list[str]]:
    """The numeric columns of a Parquet file as [rows, columns], and their names."""
    try:
        table = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise unreadable(path, error, "Parquet file") from None
    text = [name for name, dtype in table.schema.items() if not dtype.is_numeric()]
    if text:
        raise DataError(f"{path}: columns {text} are not numeric")
    return table.to_numpy(), table.columns


def _read_numpy(path: Path) -> tuple[np.ndarray, list[str]]:
    """The array of a ``.npy`` file, or the single (or ``features``) array of a ``.npz``; no
    column names."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), []
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if len(keys) == 1 or "features" in keys:
                return archive[keys[0] if len(keys) == 1 else "features"], []
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise unreadable(path, error, "NumPy .npy/.npz file") from None
    raise DataError(f"{path} holds the arrays {keys}: keep one, or name it 'features'")


def _read_table(path: Path) -> pl.DataFrame:
    """A tab-separated annotation file as text columns, header names stripped."""
    try:
        table = pl.read_csv(path, separator="\t", infer_schema=False, quote_char=None)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise unreadable(path, error, "tab-separated annotation file") from None
    table.columns = [name.strip() for name in table.columns]
    if table.height == 0:
        raise DataError(f"{path} has no data lines")
    return table


def _frames(path: Path, column: pl.Series) -> np.ndarray:
    """The ``Frame`` column as int64, checked to start at frame 0 and to step evenly (every
    frame, or every 25th in the 1-fps files): a late start or a gap would leave frames
    without labels, and tsssm does not invent them."""
    frames = column.str.strip_chars().cast(pl.Int64, strict=False)
    if frames.is_null().any():
        i = int(frames.is_null().arg_true()[0])
        raise DataError(f"{path}, line {i + 2}: the frame number is not an integer")
    values = frames.to_numpy()
    if values[0] != 0:
        raise DataError(f"{path}, line 2: the annotations start at frame {values[0]}, not 0; "
                        "the frames before it have no labels")
    steps = np.diff(values)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DataError(
            f"{path}, line {i + 2}: frame {values[i]} is not after frame {values[i - 1]} on "
            f"line {i + 1}; frames must be in increasing order from 0"
        )
    if steps.size:
        sizes, counts = np.unique(steps, return_counts=True)
        step = int(sizes[counts.argmax()])  # the file's annotation interval
        uneven = np.flatnonzero(steps != step)
        if uneven.size:
            i = int(uneven[0]) + 1
            raise DataError(
                f"{path}, line {i + 2}: frame {values[i]} follows frame {values[i - 1]}, but "
                f"the file annotates every {step} frames; the frames between have no labels "
                "(a gap in the annotations)"
            )
    return values


def _samples(duration: float, fps: float) -> int:
    """Number of samples at ``fps`` from time 0 to ``duration`` seconds, both ends included."""
    return int(np.floor(duration * fps + _EPS)) + 1


def _previous(frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the last frame at or before each position (the first frame before it)."""
    return np.maximum(np.searchsorted(frames, positions, side="right") - 1, 0)
