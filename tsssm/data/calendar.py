"""Calendar features of forecasting windows, as Time-Series-Library's ``timeenc=1``."""

from __future__ import annotations

import numpy as np
import polars as pl

from .series import DataError


def time_feature_names(freq: str = "h") -> tuple[str, ...]:
    """Calendar features of Time-Series-Library's ``timeenc=1`` for ``freq`` "h" or "t"."""
    hourly = ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    if freq == "h":
        return hourly
    if freq == "t":
        return ("minute_of_hour", *hourly)
    raise DataError(f'unknown freq {freq!r}; choose "h" (hourly) or "t" (minutely)')


def time_features(timestamps: pl.Series, freq: str = "h") -> np.ndarray:
    """Calendar features [T, F] in [-0.5, 0.5], as Time-Series-Library's ``timeenc=1``.

    Hour / 23, weekday (Monday 0) / 6, (day of month - 1) / 30, (day of year - 1) / 365, each
    minus 0.5; ``freq="t"`` puts minute / 59 - 0.5 first.
    """
    t = pl.col(timestamps.name)
    exprs = {
        "minute_of_hour": t.dt.minute() / 59,
        "hour_of_day": t.dt.hour() / 23,
        "day_of_week": (t.dt.weekday() - 1) / 6,
        "day_of_month": (t.dt.day() - 1) / 30,
        "day_of_year": (t.dt.ordinal_day() - 1) / 365,
    }
    names = time_feature_names(freq)
    frame = timestamps.to_frame().select([(exprs[n] - 0.5).alias(n) for n in names])
    return np.array(frame.to_numpy(), dtype=np.float32)


def infer_freq(timestamps: pl.Series) -> str:
    """ "t" when the median step is below an hour, else "h"."""
    step = timestamps.diff().dt.total_seconds().median() if len(timestamps) > 1 else None
    return "t" if step is not None and step < 3600 else "h"
