"""Data for tsssm: loading, splitting, scaling and windowing time series.

This layer imports neither ``tsssm.models`` nor recipes; it depends on torch, polars and numpy.
"""

from ._bundled import (
    BUNDLED_SHA256,
    DATA_DIR_ENV,
    ChecksumError,
    bundled_dataset,
    datasets_dir,
    file_sha256,
)
from .calendar import time_feature_names, time_features
from .forecasting import ForecastingData, ForecastingWindows
from .series import FILL_CHOICES, DataError, load_series
from .splits import StandardScaler, ett_borders, ratio_borders, split_borders

__all__ = [
    "BUNDLED_SHA256",
    "DATA_DIR_ENV",
    "FILL_CHOICES",
    "ChecksumError",
    "DataError",
    "ForecastingData",
    "ForecastingWindows",
    "StandardScaler",
    "bundled_dataset",
    "datasets_dir",
    "ett_borders",
    "file_sha256",
    "load_series",
    "ratio_borders",
    "split_borders",
    "time_feature_names",
    "time_features",
]
