"""Metrics of window classification (EEG windows, time-series cases), overall and per
group (subject), from scikit-learn's scores."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

from .phase import as_labels

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
    truth = as_labels(y_true, "y_true")
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


