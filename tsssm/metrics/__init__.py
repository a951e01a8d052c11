"""Metrics of tsssm's tasks that scikit-learn and torchmetrics do not already give, one module
per kind:

    phase           phase recognition (surgical workflow, sleep staging): per-recording
                    accuracy, precision, recall, Jaccard, relaxed scores, edit score
    classification  window classification overall and per group (subject)
    anomaly         point-wise and point-adjusted P/R/F1, AUROC/AUPR, training thresholds
    quantile        quantile forecasts: pinball loss, weighted quantile loss, CRPS from the
                    quantiles, coverage and width of the central intervals

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
from .quantile import (
    QuantileSums,
    central_intervals,
    crps_from_quantiles,
    interval_coverage,
    interval_width,
    pinball_losses,
    quantile_report,
    weighted_quantile_losses,
)

__all__ = [
    "PhaseScores",
    "QuantileSums",
    "anomaly_report",
    "anomaly_segments",
    "aupr",
    "auroc",
    "central_intervals",
    "count_transitions",
    "crps_from_quantiles",
    "detection_metrics",
    "edit_score",
    "interval_coverage",
    "interval_width",
    "phase_recognition_report",
    "phase_scores",
    "pinball_losses",
    "point_adjust",
    "point_adjusted_prf",
    "pointwise_prf",
    "quantile_report",
    "relaxed_phase_scores",
    "segment_labels",
    "sleep_staging_report",
    "train_threshold",
    "weighted_quantile_losses",
    "window_classification_report",
]
