"""Metrics of tsssm's tasks that scikit-learn and torchmetrics do not already give: phase
recognition (surgical workflow: Cholec80, M2CAI16; sleep staging), window classification (EEG
windows, time-series cases) and time-series anomaly detection.

Phase recognition and window classification: papers compute "the same" metric in different
ways (Funke et al., "Metrics Matter in Surgical Phase Recognition", 2023), so every function
states exactly what it computes. Inputs are integer label arrays [T], one pair (truth,
prediction) per recording (a video, a night). Scores are computed per recording, then
averaged over recordings. Rates are fractions in [0, 1]; the edit score is on 0-100, as in
the action-segmentation literature.

Anomaly detection: point-wise and point-adjusted precision/recall/F1, threshold-free
AUROC/AUPR, and thresholds chosen on training scores only.

The anomaly functions take per-time-step arrays [T]: ``labels`` 0/1 (1 = anomalous), ``predictions``
0/1, ``scores`` real (higher = more anomalous).

Point adjustment (Xu et al., WWW 2018, "Unsupervised anomaly detection via variational
auto-encoder for seasonal KPIs"): when any step of a true anomaly segment is predicted
anomalous, every step of that segment counts as detected. It rewards a single lucky hit in a
long segment as if the whole segment were found, so it **inflates** scores, often a lot (a
random detector can reach a high point-adjusted F1 on data with long segments; Kim et al., AAAI
2022). Always report it beside the plain point-wise figure, never alone:
:func:`anomaly_report` returns both.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    jaccard_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

__all__ = [
    "PhaseScores",
    "anomaly_report",
    "anomaly_segments",
    "count_transitions",
    "detection_metrics",
    "edit_score",
    "phase_recognition_report",
    "phase_scores",
    "point_adjust",
    "relaxed_phase_scores",
    "segment_labels",
    "sleep_staging_report",
    "train_threshold",
    "window_classification_report",
]


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
    labels = _as_labels(labels, "labels")
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
    truth = segment_labels(_as_labels(y_true, "y_true"))
    predicted = segment_labels(_as_labels(y_pred, "y_pred"))
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


def _as_labels(labels: ArrayLike, name: str) -> np.ndarray:
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
    truth, predicted = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
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


# ---------------------------------------------------------------------------------------------
# Window classification
# ---------------------------------------------------------------------------------------------

WINDOW_METRICS = ("balanced_accuracy", "accuracy", "auroc", "aupr", "kappa", "macro_f1")


def window_classification_report(
    y_true: ArrayLike,
    probabilities: ArrayLike,
    class_names: Sequence[str],
    groups: ArrayLike | None = None,
) -> dict[str, dict]:
    """Scores of a window classifier, over all windows and per group (subject, case, ...).

    Every number comes from scikit-learn; the prediction is the most probable class.

    - ``balanced_accuracy``: mean recall over the classes present in ``y_true``.
    - ``accuracy``: fraction of windows predicted right.
    - ``auroc`` and ``aupr`` (average precision): two classes: of the probability of class
      1 (the positive class); more classes: macro average of one-vs-rest scores.
    - ``kappa``: Cohen's kappa of the predictions.
    - ``macro_f1``: F1 averaged over the classes present in ``y_true`` or the predictions.

    A metric that a set of windows leaves undefined is NaN, never an exception: AUROC and
    AUPR need every class in ``y_true`` (a subject with one class only has none); kappa is
    NaN when truth and prediction both hold one class only.

    Args:
        y_true: int [N], classes in ``[0, len(class_names))``.
        probabilities: float [N, K], K = ``len(class_names)``, each row a distribution.
        class_names: the K class names.
        groups: [N] group of each window, or None.

    Returns:
        ``{"overall": {metric: value, "windows": N}, "per_group": {group: {...}}}`` (per
        group only when ``groups`` is given; groups as strings, in sorted order).

    Raises:
        ValueError: mismatched lengths, a bad shape, non-finite probabilities, labels out
            of range, fewer than 2 classes.
    """
    truth, scores = _check_classification(y_true, probabilities, class_names)
    report: dict[str, dict] = {"overall": _window_scores(truth, scores)}
    if groups is not None:
        keys = np.asarray(groups).astype(str)
        if keys.shape != truth.shape:
            raise ValueError(f"groups has shape {keys.shape}; it needs one group per window "
                             f"({len(truth)})")
        report["per_group"] = {
            str(key): _window_scores(truth[keys == key], scores[keys == key])
            for key in sorted(set(keys.tolist()))
        }
    return report


def _check_classification(
    y_true: ArrayLike, probabilities: ArrayLike, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    n_classes = len(class_names)
    if n_classes < 2:
        raise ValueError(f"class_names needs at least 2 classes, got {list(class_names)}")
    scores = np.asarray(probabilities, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != n_classes:
        raise ValueError(f"probabilities has shape {scores.shape}; it needs (windows, "
                         f"{n_classes}) for the classes {list(class_names)}")
    if not np.isfinite(scores).all():
        raise ValueError("probabilities holds NaN or infinite values")
    truth = _as_labels(y_true, "y_true")
    if len(truth) != len(scores) or len(truth) == 0:
        raise ValueError(f"y_true has {len(truth)} labels and probabilities {len(scores)} "
                         "rows; they need the same, non-zero, number")
    bad = np.flatnonzero((truth < 0) | (truth >= n_classes))
    if bad.size:
        raise ValueError(f"y_true[{bad[0]}] = {truth[bad[0]]} is outside [0, {n_classes})")
    return truth, scores


def _window_scores(truth: np.ndarray, scores: np.ndarray) -> dict[str, float | int]:
    """The metrics of :func:`window_classification_report` for one set of windows."""
    n_classes = scores.shape[1]
    predicted = scores.argmax(axis=1)
    every_class = len(np.unique(truth)) == n_classes
    # scikit-learn warns (and returns NaN or a convention) where a score is undefined; the
    # report documents those cases and returns NaN itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result: dict[str, float | int] = {
            "windows": len(truth),
            "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
            "accuracy": float(accuracy_score(truth, predicted)),
            "auroc": float("nan"),
            "aupr": float("nan"),
            "kappa": float(cohen_kappa_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        }
        if every_class and n_classes == 2:
            result["auroc"] = float(roc_auc_score(truth, scores[:, 1]))
            result["aupr"] = float(average_precision_score(truth, scores[:, 1]))
        elif every_class:
            onehot = label_binarize(truth, classes=np.arange(n_classes))  # [N, K]
            result["auroc"] = float(roc_auc_score(onehot, scores, average="macro"))
            result["aupr"] = float(average_precision_score(onehot, scores, average="macro"))
    return result


# Anomaly detection ------------------------------------------------------------------


ThresholdMethod = Literal["quantile", "mean_std"]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of the anomalous class (0.0 where undefined, e.g. no
    predicted anomaly for precision)."""

    precision: float
    recall: float
    f1: float


def anomaly_segments(labels: ArrayLike) -> np.ndarray:
    """Contiguous runs of 1 in ``labels`` [T], as int64 [n_segments, 2] of ``[start, end)``."""
    flags = _binary(labels, "labels")
    edges = np.diff(np.concatenate(([0], flags, [0])))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def point_adjust(labels: ArrayLike, predictions: ArrayLike) -> np.ndarray:
    """Predictions [T] with every true segment set to 1 where any of its steps is predicted 1.

    Steps outside true segments are unchanged, so false positives stay false positives.
    See the module docstring: this inflates scores.
    """
    truth, predicted = _pair(labels, predictions)
    adjusted = predicted.copy()
    for start, end in anomaly_segments(truth):
        if predicted[start:end].any():
            adjusted[start:end] = 1
    return adjusted


def pointwise_prf(labels: ArrayLike, predictions: ArrayLike) -> PRF:
    """Precision, recall and F1 counted over time steps (each step one sample)."""
    truth, predicted = _pair(labels, predictions)
    hits = int((truth & predicted).sum())
    precision = hits / predicted.sum() if predicted.any() else 0.0
    recall = hits / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return PRF(float(precision), float(recall), float(f1))


def point_adjusted_prf(labels: ArrayLike, predictions: ArrayLike) -> PRF:
    """:func:`pointwise_prf` after :func:`point_adjust` (inflated; report beside the plain one)."""
    return pointwise_prf(labels, point_adjust(labels, predictions))


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` for the anomalous steps (threshold-free)."""
    truth, values = _scored(labels, scores)
    return float(roc_auc_score(truth, values))


def aupr(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the precision-recall curve (scikit-learn's average precision); its chance
    level is the fraction of anomalous steps, not 0.5."""
    truth, values = _scored(labels, scores)
    return float(average_precision_score(truth, values))


def train_threshold(
    train_scores: ArrayLike,
    method: ThresholdMethod = "quantile",
    quantile: float = 0.99,
    k: float = 3.0,
) -> float:
    """A score threshold chosen from training scores only (no labels).

    Train scores come from data assumed (mostly) normal, e.g. a series' anomaly-free training
    prefix. ``"quantile"``: the ``quantile`` of the train scores, so about ``1 - quantile`` of
    normal steps are flagged. ``"mean_std"``: mean + ``k`` standard deviations. Never choose a
    threshold on test labels: that reports the best case a deployed detector cannot reach.

    Raises:
        ValueError: empty or non-finite scores, a quantile outside (0, 1), or an unknown method.
    """
    values = np.asarray(train_scores, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("train_scores must be a non-empty array of finite numbers")
    if method == "quantile":
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        return float(np.quantile(values, quantile))
    if method == "mean_std":
        return float(values.mean() + k * values.std())
    raise ValueError(f"method must be 'quantile' or 'mean_std', got {method!r}")


def anomaly_report(labels: ArrayLike, scores: ArrayLike, threshold: float) -> dict[str, float]:
    """Every metric of this module for ``scores`` [T], flagging steps with score > threshold.

    Returns:
        ``precision``/``recall``/``f1`` (point-wise), ``pa_precision``/``pa_recall``/``pa_f1``
        (point-adjusted, inflated), ``auroc``, ``aupr``, and ``threshold``.
    """
    truth, values = _scored(labels, scores)
    predictions = (values > threshold).astype(np.int64)
    plain, adjusted = pointwise_prf(truth, predictions), point_adjusted_prf(truth, predictions)
    return {
        "precision": plain.precision,
        "recall": plain.recall,
        "f1": plain.f1,
        "pa_precision": adjusted.precision,
        "pa_recall": adjusted.recall,
        "pa_f1": adjusted.f1,
        "auroc": auroc(truth, values),
        "aupr": aupr(truth, values),
        "threshold": float(threshold),
    }


def _binary(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as int64 [T] of 0/1, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per time step [T], got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1, found {np.unique(array)[:5]}")
    return array.astype(np.int64)


def _pair(labels: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth, predicted = _binary(labels, "labels"), _binary(predictions, "predictions")
    if truth.shape != predicted.shape:
        raise ValueError(f"labels {truth.shape} and predictions {predicted.shape} differ")
    return truth, predicted


def _scored(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth = _binary(labels, "labels")
    values = np.asarray(scores, dtype=np.float64)
    if values.shape != truth.shape:
        raise ValueError(f"labels {truth.shape} and scores {values.shape} differ")
    if not np.isfinite(values).all():
        raise ValueError("scores hold NaN or infinity")
    if truth.min() == truth.max():
        raise ValueError("AUROC/AUPR need both normal and anomalous steps in labels")
    return truth, values


# anomaly_report's names of the point-adjusted figures -> the names metrics.json uses.
_POINT_ADJUSTED = {"pa_precision": "precision_point_adjusted",
                   "pa_recall": "recall_point_adjusted", "pa_f1": "f1_point_adjusted"}


def detection_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float
                      ) -> dict[str, Any]:
    """Point-wise and point-adjusted P/R/F1, AUROC, AUPR of ``scores`` [T] against
    ``labels`` [T] (0/1), flagging steps with score > ``threshold`` (see the module
    docstring for the keys)."""
    report = anomaly_report(labels, scores, threshold)
    metrics: dict[str, Any] = {_POINT_ADJUSTED.get(key, key): value
                               for key, value in report.items()}
    metrics.update(steps=len(labels), anomalies=int(labels.sum()),
                   segments=len(anomaly_segments(labels)),
                   flagged=int((scores > threshold).sum()))
    return metrics
