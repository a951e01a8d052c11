"""Data for tsssm: loading, splitting, scaling and windowing time series.

Forecasting series (``forecasting``); surgical phase recognition (``cholec80``) and sleep
staging (``sleep``), which share the labelled-sequence type of ``phase``; EEG recordings,
preprocessing and windows on MNE (``eeg``); UCR/UEA classification sets (``ucr``) and labelled
anomaly series (``anomaly``).

This layer imports neither ``tsssm.models`` nor recipes; it depends on torch, polars, numpy and
MNE (aeon only for the .ts/.arff readers, imported when used).
"""

from ._bundled import (
    BUNDLED_FOLDER_SHA256,
    BUNDLED_SHA256,
    DATA_DIR_ENV,
    ChecksumError,
    bundled_dataset,
    datasets_dir,
    file_sha256,
)
from .anomaly import (
    AnomalySeries,
    fold_window_scores,
    list_anomaly,
    load_anomaly,
    read_anomaly_csv,
    read_ucr_anomaly_txt,
    sliding_windows,
    window_starts,
)
from .calendar import time_feature_names, time_features
from .cholec80 import (
    CHOLEC80_PHASES,
    CHOLEC80_TOOLS,
    CHOLEC80_VIDEO_FPS,
    cholec80_split,
    load_cholec80,
    read_phase_file,
    read_tool_file,
)
from .eeg import (
    EEGRecording,
    EEGSplit,
    EEGWindows,
    load_bonn,
    load_eegmmidb,
    load_mental_arithmetic,
    subject_split,
)
from .forecasting import ForecastingData, ForecastingWindows
from .phase import PhaseSequence, PhaseSplit, segment_progress, sequence_progress
from .series import FILL_CHOICES, DataError, load_series
from .sleep import SLEEP_STAGES, load_sleep_edf, sleep_edf_split, sleep_edf_subject
from .splits import StandardScaler, ett_borders, ratio_borders, split_borders
from .ucr import (
    UCRData,
    UCRInfo,
    aeon_ucr_problems,
    list_ucr,
    load_ucr,
    read_arff,
    read_ts,
    read_ucr_file,
    read_ucr_text,
)

__all__ = [
    "BUNDLED_FOLDER_SHA256",
    "BUNDLED_SHA256",
    "CHOLEC80_PHASES",
    "CHOLEC80_TOOLS",
    "CHOLEC80_VIDEO_FPS",
    "DATA_DIR_ENV",
    "FILL_CHOICES",
    "SLEEP_STAGES",
    "AnomalySeries",
    "ChecksumError",
    "DataError",
    "EEGRecording",
    "EEGSplit",
    "EEGWindows",
    "ForecastingData",
    "ForecastingWindows",
    "PhaseSequence",
    "PhaseSplit",
    "StandardScaler",
    "UCRData",
    "UCRInfo",
    "aeon_ucr_problems",
    "bundled_dataset",
    "cholec80_split",
    "datasets_dir",
    "ett_borders",
    "file_sha256",
    "fold_window_scores",
    "list_anomaly",
    "list_ucr",
    "load_anomaly",
    "load_bonn",
    "load_cholec80",
    "load_eegmmidb",
    "load_mental_arithmetic",
    "load_series",
    "load_sleep_edf",
    "load_ucr",
    "ratio_borders",
    "read_anomaly_csv",
    "read_arff",
    "read_phase_file",
    "read_tool_file",
    "read_ts",
    "read_ucr_anomaly_txt",
    "read_ucr_file",
    "read_ucr_text",
    "segment_progress",
    "sequence_progress",
    "sleep_edf_split",
    "sleep_edf_subject",
    "sliding_windows",
    "split_borders",
    "subject_split",
    "time_feature_names",
    "time_features",
    "window_starts",
]
