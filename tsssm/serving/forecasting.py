"""Forecasting runs: forecast every lookback window of a new series.

The series is read as the recipe read its data file (``tsssm.data.read_forecasting_series``:
the run's date column and variates, its ``fill``, the ``start`` and ``frequency`` of a file
without dates), scaled with the train split's statistics recorded in
``preprocessing.json``, and given the calendar features of the run's frequency. Every window
of ``lookback`` rows is forecast ``horizon`` steps ahead: window ``s`` reads rows
``[s, s + L)`` and forecasts rows ``[s + L, s + L + H)``. Forecasts that reach past the last
row get timestamps continued with the series' last step and a null ``truth``; the window
starting at row ``T - L`` is the forecast from the end of the series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from tsssm.data import DataError, StandardScaler, read_forecasting_series
from tsssm.data.calendar import time_features
from tsssm.data.forecasting import ForecastingWindows
from tsssm.tasks.forecasting import dataset_path, forecast_frame, with_quantile_columns

from .predictor import Predictor

BATCH_SIZE = 256


class ForecastPredictor(Predictor):
    """A forecaster of a run; ``predict(data)`` takes a CSV/Parquet path, a bundled name or
    a polars/pandas frame holding the run's date column (datetimes) and variates."""

    task = "forecasting"

    def predict(self, data: Any) -> pl.DataFrame:
        """One row per (window, step, variate) of every window of ``data`` (see the module
        docstring), in the columns of the run's predictions.parquet."""
        frame = self.read(data)
        hparams = self.module.hparams
        lookback, horizon = hparams.lookback, hparams.horizon
        if frame.height < lookback:
            raise DataError(f"the series has {frame.height} rows; the model reads windows of "
                            f"lookback {lookback} rows")
        date_column = self.config.data.date_column
        raw = np.array(frame.drop(date_column).to_numpy(), dtype=np.float64)  # [T, V]
        timestamps = _continued(frame[date_column], horizon)  # [T + H]
        scaler = self.scaler()
        scaled = scaler.transform(raw) if scaler else raw
        padded = np.concatenate([scaled, np.full((horizon, raw.shape[1]), np.nan)])
        windows = ForecastingWindows(
            torch.from_numpy(padded.astype(np.float32)),
            torch.from_numpy(time_features(timestamps, self.inputs["freq"])),
            lookback, horizon, name="data",
        )
        index, truth, forecast = self._forecast(windows)
        levels = self.module.quantiles
        prediction = self.module.point(torch.from_numpy(forecast)).numpy()  # [N, H, V]
        inverse = scaler.inverse_transform if scaler else (lambda values: values)
        rows = index[:, None] + lookback + np.arange(horizon)[None, :]  # [N, H]
        frame = forecast_frame(self.model, index, timestamps.gather(rows.ravel()),
                               tuple(self.inputs["variates"]), prediction, truth,
                               inverse(prediction.astype(np.float64)),
                               inverse(truth.astype(np.float64)))
        if levels is None:
            return frame
        # [N, H, V, Q]: the scaler works on the last axis, V
        raw = np.moveaxis(inverse(np.moveaxis(forecast.astype(np.float64), -1, -2)), -1, -2)
        return with_quantile_columns(frame, levels, forecast, raw)

    def read(self, data: Any) -> pl.DataFrame:
        """``data`` as the date column, then the run's variates (Float64)."""
        cfg, variates = self.config.data, self.inputs["variates"]
        if isinstance(data, str | Path):
            return read_forecasting_series(dataset_path(str(data)), cfg.date_column, variates,
                                           cfg.fill, cfg.start, cfg.frequency,
                                           cfg.allow_irregular)
        module = type(data).__module__.split(".")[0]
        if module not in ("polars", "pandas") or not hasattr(data, "columns"):
            raise DataError(f"forecasting data must be a file path, a bundled name or a "
                            f"polars/pandas frame, not {type(data).__name__}")
        frame = data if module == "polars" else pl.from_pandas(data)
        missing = [c for c in (cfg.date_column, *variates) if c not in frame.columns]
        if missing:
            raise DataError(f"the frame lacks the columns {missing} the model was trained on; "
                            f"its columns: {frame.columns}")
        if not frame.schema[cfg.date_column].is_temporal():
            raise DataError(
                f"column {cfg.date_column!r} holds {frame.schema[cfg.date_column]}, not "
                f"datetimes: parse it first (polars: frame.with_columns(pl.col("
                f"{cfg.date_column!r}).str.to_datetime()); pandas: pd.to_datetime)")
        frame = frame.select(pl.col(cfg.date_column).cast(pl.Datetime("us")),
                             pl.col(variates).cast(pl.Float64))
        bad = frame.select(~pl.col(variates).is_finite().fill_null(False).all())
        not_finite = [name for name in variates if bad[name][0]]
        if not_finite:
            raise DataError(f"the columns {not_finite} hold NaN, inf or null values; fill "
                            "them first")
        return frame

    def scaler(self) -> StandardScaler | None:
        """The train split's scaler of the run (None when the run did not scale)."""
        stats = self.inputs["scaler"]
        return None if stats is None else StandardScaler(np.array(stats["mean"]),
                                                         np.array(stats["std"]))

    @torch.no_grad()
    def _forecast(self, windows: ForecastingWindows) -> tuple[np.ndarray, ...]:
        """Window starts [N], normalised truths [N, H, V] and the model's normalised
        forecasts ([N, H, V], or [N, H, V, Q] quantiles)."""
        from torch.utils.data import DataLoader

        forecasts, truths, starts = [], [], []
        with self.module.evaluating():
            for batch in DataLoader(windows, batch_size=BATCH_SIZE):
                forecasts.append(self.module(batch["x"], batch["x_mark"]).float())
                truths.append(batch["y"])
                starts.append(batch["index"])
        return (torch.cat(starts).numpy(), torch.cat(truths).numpy(),
                torch.cat(forecasts).numpy())


def _continued(timestamps: pl.Series, steps: int) -> pl.Series:
    """``timestamps`` followed by ``steps`` more, each one last step further."""
    if len(timestamps) < 2:
        raise DataError("the series needs at least 2 rows to know its time step")
    step = timestamps[-1] - timestamps[-2]
    extra = pl.Series([timestamps[-1] + step * (i + 1) for i in range(steps)],
                      dtype=timestamps.dtype)
    return timestamps.append(extra).alias(timestamps.name)
