"""Labelled time-series anomaly detection data, and windows over a long series.

Named series are read from files that installed packages ship (never downloaded):

- ``"KDD-TSAD_135"`` (aeon; UCR anomaly archive / KDD Cup 2021, Keogh et al.): heart rate of
  a patient with internal bleeding, 7,501 steps, one anomaly of 12 steps; the first 1,200 steps
  are anomaly-free training data (``train_end=1200``).
- ``"mitdb"`` and ``"yahoo"`` (sktime): the toy series of sktime's detection notebook, with no
  loader and no documented source in sktime 1.x; by their names an excerpt of PhysioNet's
  MIT-BIH Arrhythmia Database (Moody & Mark 2001; one ECG channel, 7,500 steps, steps 6936-7287
  labelled anomalous) and of Yahoo Webscope S5 (1,000 steps, 7 anomalous points; Yahoo's terms
  allow research use only). Neither has a training prefix.

aeon's ``Daphnet_S06R02E0`` is left out on purpose: its excerpt labels no step anomalous, so
no detector can be scored on it (aeon 1.6 deprecates it for that reason). Read it, or any
TimeEval CSV, with :func:`read_anomaly_csv`.

File layouts read by :func:`load_anomaly` given a path:

- CSV (TimeEval, sktime): an optional ``timestamp`` column (dropped), one column per channel,
  and a label column ``is_anomaly`` or ``label`` (0/1).
- UCR anomaly archive ``.txt`` (``NNN_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt``):
  the values only; the file name gives the training prefix ``[0, train end)`` and the anomaly
  ``[begin, end)`` (0-based, end exclusive, as in aeon's conversion of set 135, which labels
  steps 4187-4198 of ``..._1200_4187_4199.txt``).

Shapes: T time steps, C channels, W windows of L steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from .series import DataError, check_float32_range, unreadable
from .timeseries_packages import INSTALL_HINT, shipped_data_dir

Reduce = Literal["mean", "max"]

LABEL_COLUMNS = ("is_anomaly", "label")
_UCR_ANOMALY_NAME = re.compile(r"\d+_UCR_Anomaly_(.+)_(\d+)_(\d+)_(\d+)")
# name -> (package, file under its datasets/data/, training-prefix file or None)
_SHIPPED = {
    "KDD-TSAD_135": (
        "aeon",
        "KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv",
        "KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TRAIN.csv",
    ),
    "mitdb": ("sktime", "mitdb/mitdb.csv", None),
    "yahoo": ("sktime", "yahoo/yahoo.csv", None),
}


@dataclass(frozen=True, eq=False)
class AnomalySeries:
    """One series labelled at every time step.

    Attributes:
        name: the data set's name.
        values: float32 [T, C].
        labels: int64 [T], 1 where the step is anomalous, else 0.
        train_end: the series' anomaly-free training prefix is ``values[:train_end]``; None
            when the data set defines none (then fit on data of your own choosing, never on
            the labels).
        channel_names: C names.
        path: the file read.
    """

    name: str
    values: np.ndarray
    labels: np.ndarray
    train_end: int | None
    channel_names: tuple[str, ...]
    path: Path

    def __post_init__(self) -> None:
        steps = len(self.values)
        if self.values.ndim != 2 or self.labels.shape != (steps,):
            raise DataError(
                f"{self.path}: values {self.values.shape} and labels {self.labels.shape}; "
                "expected [T, C] and [T]"
            )
        if len(self.channel_names) != self.values.shape[1]:
            raise DataError(
                f"{self.path}: {len(self.channel_names)} channel names for "
                f"{self.values.shape[1]} channels"
            )
        if self.train_end is not None and not 0 < self.train_end < steps:
            raise DataError(f"{self.path}: train_end {self.train_end} outside (0, {steps})")
        if self.train_end is not None and self.labels[: self.train_end].any():
            first = int(np.flatnonzero(self.labels[: self.train_end])[0])
            raise DataError(
                f"{self.path}: step {first} in the training prefix [0, {self.train_end}) is "
                "labelled anomalous"
            )


def list_anomaly() -> list[str]:
    """Names :func:`load_anomaly` accepts whose package is installed."""
    return [name for name, (package, *_) in _SHIPPED.items() if shipped_data_dir(package)]


def load_anomaly(name: str | Path, train_end: int | None = None) -> AnomalySeries:
    """Load a labelled anomaly series by name (see the module docstring) or from a file.

    Args:
        name: ``"KDD-TSAD_135"``, ``"mitdb"``, ``"yahoo"``, or a ``.csv``/UCR-archive ``.txt``
            path.
        train_end: the anomaly-free training prefix of a CSV file, if you know one; the named
            series and UCR archive files define their own.

    Raises:
        DataError: unknown name (the message lists what is available), a missing package file,
            or a malformed file.
    """
    path = Path(name)
    if path.is_file():
        if path.suffix.lower() == ".txt":
            return read_ucr_anomaly_txt(path)
        return read_anomaly_csv(path, train_end)
    if str(name) not in _SHIPPED:
        raise DataError(
            f"unknown anomaly data set {str(name)!r} (and no such file); available: "
            f"{list_anomaly()} (shipped with aeon/sktime: {INSTALL_HINT}), or a file path"
        )
    package, relative, prefix = _SHIPPED[str(name)]
    folder = shipped_data_dir(package)
    if folder is None:
        raise DataError(f"anomaly data set {name!r} ships with {package}: {INSTALL_HINT}")
    series = read_anomaly_csv(folder / relative, name=str(name))
    if prefix is None:
        return series
    return _with_train_prefix(series, read_anomaly_csv(folder / prefix))


def read_anomaly_csv(
    path: str | Path, train_end: int | None = None, name: str | None = None
) -> AnomalySeries:
    """Read a labelled CSV series (TimeEval or sktime layout; see the module docstring).

    Raises:
        DataError: no label column, a label other than 0/1, a value that is not a finite
            number (row named), or no rows.
    """
    path = Path(path)
    try:
        frame = pl.read_csv(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise unreadable(path, error, "CSV table") from None
    label = next((c for c in frame.columns if c.lower() in LABEL_COLUMNS), None)
    if label is None:
        raise DataError(f"{path} has no label column {LABEL_COLUMNS} (its header has "
                        f"{frame.width} columns)")
    channels = [c for c in frame.columns if c != label and c.lower() != "timestamp"]
    if not channels or frame.height == 0:
        raise DataError(f"{path} has no value columns or no rows")
    try:
        values = frame.select(pl.col(channels).cast(pl.Float64)).to_numpy()
        labels = frame.get_column(label).cast(pl.Float64).to_numpy()
    except pl.exceptions.PolarsError:
        raise DataError(f"{path}: a value or label is not a number") from None
    _check_finite(values, path)
    check_float32_range(values, channels, str(path))
    values = values.astype(np.float32)
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if bad.size:
        raise DataError(f"{path}, row {bad[0]}: label {labels[bad[0]]} is not 0 or 1")
    return AnomalySeries(
        name or path.stem,
        np.ascontiguousarray(values),
        labels.astype(np.int64),
        train_end,
        tuple(channels),
        path,
    )


def read_ucr_anomaly_txt(path: str | Path) -> AnomalySeries:
    """Read a UCR anomaly archive file; labels and training prefix come from its name.

    Raises:
        DataError: a name not of the form ``NNN_UCR_Anomaly_<name>_<train>_<begin>_<end>``,
            bounds that do not fit the series, or a value that is not a finite number.
    """
    path = Path(path)
    match = _UCR_ANOMALY_NAME.fullmatch(path.stem)
    if match is None:
        raise DataError(
            f"{path}: not a UCR anomaly archive name (NNN_UCR_Anomaly_<name>_<train end>_"
            "<begin>_<end>.txt); read CSV files with read_anomaly_csv"
        )
    train_end, begin, end = (int(match.group(i)) for i in (2, 3, 4))
    try:
        values = np.array(path.read_text().split(), dtype=np.float32)[:, None]  # [T, 1]
    except (OSError, ValueError) as error:
        raise unreadable(path, error, "text file of numbers") from None
    _check_finite(values, path)
    if not train_end <= begin < end <= len(values):
        raise DataError(
            f"{path}: name gives train end {train_end} and anomaly [{begin}, {end}), which do "
            f"not fit a series of {len(values)} steps"
        )
    labels = np.zeros(len(values), dtype=np.int64)
    labels[begin:end] = 1
    return AnomalySeries(path.stem, values, labels, train_end, ("value",), path)


def window_starts(n_times: int, length: int, stride: int = 1) -> np.ndarray:
    """First step of each window of ``length`` steps, ``stride`` apart, over ``n_times`` steps.

    A last window ending at the series' end is added when the stride does not land there, so
    the series' tail is never dropped (that window overlaps its neighbour by more).

    Returns:
        int64 [W].
    """
    for arg, value in (("length", length), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise DataError(f"{arg} must be a positive int, got {value!r}")
    if n_times < length:
        raise DataError(f"a series of {n_times} steps is shorter than one window of {length}")
    starts = np.arange(0, n_times - length + 1, stride, dtype=np.int64)
    if starts[-1] != n_times - length:
        starts = np.append(starts, n_times - length)
    return starts


def sliding_windows(values: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Cut a series into windows (see :func:`window_starts` for where they start).

    Args:
        values: [T, C] (or [T], one channel).

    Returns:
        [W, C, L] windows, a copy in ``values``' dtype.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"values must be [n_times, n_chans], got shape {values.shape}")
    starts = window_starts(len(values), length, stride)
    view = np.lib.stride_tricks.sliding_window_view(values, length, axis=0)  # [T-L+1, C, L]
    return np.ascontiguousarray(view[starts])


def fold_window_scores(
    window_scores: np.ndarray, n_times: int, length: int, stride: int = 1, reduce: Reduce = "mean",
    skip: int = 0,
) -> np.ndarray:
    """Turn per-window anomaly scores back into one score per time step.

    Each step gets the mean (``reduce="mean"``) or the maximum (``"max"``) of the scores of
    all windows that cover it. Mean smooths, so a short anomaly's score is diluted by the
    normal windows around it; max keeps the peak and widens it to every step of that window.
    With ``skip`` (per-step scores only), a window's first ``skip`` steps count only for the
    steps no window covers further in (a series' first steps): a predictor's error there
    reflects its lack of past, not the data.

    Args:
        window_scores: [W] (one score per window, given to all its steps) or [W, L] (a score
            per step of each window, e.g. a reconstruction error), for the windows of
            :func:`sliding_windows` with the same ``n_times``, ``length`` and ``stride``.
        stride: at most ``length``, so that every step is covered.

    Returns:
        float64 [T] scores.
    """
    if reduce not in ("mean", "max"):
        raise DataError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    starts = window_starts(n_times, length, stride)
    if stride > length:
        raise DataError(f"stride {stride} > length {length} leaves steps no window covers")
    scores = np.asarray(window_scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[0] != len(starts) or scores.shape[1] not in (1, length):
        raise DataError(
            f"window_scores has shape {np.shape(window_scores)}; expected [{len(starts)}] or "
            f"[{len(starts)}, {length}] for {n_times} steps, length {length}, stride {stride}"
        )
    if isinstance(skip, bool) or not 0 <= skip < length:
        raise DataError(f"skip must be an int in [0, length={length}), got {skip!r}")
    if skip and scores.shape[1] != length:
        raise DataError("skip needs per-step window scores [W, L]")
    positions = np.broadcast_to(np.arange(length), (len(starts), length)).ravel()
    steps = (starts[:, None] + np.arange(length)).ravel()  # [W * L]
    flat = np.broadcast_to(scores, (len(starts), length)).ravel()
    counted = positions >= skip
    # Steps that only skipped positions cover keep those scores rather than none.
    counted |= ~np.isin(steps, steps[counted])
    steps, flat = steps[counted], flat[counted]
    if reduce == "max":
        folded = np.full(n_times, -np.inf)
        np.maximum.at(folded, steps, flat)
        return folded
    return np.bincount(steps, flat, n_times) / np.bincount(steps, minlength=n_times)


def dominant_period(values: np.ndarray) -> int:
    """The lag (in steps) of the strongest repetition in a series, 1 if it has none.

    ``values`` [T] or [T, C]: the autocorrelation of each channel (about its mean, through an
    FFT) is averaged over the channels; the period is the lag of its highest value after it
    first drops below zero, among lags up to T / 2. A series whose autocorrelation never
    rises above zero again after that (a trend, a constant) has no period: 1.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or len(x) < 4:
        raise DataError(f"values must be [n_times >= 4] or [n_times, n_chans], got shape "
                        f"{np.shape(values)}")
    x = x - x.mean(axis=0)
    spectrum = np.fft.rfft(x, n=2 * len(x), axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), axis=0)[: len(x) // 2 + 1]
    energy = autocov[0]
    autocorr = (autocov[:, energy > 0] / energy[energy > 0]).mean(axis=1) if (
        energy > 0).any() else np.zeros(len(autocov))
    below = np.flatnonzero(autocorr < 0)
    if len(below) == 0:
        return 1
    peak = below[0] + int(np.argmax(autocorr[below[0]:]))
    return int(peak) if autocorr[peak] > 0 else 1


def smoothed_scores(scores: np.ndarray, steps: int) -> np.ndarray:
    """Each step's score averaged over the ``steps`` steps centred on it (the series' ends
    repeated beyond them; scipy's ``uniform_filter1d``): float64 [T] from [T]. A collective
    anomaly (an abnormal heartbeat) raises the errors of its many steps a little each; their
    mean over about one period stands out more than any one of them. ``steps`` 1 changes
    nothing."""
    from scipy.ndimage import uniform_filter1d

    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise DataError(f"steps must be a positive integer, got {steps!r}")
    scores = np.asarray(scores, dtype=np.float64)
    return scores if steps == 1 else uniform_filter1d(scores, int(steps), mode="nearest")


def _with_train_prefix(series: AnomalySeries, prefix: AnomalySeries) -> AnomalySeries:
    """``series`` with ``train_end`` set to the length of ``prefix``, its verified start."""
    end = len(prefix.values)
    if end >= len(series.values) or not np.array_equal(prefix.values, series.values[:end]):
        raise DataError(f"{prefix.path} is not the start of {series.path}")
    return AnomalySeries(
        series.name, series.values, series.labels, end, series.channel_names, series.path
    )


def _check_finite(values: np.ndarray, path: Path) -> None:
    """Raise naming the first row of ``values`` [T, C] that holds NaN or infinity."""
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(f"{path}, row {row}, channel {column}: value is not a finite number")
