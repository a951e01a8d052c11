"""Data for tsssm: loading, splitting, scaling and windowing time series.

Forecasting series (``forecasting``), surgical phase recognition (``cholec80``) and sleep
staging (``sleep``) share the labelled-sequence type of ``phase``.

This layer imports neither ``tsssm.models`` nor recipes; it depends on torch, polars and numpy.
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
from .forecasting import ForecastingData, ForecastingWindows
from .phase import PhaseSequence, PhaseSplit, segment_progress, sequence_progress
from .series import FILL_CHOICES, DataError, load_series
from .sleep import SLEEP_STAGES, load_sleep_edf, sleep_edf_split, sleep_edf_subject
from .splits import StandardScaler, ett_borders, ratio_borders, split_borders

__all__ = [
    "BUNDLED_FOLDER_SHA256",
    "BUNDLED_SHA256",
    "CHOLEC80_PHASES",
    "CHOLEC80_TOOLS",
    "CHOLEC80_VIDEO_FPS",
    "DATA_DIR_ENV",
    "FILL_CHOICES",
    "SLEEP_STAGES",
    "ChecksumError",
    "DataError",
    "ForecastingData",
    "ForecastingWindows",
    "PhaseSequence",
    "PhaseSplit",
    "StandardScaler",
    "bundled_dataset",
    "cholec80_split",
    "datasets_dir",
    "ett_borders",
    "file_sha256",
    "load_cholec80",
    "load_series",
    "load_sleep_edf",
    "ratio_borders",
    "read_phase_file",
    "read_tool_file",
    "segment_progress",
    "sequence_progress",
    "sleep_edf_split",
    "sleep_edf_subject",
    "split_borders",
    "time_feature_names",
    "time_features",
]
