"""Time-series anomaly detection metrics: point-wise and point-adjusted precision/recall/F1,
event-based (composite) F1, the UCR archive's top-score hit, threshold-free AUROC/AUPR, and
thresholds chosen on normal scores only.

The anomaly functions take per-time-step arrays [T]: ``labels`` 0/1 (1 = anomalous), ``predictions``
0/1, ``scores`` real (higher = more anomalous).

Point adjustment (Xu et al., WWW 2018, "Unsupervised anomaly detection via variational
auto-encoder for seasonal KPIs"): when any step of a true anomaly segment is predicted
anomalous, every step of that segment counts as detected. It rewards a single lucky hit in a
long segment as if the whole segment were found, so it **inflates** scores, often a lot (a
random detector can reach a high point-adjusted F1 on data with long segments; Kim et al., AAAI
2022). Always report it beside the plain point-wise figure, never alone:
:func:`anomaly_report` returns both.

Event-based, without that inflation: the composite F1 (Garg et al., IEEE TNNLS 2022, "An
evaluation of anomaly detection and diagnosis in multivariate time series") is the harmonic
mean of the point-wise precision and the event-wise recall (the fraction of labelled segments
with at least one flagged step), so a hit anywhere in a segment finds it, but every false
alarm still costs precision. The UCR anomaly archive's protocol (Wu & Keogh, IEEE TKDE 2021;
KDD Cup 2021) asks, threshold-free, whether the single highest-scoring step lies within a
labelled segment widened by 100 steps on each side (:func:`top_score_hit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    roc_auc_score,
)

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


def event_recall(labels: ArrayLike, predictions: ArrayLike) -> float:
    """Fraction of the labelled segments with at least one step predicted 1 (0.0 with no
    segment)."""
    truth, predicted = _pair(labels, predictions)
    segments = anomaly_segments(truth)
    found = [predicted[start:end].any() for start, end in segments]
    return float(np.mean(found)) if found else 0.0


def composite_prf(labels: ArrayLike, predictions: ArrayLike) -> PRF:
    """Point-wise precision, event-wise recall (:func:`event_recall`) and their harmonic
    mean, the composite F1 of Garg et al. (see the module docstring)."""
    precision = pointwise_prf(labels, predictions).precision
    recall = event_recall(labels, predictions)
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return PRF(precision, recall, float(f1))


def top_score_hit(labels: ArrayLike, scores: ArrayLike, tolerance: int = 100) -> bool:
    """Whether the highest of ``scores`` [T] lies in a labelled segment widened by
    ``tolerance`` steps each side (the UCR anomaly archive's scoring; the first maximum when
    several steps tie)."""
    truth, values = _scored(labels, scores)
    top = int(np.argmax(values))
    return bool(any(start - tolerance <= top < end + tolerance
                    for start, end in anomaly_segments(truth)))


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
        (point-adjusted, inflated), ``event_recall`` and ``composite_f1`` (event-based),
        ``top_score_hit`` (1.0 or 0.0), ``auroc``, ``aupr``, and ``threshold``.
    """
    truth, values = _scored(labels, scores)
    predictions = (values > threshold).astype(np.int64)
    plain, adjusted = pointwise_prf(truth, predictions), point_adjusted_prf(truth, predictions)
    composite = composite_prf(truth, predictions)
    return {
        "precision": plain.precision,
        "recall": plain.recall,
        "f1": plain.f1,
        "pa_precision": adjusted.precision,
        "pa_recall": adjusted.recall,
        "pa_f1": adjusted.f1,
        "event_recall": composite.recall,
        "composite_f1": composite.f1,
        "top_score_hit": float(top_score_hit(truth, values)),
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
