"""Metrics of phase recognition (surgical workflow: Cholec80, M2CAI16; sleep staging).

Papers compute "the same" metric in different ways (Funke et al., "Metrics Matter in Surgical
Phase Recognition", 2023), so every function states exactly what it computes. Inputs are
integer label arrays [T], one pair (truth, prediction) per recording (a video, a night).
Scores are computed per recording, then averaged over recordings. Rates are fractions in
[0, 1]; the edit score is on 0-100, as in the action-segmentation literature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    jaccard_score,
    precision_recall_fscore_support,
)


@dataclass(frozen=True)
class PhaseScores:
    """Scores of one video.

    Attributes:
        accuracy: fraction of the T samples counted correct.
        precision, recall, jaccard: [C] per phase; NaN where the phase is excluded (the
            function that made them says when).
    """

    accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    jaccard: np.ndarray

    @property
    def mean_precision(self) -> float:
        """Mean over the phases not excluded."""
        return float(_nanmean(self.precision))

    @property
    def mean_recall(self) -> float:
        """Mean over the phases not excluded."""
        return float(_nanmean(self.recall))

    @property
    def mean_jaccard(self) -> float:
        """Mean over the phases not excluded."""
        return float(_nanmean(self.jaccard))


def phase_scores(y_true: ArrayLike, y_pred: ArrayLike, num_classes: int = 7) -> PhaseScores:
    """Frame-wise (strict) scores of one video, no tolerance at phase boundaries.

    - accuracy: fraction of samples whose prediction equals the truth.
    - per phase p, with TP = samples where truth and prediction are both p: precision =
      TP / (samples predicted p), recall = TP / (samples of truth p), Jaccard =
      TP / (samples where truth or prediction is p).

    A phase absent from both the truth and the prediction of the video is excluded (NaN). A
    phase present in only one of them scores 0 where the ratio is undefined (precision of a
    phase never predicted, recall of a phase absent from the truth): scikit-learn's
    ``zero_division=0``. The mean over phases is then scikit-learn's macro average, whose labels
    are those present in truth or prediction. (The official Cholec80 MATLAB script instead
    excludes every phase absent from the truth; see ``relaxed_phase_scores``.)

    Args:
        y_true, y_pred: [T] phase indices in ``[0, num_classes)``.
    """
    y_true, y_pred = _check_labels(y_true, y_pred, num_classes)
    labels = np.arange(num_classes)
    precision, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    jaccard = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    absent = ~(np.isin(labels, y_true) | np.isin(labels, y_pred))
    return PhaseScores(
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=np.where(absent, np.nan, precision),
        recall=np.where(absent, np.nan, recall),
        jaccard=np.where(absent, np.nan, jaccard),
    )


def relaxed_phase_scores(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    fps: float = 1.0,
    num_classes: int = 7,
    tolerance_s: float = 10.0,
) -> PhaseScores:
    """Relaxed-boundary scores of one video: the *relaxed* variant of the M2CAI16 workflow
    challenge evaluation, as revised for Cholec80 (``Evaluate.m``/``Main.m``, the script behind
    most published Cholec80 "relaxed" figures).

    Which samples count as correct. Phases are indices in the standard order (Cholec80:
    0 Preparation ... 6 GallbladderRetraction). Let w = round(tolerance_s * fps) samples (10 s),
    shortened to the run's length for runs shorter than w. For every contiguous run of true
    phase p:

    - late transition: in the run's first w samples (the w samples after a true boundary),
      predicting p - 1 counts as correct; for the last two phases (CleaningCoagulation,
      GallbladderRetraction) also p - 2;
    - early transition: in the run's last w samples (the w samples before the next true
      boundary), predicting p + 1 counts as correct; for the last four phases
      (GallbladderDissection onwards) also p + 2.

    Every other sample is correct only when prediction equals truth. The neighbours are by
    phase index, not the phases actually before or after the run, as in the script. Counting
    "last two/four" from the end also gives the M2CAI16 (8-phase) script's rule.

    Scores. accuracy = correct samples / T. For each phase p present in the truth, with
    U = samples where truth or prediction is p and TP = correct samples in U: Jaccard =
    TP / |U|, precision = TP / (samples predicted p), recall = TP / (samples of truth p), each
    clipped to at most 1 as ``Main.m`` does (TP includes samples of a neighbouring true phase
    predicted p, and samples of p predicted as a neighbour, so the raw ratios can exceed 1).
    Phases absent from the truth are excluded (NaN) even when predicted, as in the script.
    Precision is 0 for a phase of the truth never predicted (the script divides by zero).

    One deliberate difference from the MATLAB script: its early-transition line
    ``curDiff(curDiff(end-t+1:end)==1) = 0`` indexes with a logical mask of length t, which
    MATLAB applies to the run's *first* t samples; here it applies to the last t, as its
    comment ("early transition") intends. Results can differ slightly from the script's.

    Args:
        y_true, y_pred: [T] phase indices in ``[0, num_classes)``.
        fps: samples per second of the labels.
        tolerance_s: width of the tolerance window, in seconds.
    """
    y_true, y_pred = _check_labels(y_true, y_pred, num_classes)
    correct = _relaxed_correct(y_true, y_pred, round(tolerance_s * fps), num_classes)
    precision, recall, jaccard = np.full((3, num_classes), np.nan)
    for p in np.unique(y_true):
        truth, predicted = y_true == p, y_pred == p
        tp = np.count_nonzero(correct & (truth | predicted))
        jaccard[p] = tp / np.count_nonzero(truth | predicted)
        precision[p] = min(tp / predicted.sum(), 1.0) if predicted.any() else 0.0
        recall[p] = min(tp / truth.sum(), 1.0)
    return PhaseScores(float(correct.mean()), precision, recall, jaccard)


def segment_labels(labels: ArrayLike) -> np.ndarray:
    """The label of each contiguous run, in order: [S] for S segments ([0, 0, 2, 2, 0] gives
    [0, 2, 0])."""
    labels = as_labels(labels, "labels")
    return labels[np.r_[True, labels[1:] != labels[:-1]]]


def count_transitions(labels: ArrayLike) -> int:
    """Number of changes of label between consecutive samples (segments - 1). Compare the
    prediction's count with the truth's: a larger count means over-segmentation
    (flickering)."""
    return len(segment_labels(labels)) - 1


def edit_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Segmental edit score (Lea et al., ECCV 2016 / CVPR 2017; as in MS-TCN's evaluation), 0-100.

    Both sequences are reduced to their ordered segment labels (``segment_labels``), and
    ``100 * (1 - L / max(S_true, S_pred))`` is returned, L being the Levenshtein distance
    (insertions, deletions, substitutions of one segment each cost 1). It is 100 when the
    prediction has the same segments in the same order, whatever their timing, and drops with
    over-segmentation (spurious short segments) and with wrong phase orders.

    Args:
        y_true, y_pred: [T] integer labels (the lengths may differ; no background class).
    """
    truth = segment_labels(as_labels(y_true, "y_true"))
    predicted = segment_labels(as_labels(y_pred, "y_pred"))
    distance = _levenshtein(predicted, truth)
    return float(100.0 * (1.0 - distance / max(len(truth), len(predicted))))


def phase_recognition_report(
    truths: Sequence[ArrayLike],
    predictions: Sequence[ArrayLike],
    fps: float = 1.0,
    num_classes: int = 7,
    tolerance_s: float = 10.0,
) -> dict[str, dict[str, float | list[float]]]:
    """All surgical-workflow metrics over a set of videos.

    Each metric is computed per video, then averaged over videos (``"mean"``, a plain mean;
    ``"per_video"`` lists the values). For precision, recall and Jaccard the per-video value is
    the mean over the phases not excluded (see ``phase_scores`` and ``relaxed_phase_scores``),
    and ``"per_phase"`` [C] gives each phase's mean over the videos where it is not excluded;
    ``mean(per_phase)`` is the aggregation of the Cholec80 ``Main.m`` script (phase-wise over
    videos first, then over phases).

    Keys: ``accuracy``, ``precision``, ``recall``, ``jaccard`` (strict, frame-wise);
    ``relaxed_accuracy``, ``relaxed_precision``, ``relaxed_recall``, ``relaxed_jaccard``
    (10-s relaxed boundaries); ``edit_score`` (0-100); ``predicted_transitions`` and
    ``true_transitions`` (label changes per video; more predicted than true means
    over-segmentation).

    Args:
        truths, predictions: one [T_v] label array per video, paired in order.
        fps: samples per second of the labels (sets the relaxed tolerance in samples).
    """
    pairs = _check_pairs(truths, predictions)
    strict = [phase_scores(t, p, num_classes) for t, p in pairs]
    relaxed = [relaxed_phase_scores(t, p, fps, num_classes, tolerance_s) for t, p in pairs]
    report = {}
    for prefix, scores in (("", strict), ("relaxed_", relaxed)):
        report[f"{prefix}accuracy"] = _summary([s.accuracy for s in scores])
        for name in ("precision", "recall", "jaccard"):
            per_phase = np.array([getattr(s, name) for s in scores])  # [V, C]
            summary = _summary(list(_nanmean(per_phase, axis=1)))
            summary["per_phase"] = [float(v) for v in _nanmean(per_phase, axis=0)]
            report[f"{prefix}{name}"] = summary
    report["edit_score"] = _summary([edit_score(t, p) for t, p in pairs])
    report["predicted_transitions"] = _summary([count_transitions(p) for _, p in pairs])
    report["true_transitions"] = _summary([count_transitions(t) for t, _ in pairs])
    return report


def sleep_staging_report(
    truths: Sequence[ArrayLike], predictions: Sequence[ArrayLike], num_classes: int = 5
) -> dict[str, dict[str, float | list[float]]]:
    """Sleep-staging metrics (scikit-learn's), per night and pooled over all nights.

    - ``accuracy``: fraction of epochs staged correctly.
    - ``macro_f1``: unweighted mean over stages of the per-stage F1 (harmonic mean of precision
      and recall); stages absent from both truth and prediction are left out (scikit-learn's
      default labels), a stage present in only one scores 0.
    - ``kappa``: Cohen's kappa, agreement beyond chance, ``(p_o - p_e) / (1 - p_e)``; NaN for
      a night where it is undefined (a single stage in truth and prediction).

    Each key holds ``"pooled"`` (all epochs of all nights as one set, as most sleep-staging
    papers report), ``"mean"`` (mean of the per-night values, NaN ignored) and ``"per_night"``.

    Args:
        truths, predictions: one [T_n] stage array per night, paired in order; stages in
            ``[0, num_classes)`` (0 W, 1 N1, 2 N2, 3 N3, 4 REM).
    """
    pairs = [_check_labels(t, p, num_classes) for t, p in _check_pairs(truths, predictions)]
    pooled = (np.concatenate([t for t, _ in pairs]), np.concatenate([p for _, p in pairs]))
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "accuracy": accuracy_score,
        "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
        "kappa": cohen_kappa_score,
    }
    report = {}
    for name, metric in metrics.items():
        per_night = [float(metric(t, p)) for t, p in pairs]
        report[name] = {
            "pooled": float(metric(*pooled)),
            "mean": float(_nanmean(per_night)),
            "per_night": per_night,
        }
    return report


def _relaxed_correct(
    y_true: np.ndarray, y_pred: np.ndarray, window: int, num_classes: int
) -> np.ndarray:
    """bool [T]: samples correct under the relaxed-boundary rule of ``relaxed_phase_scores``."""
    diff = y_pred - y_true
    correct = diff == 0
    starts = np.flatnonzero(np.r_[True, y_true[1:] != y_true[:-1]])
    ends = np.r_[starts[1:], len(y_true)]
    for start, end in zip(starts, ends, strict=True):
        phase, w = y_true[start], min(window, end - start)
        late = (-1, -2) if phase >= num_classes - 2 else (-1,)
        early = (1, 2) if phase >= num_classes - 4 else (1,)
        correct[start : start + w] |= np.isin(diff[start : start + w], late)
        correct[end - w : end] |= np.isin(diff[end - w : end], early)
    return correct


def _levenshtein(a: np.ndarray, b: np.ndarray) -> int:
    """Edit distance between two label sequences, one row of the table at a time."""
    columns = np.arange(len(b) + 1)
    previous = columns.copy()
    for i, label in enumerate(a, start=1):
        # Deletion and substitution come from the previous row; insertion, the running
        # min(D[i, j-1] + 1), is a cumulative minimum of (candidate - j) shifted back by j.
        candidate = np.empty_like(previous)
        candidate[0] = i
        candidate[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (b != label))
        previous = np.minimum.accumulate(candidate - columns) + columns
    return int(previous[-1])


def _summary(values: list[float]) -> dict[str, float | list[float]]:
    """``{"mean": plain mean, "per_video": values}``."""
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "per_video": values}


def _nanmean(values: ArrayLike, axis: int | None = None) -> np.ndarray:
    """Mean ignoring NaN; NaN (without a warning) where every value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


def as_labels(labels: ArrayLike, name: str) -> np.ndarray:
    """A non-empty 1-D int64 array, or a ValueError naming ``name``."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D label array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_labels(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two label arrays of the same length with values in ``[0, num_classes)``."""
    truth, predicted = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    if len(truth) != len(predicted):
        raise ValueError(f"y_true has {len(truth)} labels but y_pred has {len(predicted)}")
    for name, array in (("y_true", truth), ("y_pred", predicted)):
        bad = np.flatnonzero((array < 0) | (array >= num_classes))
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] = {array[bad[0]]} is outside [0, {num_classes}) "
                f"(num_classes={num_classes})"
            )
    return truth, predicted


def _check_pairs(
    truths: Sequence[ArrayLike], predictions: Sequence[ArrayLike]
) -> list[tuple[ArrayLike, ArrayLike]]:
    """The (truth, prediction) pairs of a set of recordings; raises on an empty or uneven set."""
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} truth arrays but {len(predictions)} predictions")
    if len(truths) == 0:
        raise ValueError("no recordings to evaluate: truths and predictions are empty")
    return list(zip(truths, predictions, strict=True))
