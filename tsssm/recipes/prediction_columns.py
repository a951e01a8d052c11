"""The columns of ``predictions.parquet``, per task: the one place that defines them.

Recipes write these columns (importing the names from here) and the app reads them; a run
folder whose predictions lack one of the required columns of its task is reported as
corrupt. Every frame starts with ``model`` (the registered model name, main model and
baselines alike); a recipe may add columns of its own after these.

forecasting (``[run] task = "forecasting"``), one row per (window, horizon step, variate):
    model           str       the model
    window          int       first row (in the data file) of the window's lookback
    timestamp       datetime  time of the forecast row
    variate         str       the variate (column of the data file)
    step            int       horizon step, 1..H
    truth           float     true value, normalised with the train statistics
    prediction      float     predicted value, normalised
    truth_raw       float     true value on the data file's scale
    prediction_raw  float     predicted value on the data file's scale

phase (surgical phase recognition, sleep staging), one row per (sequence, labelled second):
    model           str       the model
    sequence        str       video ("video41") or night ("SC4001") id
    second          float     time of the frame or epoch from the sequence start, seconds
    truth           str       true phase or stage name ("Preparation", "N2", ...)
    prediction      str       predicted phase or stage name
    progress        float     predicted progress within the current phase, in [0, 1]
    truth_progress  float     true progress within the true phase, in [0, 1]
    confidence      float     probability the model gives its predicted phase, in [0, 1]

eeg (window classification), one row per (recording, window):
    model           str       the model
    recording       str       recording id
    subject         str       subject id
    start_s         float     window start from the recording start, seconds
    label           str       true class name
    prediction      str       predicted class name
    probability     float     probability of the positive class (binary tasks), else of
                              the predicted class

classification (time-series classification, e.g. UCR), one row per test case:
    model           str       the model
    case            str       case id (its position in the test set, or its name)
    label           str       true class name
    prediction      str       predicted class name
    probability     float     probability of the positive class (binary tasks), else of
                              the predicted class

anomaly (anomaly detection), one row per (series, time step):
    model           str       the model
    series          str       series id
    time            float     time step (index or seconds)
    value           float     the series' value
    score           float     anomaly score; higher is more anomalous
    threshold       float     the score above which a step is flagged
    label           int       1 for a labelled anomaly, else 0
"""

from __future__ import annotations

FORECASTING = ("model", "window", "timestamp", "variate", "step", "truth", "prediction",
               "truth_raw", "prediction_raw")
PHASE = ("model", "sequence", "second", "truth", "prediction", "progress", "truth_progress",
         "confidence")
EEG = ("model", "recording", "subject", "start_s", "label", "prediction", "probability")
CLASSIFICATION = ("model", "case", "label", "prediction", "probability")
ANOMALY = ("model", "series", "time", "value", "score", "threshold", "label")

PREDICTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "forecasting": FORECASTING,
    "phase": PHASE,
    "eeg": EEG,
    "classification": CLASSIFICATION,
    "anomaly": ANOMALY,
}


# The test metrics (keys of metrics.json's "test") that sum up a run of each task, shown by
# `tsssm runs`/`tsssm show` and the app's overview.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "forecasting": ("mse", "mae"),
    "phase": ("accuracy", "jaccard"),
    "eeg": ("balanced_accuracy", "auroc"),
    "classification": ("accuracy", "auroc"),
    "anomaly": ("f1", "auroc"),
    "eeg_pretrain": ("reconstruction_loss", "zero_loss"),
}


def missing_columns(task: str, columns: list[str] | tuple[str, ...]) -> list[str]:
    """The required columns of ``task`` that ``columns`` lacks (none for an unknown task)."""
    present = set(columns)
    return [name for name in PREDICTION_COLUMNS.get(task, ()) if name not in present]
