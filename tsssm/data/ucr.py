"""Time-series classification data in the UCR/UEA archive layouts (Dau et al. 2019; Bagnall et
al. 2018): bundled ECG200, the problems aeon ships inside its package, or a file of your own.

Formats:

- ``.txt`` / ``.tsv`` / ``.csv`` (UCR): one case per line, the label first, then the values,
  separated by whitespace, tabs or commas. Univariate. Read with numpy only (no aeon).
- ``.ts`` (sktime/aeon): ``@problemName``/``@classLabel``/... headers, then ``@data`` with one
  case per line, dimensions separated by ``:``, the label last, ``?`` for a missing value.
- ``.arff`` (WEKA): univariate, or multivariate as a relational attribute.

``.ts`` and ``.arff`` are parsed by aeon, an optional dependency:
``pip install "tsssm[timeseries-datasets]"``.

Every reader returns :class:`UCRData`: ``X`` float32 [n_cases, n_chans, n_times], ``y`` the
labels as **strings** (numpy ``str_`` array [n_cases]; in every format a label that is a whole
number is written without decimals: ``-1.0000000e+00`` and ``1.0`` read as ``"-1"``, ``"1"``),
and :class:`UCRInfo`. Missing values (``?``, ``NaN``) are kept as NaN (``info.has_missing``);
nothing is imputed. Series of different lengths ("ragged") raise :class:`DataError` naming the
file unless ``ragged="pad"`` (NaN after each shorter series, as the UCR 2018 archive stores
them) or ``ragged="truncate"`` (every series cut to the shortest); ``info.lengths`` keeps each
case's own length either way. Padding and truncation work per file, so a padded train and test
part can differ in ``n_times``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from ._bundled import bundled_folder
from .series import DataError, check_float32_range, unreadable
from .timeseries_packages import INSTALL_HINT, import_aeon, shipped_data_dir

Ragged = Literal["error", "pad", "truncate"]
Split = Literal["train", "test"]

BUNDLED_UCR = ("ECG200",)
TEXT_SUFFIXES = (".txt", ".tsv", ".csv")
AEON_SUFFIXES = (".ts", ".arff")
_SEPARATORS = re.compile(r"[,\s]+")
_MISSING_TOKENS = frozenset({"?", "nan", "NaN", "NAN"})


@dataclass(frozen=True, eq=False)
class UCRInfo:
    """What a UCR/UEA file says about its problem.

    Attributes:
        name: problem name (``@problemName`` of a ``.ts`` file, else the file name without
            ``_TRAIN``/``_TEST`` and suffix).
        class_names: the classes, in the order the file declares them (``@classLabel``), else
            sorted (numerically when every label is a number).
        equal_length: whether all series in the file have the same length.
        lengths: [n_cases] int, each case's own number of time steps (before padding or
            truncation).
        has_missing: whether ``X`` holds NaN (missing values, or padding of ragged series).
        path: the file read.
    """

    name: str
    class_names: tuple[str, ...]
    equal_length: bool
    lengths: np.ndarray
    has_missing: bool
    path: Path


class UCRData(NamedTuple):
    """``X`` float32 [n_cases, n_chans, n_times], ``y`` str [n_cases], and :class:`UCRInfo`."""

    X: np.ndarray
    y: np.ndarray
    info: UCRInfo


def read_ucr_file(path: str | Path, ragged: Ragged = "error") -> UCRData:
    """Read one UCR/UEA file, choosing the reader by suffix (see the module docstring).

    Raises:
        DataError: an unreadable or malformed file, an unknown suffix, or ragged series with
            ``ragged="error"``; the message names the file.
        ImportError: a ``.ts``/``.arff`` file without aeon installed.
    """
    path = Path(path)
    _check_ragged(ragged)
    if not path.is_file():
        why = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"cannot read {path}: it {why}")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_ucr_text(path, ragged)
    if suffix == ".ts":
        return read_ts(path, ragged)
    if suffix == ".arff":
        return read_arff(path)
    raise DataError(f"{path}: unknown suffix {suffix!r}; expected {TEXT_SUFFIXES + AEON_SUFFIXES}")


def read_ucr_text(path: str | Path, ragged: Ragged = "error") -> UCRData:
    """Read a UCR text file: per line a label, then the values (whitespace/tab/comma separated).

    No aeon needed. Blank lines are skipped; ``?`` and ``NaN`` read as NaN.

    Raises:
        DataError: a token that is not a number (file and line named), a line without values,
            no cases, or ragged series with ``ragged="error"``.
    """
    path = Path(path)
    _check_ragged(ragged)
    labels, series = [], []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise unreadable(path, error, "UCR text file") from None
    for number, line in enumerate(lines, start=1):
        tokens = [token for token in _SEPARATORS.split(line.strip()) if token]
        if not tokens:
            continue
        if len(tokens) < 2:
            raise DataError(f"{path}, line {number}: a label but no values")
        labels.append(tokens[0])
        series.append(_parse_values(tokens[1:], path, number)[None, :])  # [1, length]
    return _build(path, _problem_name(path), series, np.array(labels, dtype=str), None, ragged)


def read_ts(path: str | Path, ragged: Ragged = "error") -> UCRData:
    """Read a ``.ts`` file (aeon's parser): univariate or multivariate, equal length or not.

    Raises:
        DataError: aeon cannot parse the file, it has no class labels, or ragged series with
            ``ragged="error"``.
        ImportError: aeon is not installed.
    """
    path = Path(path)
    _check_ragged(ragged)
    datasets = import_aeon("aeon.datasets", f"reading {path.name}")
    try:
        X, y, meta = datasets.load_from_ts_file(str(path), return_meta_data=True)
    except (OSError, ValueError) as error:
        raise unreadable(path, error, ".ts file") from None
    if not meta.get("classlabel"):
        raise DataError(f"{path} is not a classification problem (no '@classLabel true')")
    series = list(X)  # each [n_chans, length]
    declared_name = _declared_name(path)
    name = _problem_name(declared_name) if declared_name else _problem_name(path)
    declared = tuple(str(label) for label in meta.get("class_values", ()))
    return _build(path, name, series, np.asarray(y).astype(str), declared or None, ragged)


def read_arff(path: str | Path) -> UCRData:
    """Read a WEKA ``.arff`` file (aeon's parser): univariate, or relational multivariate.

    Raises:
        DataError: aeon cannot parse the file.
        ImportError: aeon is not installed.
    """
    path = Path(path)
    datasets = import_aeon("aeon.datasets", f"reading {path.name}")
    try:
        X, y = datasets.load_from_arff_file(str(path))
    except (OSError, ValueError, IndexError) as error:
        raise unreadable(path, error, ".arff file") from None
    return _build(path, _problem_name(path), list(X), np.asarray(y).astype(str), None, "error")


def load_ucr(name: str | Path, split: Split = "train", ragged: Ragged = "error") -> UCRData:
    """Load a UCR/UEA classification problem's train or test part.

    Args:
        name: ``"ECG200"`` (bundled in ``datasets/ucr/``, checksum verified); a problem that
            aeon ships inside its package (``"GunPoint"``, ``"BasicMotions"``, ... — see
            :func:`list_ucr`; read from the installed files, never downloaded); or a path: a
            file, or a folder holding ``<folder name>_TRAIN``/``_TEST`` files.
        split: ``"train"`` or ``"test"``; ignored when ``name`` is a file.
        ragged: ``"error"``, ``"pad"`` or ``"truncate"`` (see the module docstring).

    Returns:
        :class:`UCRData` (``X`` float32 [n_cases, n_chans, n_times], ``y`` str [n_cases]).

    Raises:
        DataError: unknown name (the message lists what is available), a missing file, or a
            malformed one.
        ChecksumError: the bundled copy differs from the one shipped.
        ImportError: a ``.ts``/``.arff`` problem without aeon installed.
    """
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    part = split.upper()
    if str(name) in BUNDLED_UCR:
        return read_ucr_file(bundled_folder("ucr").path(f"{name}_{part}.txt"), ragged)
    path = Path(name)
    if path.is_file():
        return read_ucr_file(path, ragged)
    if path.is_dir():
        return read_ucr_file(_split_file(path, path.name, part), ragged)
    shipped = aeon_ucr_problems()
    if str(name) in shipped:
        return read_ucr_file(_split_file(shipped[str(name)], str(name), part), ragged)
    raise DataError(
        f"unknown UCR/UEA problem {str(name)!r} (and no such file or folder); available: "
        f"bundled {list(BUNDLED_UCR)}, shipped with aeon {sorted(shipped) or INSTALL_HINT}"
    )


def list_ucr() -> list[str]:
    """Names :func:`load_ucr` accepts: the bundled problems, then those shipped with aeon."""
    return [*BUNDLED_UCR, *sorted(aeon_ucr_problems())]


def aeon_ucr_problems() -> dict[str, Path]:
    """{problem: folder} of the classification problems inside the installed aeon package.

    A problem counts when its folder holds ``<Name>_TRAIN.ts`` and ``<Name>_TEST.ts`` and the
    header declares ``@classLabel true`` (regression and forecasting sets are left out).
    Empty when aeon is not installed; aeon is located, not imported.
    """
    folder = shipped_data_dir("aeon")
    if folder is None:
        return {}
    problems = {}
    for train in sorted(folder.glob("*/*_TRAIN.ts")):
        name = train.name.removesuffix("_TRAIN.ts")
        if (train.parent / f"{name}_TEST.ts").is_file() and _is_classification(train):
            problems[name] = train.parent
    return problems


def _split_file(folder: Path, name: str, part: str) -> Path:
    """The ``<name>_<part>`` file of ``folder``, preferring ``.ts`` over ``.arff`` over text."""
    for suffix in (".ts", ".arff", *TEXT_SUFFIXES):
        candidate = folder / f"{name}_{part}{suffix}"
        if candidate.is_file():
            return candidate
    found = sorted(path.name for path in folder.iterdir())
    raise DataError(f"{folder} has no {name}_{part} file (.ts, .arff, .txt, .tsv); found {found}")


def _build(
    path: Path,
    name: str,
    series: list[np.ndarray],
    labels: np.ndarray,
    declared: tuple[str, ...] | None,
    ragged: Ragged,
) -> UCRData:
    """Stack per-case [n_chans, length] arrays into ``X`` and describe the problem."""
    if not series:
        raise DataError(f"{path} holds no cases")
    chans = {len(case) for case in series}
    if len(chans) > 1:
        raise DataError(f"{path}: cases have different numbers of channels {sorted(chans)}")
    lengths = np.array([case.shape[-1] for case in series], dtype=np.int64)
    equal = bool((lengths == lengths[0]).all())
    if not equal and ragged == "error":
        shortest, longest = int(lengths.argmin()), int(lengths.argmax())
        raise DataError(
            f"{path}: series have different lengths (case {shortest}: {lengths[shortest]}, "
            f"case {longest}: {lengths[longest]} time steps); pass ragged='pad' or "
            "ragged='truncate'"
        )
    n_times = int(lengths.min() if ragged == "truncate" else lengths.max())
    for i, case in enumerate(series):
        check_float32_range(case.T, [f"channel {c}" for c in range(len(case))],
                            f"{path}, case {i}", "time step {}".format)
    X = np.full((len(series), chans.pop(), n_times), np.nan, dtype=np.float32)
    for i, case in enumerate(series):
        clipped = case[:, :n_times]
        X[i, :, : clipped.shape[-1]] = clipped
    labels = np.array([_label_text(label) for label in labels.tolist()], dtype=str)
    if declared is not None:
        declared = tuple(_label_text(label) for label in declared)
    found = set(labels.tolist())
    if declared is not None and not found <= set(declared):
        raise DataError(f"{path}: labels {sorted(found - set(declared))} are not declared")
    classes = declared if declared is not None else tuple(sorted(found, key=_label_key))
    info = UCRInfo(name, classes, equal, lengths, bool(np.isnan(X).any()), path)
    return UCRData(X, labels, info)


def _parse_values(tokens: list[str], path: Path, line: int) -> np.ndarray:
    """Floats of a text line; ``?``/``NaN`` become NaN."""
    values = np.empty(len(tokens), dtype=np.float64)
    for j, token in enumerate(tokens):
        if token in _MISSING_TOKENS:
            values[j] = np.nan
            continue
        try:
            values[j] = float(token)
        except ValueError:
            raise DataError(
                f"{path}, line {line}, value {j + 1}: not a number"
            ) from None
    return values


def _label_text(token: str) -> str:
    """A label as text: ``"-1.0000000e+00"`` -> ``"-1"``; non-numeric labels unchanged."""
    try:
        value = float(token)
    except ValueError:
        return token
    return str(int(value)) if np.isfinite(value) and value.is_integer() else token


def _label_key(label: str) -> tuple[int, float, str]:
    """Sort key: numbers numerically, before other labels, which sort as text."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _problem_name(path: Path | str) -> str:
    """``GunPoint`` of ``GunPoint_TRAIN.ts``; ``JapaneseVowels_eq`` of ``..._TRAIN_eq.ts``."""
    stem = re.sub(r"\.(ts|arff|txt|tsv|csv)$", "", Path(path).name, flags=re.IGNORECASE)
    return re.sub(r"_(TRAIN|TEST)(?=_|$)", "", stem, flags=re.IGNORECASE)


def _header_lines(path: Path) -> Iterator[str]:
    """The ``@`` header lines of a ``.ts`` file, lower-cased, up to ``@data``."""
    with open(path, encoding="utf-8", errors="replace") as file:
        for line in file:
            stripped = line.strip()
            if stripped.lower().startswith("@data"):
                return
            if stripped.startswith("@"):
                yield stripped


def _declared_name(path: Path) -> str | None:
    """``@problemName`` of a ``.ts`` file, in the file's own spelling."""
    for line in _header_lines(path):
        key, _, value = line.partition(" ")
        if key.lower() == "@problemname" and value.strip():
            return value.strip()
    return None


def _is_classification(path: Path) -> bool:
    """Whether a ``.ts`` header declares ``@classLabel true``."""
    return any(line.lower().startswith("@classlabel true") for line in _header_lines(path))


def _check_ragged(ragged: str) -> None:
    if ragged not in ("error", "pad", "truncate"):
        raise DataError(f"ragged must be 'error', 'pad' or 'truncate', got {ragged!r}")
