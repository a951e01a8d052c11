"""Metrics of tsssm's tasks that scikit-learn and torchmetrics do not already give, one module
per kind:

    phase           phase recognition (surgical workflow, sleep staging): per-recording
                    accuracy, precision, recall, Jaccard, relaxed scores, edit score
    classification  window classification overall and per group (subject)
    anomaly         point-wise and point-adjusted P/R/F1, AUROC/AUPR, training thresholds

Each module's docstring states exactly what its functions compute.
"""

from .anomaly import (
    anomaly_report,
    anomaly_segments,
    aupr,
    auroc,
    detection_metrics,
    point_adjust,
    point_adjusted_prf,
    pointwise_prf,
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
    "count_transitions",
    "detection_metrics",
    "edit_score",
    "phase_recognition_report",
    "phase_scores",
    "point_adjust",
    "point_adjusted_prf",
    "pointwise_prf",
    "relaxed_phase_scores",
    "segment_labels",
    "sleep_staging_report",
    "train_threshold",
    "window_classification_report",
]
