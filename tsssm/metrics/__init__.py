"""Metrics of tsssm's tasks that scikit-learn and torchmetrics do not already give, one module
per kind:

    phase           phase recognition (surgical workflow, sleep staging): per-recording
                    accuracy, precision, recall, Jaccard, relaxed scores, edit score
    classification  window classification overall and per group (subject)
    anomaly         point-wise, point-adjusted and composite (event) P/R/F1, the UCR top-score
                    hit, AUROC/AUPR, thresholds from normal scores

Each module's docstring states exactly what its functions compute.
"""

from .anomaly import (
    anomaly_report,
    anomaly_segments,
    aupr,
    auroc,
    composite_prf,
    detection_metrics,
    event_recall,
    point_adjust,
    point_adjusted_prf,
    pointwise_prf,
    top_score_hit,
    train_threshold,
)
from .classification import window_classification_report
from .phase import (
    PhaseScores,
    count_transitions,
    edit_score,
    phase_recognition_report,
    phase_scores,
    relaxed_phase_scores,
    segment_labels,
    sleep_staging_report,
)

__all__ = [
    "PhaseScores",
    "anomaly_report",
    "anomaly_segments",
    "aupr",
    "auroc",
    "composite_prf",
    "count_transitions",
    "detection_metrics",
    "edit_score",
    "event_recall",
    "phase_recognition_report",
    "phase_scores",
    "point_adjust",
    "point_adjusted_prf",
    "pointwise_prf",
    "relaxed_phase_scores",
    "segment_labels",
    "sleep_staging_report",
    "top_score_hit",
    "train_threshold",
    "window_classification_report",
]
