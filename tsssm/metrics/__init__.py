"""Metrics of tsssm's tasks that scikit-learn and torchmetrics do not already give, one module
per kind:

    phase           phase recognition (surgical workflow, sleep staging): per-recording
                    accuracy, precision, recall, Jaccard, relaxed scores, edit score
    classification  window classification overall and per group (subject)
    anomaly         point-wise, point-adjusted and composite (event) P/R/F1, the UCR top-score
                    hit, AUROC/AUPR, thresholds from normal scores
    quantile        quantile forecasts: pinball loss, weighted quantile loss, CRPS from the
                    quantiles, coverage and width of the central intervals

Each module's docstring states exactly what its functions compute.

Names load on first use (``tsssm._lazy``): importing one module, such as ``quantile`` for the
app's forecast bands, does not import the others (nor scikit-learn through them).
"""

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "anomaly_report": ".anomaly",
    "anomaly_segments": ".anomaly",
    "aupr": ".anomaly",
    "auroc": ".anomaly",
    "composite_prf": ".anomaly",
    "detection_metrics": ".anomaly",
    "event_recall": ".anomaly",
    "point_adjust": ".anomaly",
    "point_adjusted_prf": ".anomaly",
    "pointwise_prf": ".anomaly",
    "top_score_hit": ".anomaly",
    "train_threshold": ".anomaly",
    "window_classification_report": ".classification",
    "PhaseScores": ".phase",
    "count_transitions": ".phase",
    "edit_score": ".phase",
    "phase_recognition_report": ".phase",
    "phase_scores": ".phase",
    "relaxed_phase_scores": ".phase",
    "segment_labels": ".phase",
    "sleep_staging_report": ".phase",
    "QuantileSums": ".quantile",
    "central_intervals": ".quantile",
    "crps_from_quantiles": ".quantile",
    "interval_coverage": ".quantile",
    "interval_width": ".quantile",
    "pinball_losses": ".quantile",
    "quantile_report": ".quantile",
    "weighted_quantile_losses": ".quantile",
})

__all__ = [
    "PhaseScores",
    "QuantileSums",
    "anomaly_report",
    "anomaly_segments",
    "aupr",
    "auroc",
    "central_intervals",
    "composite_prf",
    "count_transitions",
    "crps_from_quantiles",
    "detection_metrics",
    "edit_score",
    "event_recall",
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
    "top_score_hit",
    "train_threshold",
    "weighted_quantile_losses",
    "window_classification_report",
]
