"""Task ``forecasting``: long-horizon forecasting on a bundled or local series.

Data: ``tsssm.data.ForecastingData`` (standard splits, scaled with train statistics, sliding
windows). Models: any registered forecaster, through ``ForecastingModule``. Evaluation: MSE
and MAE on the normalised scale (the literature's convention), overall and per horizon step,
over every test window, and the same two on the original scale; predictions go to
predictions.parquet, one row per (window, step, variate):

    model           str       the model
    window          int       first row (in the data file) of the window's lookback
    timestamp       datetime  time of the forecast row
    variate         str       the variate (column of the data file)
    step            int       horizon step, 1..H
    truth           float     true value, normalised with the train statistics
    prediction      float     predicted value, normalised
    truth_raw       float     true value on the data file's scale
    prediction_raw  float     predicted value on the data file's scale

Quantile forecasts (``model.quantiles = [0.1, 0.5, 0.9]``, levels in (0, 1), increasing, with
the median 0.5; checked when the recipe is read) train on the pinball loss; ``prediction`` is
then the median, and each level adds two columns (wide format, null for the rows of a model
without that level, e.g. a point baseline in the same run):

    q<level>        float     that quantile, normalised (``q0.1``, ``q0.5``, ``q0.9``)
    q<level>_raw    float     that quantile on the data file's scale

and metrics.json's ``test`` gains ``quantiles`` (the levels) and, on the normalised scale, the
metrics of :func:`tsssm.metrics.quantile_report`: ``pinball`` (and per level), ``wql`` (and
per level), ``crps`` (approximated from the quantiles), ``coverage_<P>`` and ``width_<P>`` of
each central interval (``coverage_80`` for 0.1 / 0.9); also ``wql_raw`` and ``crps_raw`` on the
data file's scale (the scale GluonTS and Chronos report wQL on). Baselines forecast points
unless their own table sets ``quantiles``.

Like every task module, this one imports torch and Lightning only when its recipe runs (the
task registry is read by the app and ``tsssm runs``): heavy names are reached through the lazy
``tsssm.data`` and ``tsssm.training`` packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars

import tsssm.data as tsssm_data
from tsssm import training
from tsssm.data._bundled import BUNDLED_SHA256
from tsssm.recipes._schema import Context
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ModelConfig, TrainConfig

from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl
    import torch

    from tsssm.data import ForecastingData
    from tsssm.training import ForecastingModule, SplitDataModule

SPLITS = ("auto", "ett", "pems", "ratio")
PREDICTION_COLUMNS = ("model", "window", "timestamp", "variate", "step", "truth", "prediction",
                      "truth_raw", "prediction_raw")
RAW = "_raw"


def quantile_column(level: float, raw: bool = False) -> str:
    """The predictions.parquet column of quantile ``level``: ``q0.1`` (``q0.1_raw``)."""
    return f"q{level:g}{RAW if raw else ''}"


def quantile_columns(columns: list[str] | tuple[str, ...]) -> dict[float, str]:
    """The data-scale quantile columns among ``columns``, by level, in increasing order."""
    found = {}
    for name in columns:
        if name.startswith("q") and name.endswith(RAW):
            try:
                level = float(name[1:-len(RAW)])
            except ValueError:
                continue
            if 0.0 < level < 1.0 and quantile_column(level, raw=True) == name:
                found[level] = name
    return dict(sorted(found.items()))


@dataclass
class ForecastingDataConfig:
    """The series and its windows (see ``tsssm.data.ForecastingData.from_file``)."""

    dataset: str  # a bundled data set ("ETTh1"), or the path of a CSV/Parquet file, a Solar
    # .txt or a PEMS .npz (see tsssm.data.archive)
    lookback: int = 96
    horizon: int = 96
    split: str = "auto"
    fill: str = "none"
    scale: bool = True
    time_features: bool = True  # feed calendar features to the model (x_mark)
    date_column: str = "date"
    columns: list[str] | None = None
    # Files without dates (Solar .txt, PEMS .npz): the first row's time and the step, a
    # polars duration ("10m", "5m", "1h"; PEMS: "5m" unless given).
    start: str | None = None
    frequency: str | None = None


def _validate_forecasting(data: ForecastingDataConfig, ctx: Context) -> None:
    from tsssm.data.archive import ARCHIVE_FORMATS

    archive = ARCHIVE_FORMATS.get(Path(data.dataset).suffix.lower())
    if archive is not None:
        kind, default_frequency = archive
        for key, value in (("start", data.start), ("frequency", data.frequency or
                                                   default_frequency)):
            if value is None:
                raise ctx.error(f"data.{key}", f"data.{key}: {Path(data.dataset).name} ({kind} "
                                               "format) holds no dates; give data.start (e.g. "
                                               "\"2006-01-01\") and data.frequency (e.g. "
                                               "\"10m\")")
    for key in ("lookback", "horizon"):
        if getattr(data, key) < 1:
            raise ctx.error(f"data.{key}", f"data.{key} must be at least 1")
    if data.fill not in tsssm_data.FILL_CHOICES:
        raise ctx.error("data.fill", f"data.fill must be one of {list(tsssm_data.FILL_CHOICES)}, "
                                     f"not {data.fill!r}")
    if data.split not in SPLITS:
        raise ctx.error("data.split", f"data.split must be one of {list(SPLITS)}, "
                                      f"not {data.split!r}")


def bundled_names() -> frozenset[str]:
    """The bundled series (``"ETTh1"``)."""
    return frozenset(name.removesuffix(".csv") for name in BUNDLED_SHA256)




def dataset_path(dataset: str) -> Path:
    """The file of ``data.dataset``: a bundled data set (checksum verified) or a path."""
    if dataset in bundled_names():
        return tsssm_data.bundled_dataset(dataset)
    return Path(dataset)


def read_series(config: dict[str, Any]) -> polars.DataFrame:
    """The data file a forecasting run read (``[data]`` of its parsed config.toml), on the
    file's scale, as ``tsssm.data.load_series`` returns it: the date column, then the
    variates (for the app's plots of a forecast beside its lookback).

    Raises:
        DataError: the config names no data set, or it cannot be loaded here (moved,
            changed, or a bundled data set that fails its checksum).
        OSError: the file cannot be read.
    """
    from tsssm.data.archive import read_forecasting_series
    from tsssm.data.series import DataError

    data = config.get("data", {})
    if "dataset" not in data:
        raise DataError("config.toml names no data.dataset")
    return read_forecasting_series(
        dataset_path(data["dataset"]), data.get("date_column", "date"), data.get("columns"),
        data.get("fill", "none"), data.get("start"), data.get("frequency"))


class ForecastingRecipe(Recipe):
    """Forecasting: ``x`` [B, L, V] -> [B, H, V] (or [B, H, V, Q] quantiles); see the module
    docstring."""

    task = "forecasting"
    data: ForecastingData

    def setup(self) -> None:
        cfg = self.config.data
        self.data = tsssm_data.ForecastingData.from_file(
            dataset_path(cfg.dataset), cfg.lookback, cfg.horizon, split=cfg.split,
            fill=cfg.fill, scale=cfg.scale, date_column=cfg.date_column, columns=cfg.columns,
            start=cfg.start, frequency=cfg.frequency,
        )

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ForecastingModule:
        return training.ForecastingModule(
            model.name, model.options, self.data.lookback, self.data.horizon,
            self.data.n_variates, self.data.n_time_features,
            use_time_features=self.config.data.time_features,
            optimization=train.optimization(), seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches are dicts: ``x`` [B, L, V], ``y`` [B, H, V], ``x_mark`` [B, L, F],
        ``y_mark`` [B, H, F], ``index`` [B] (first row of each window)."""
        return training.SplitDataModule(self.data.train, self.data.val, self.data.test,
                               train.batch_size, train.seed, train.num_workers)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        if not isinstance(module, training.ForecastingModule):
            raise TypeError(f"ForecastingRecipe evaluates a ForecastingModule, not {module!r}")
        module.keep_test_outputs = True
        trainer.test(module, datamodule=self.datamodule(self.config.train_for(model)),
                     verbose=False)
        outputs = module.test_outputs
        prediction_raw = self.data.inverse_transform(outputs["prediction"].double().numpy())
        truth_raw = self.data.inverse_transform(outputs["truth"].double().numpy())
        test = {
            **module.test_results,
            "windows": len(outputs["index"]),
            "mse_raw": float(np.mean((prediction_raw - truth_raw) ** 2)),
            "mae_raw": float(np.mean(np.abs(prediction_raw - truth_raw))),
        }
        frame = self.prediction_frame(model.name, outputs, prediction_raw, truth_raw)
        if module.quantiles is not None:
            quantiles_raw = self.inverse_quantiles(outputs["quantiles"].double().numpy())
            test.update(self.quantile_metrics(module.quantiles, outputs, quantiles_raw,
                                              truth_raw))
            frame = with_quantile_columns(frame, module.quantiles,
                                          outputs["quantiles"].numpy(), quantiles_raw)
        module.test_outputs = {}
        return {"test": test}, frame

    def prediction_inputs(self) -> dict[str, Any]:
        """The variates, the calendar-feature frequency and the train split's scaling
        statistics (None when ``data.scale`` is off)."""
        from tsssm.data.calendar import infer_freq

        data, scaler = self.data, self.data.scaler
        return {
            "variates": list(data.variates),
            "freq": infer_freq(data.timestamps),
            "scaler": None if scaler is None else {"mean": scaler.mean.tolist(),
                                                   "std": scaler.std.tolist()},
        }

    def inverse_quantiles(self, quantiles: np.ndarray) -> np.ndarray:
        """Quantiles [N, H, V, Q] (normalised) on the data file's scale, same shape."""
        return np.moveaxis(self.data.inverse_transform(np.moveaxis(quantiles, -1, -2)), -1, -2)

    @staticmethod
    def quantile_metrics(levels: tuple[float, ...], outputs: dict[str, torch.Tensor],
                         quantiles_raw: np.ndarray, truth_raw: np.ndarray) -> dict[str, Any]:
        """metrics.json's quantile entries (see the module docstring)."""
        from tsssm.metrics import crps_from_quantiles, quantile_report, weighted_quantile_losses

        truth, quantiles = outputs["truth"].double().numpy(), outputs["quantiles"].double().numpy()
        return {
            "quantiles": list(levels),
            **quantile_report(truth, quantiles, levels),
            "wql_raw": float(weighted_quantile_losses(truth_raw, quantiles_raw, levels).mean()),
            "crps_raw": crps_from_quantiles(truth_raw, quantiles_raw, levels),
        }

    def prediction_frame(
        self, model: str, outputs: dict[str, torch.Tensor], prediction_raw: np.ndarray,
        truth_raw: np.ndarray,
    ) -> polars.DataFrame:
        """The test windows' rows (see :func:`forecast_frame`)."""
        index = outputs["index"].numpy()
        rows = self.data.target_rows(index)  # [N, H] rows of the forecast values
        return forecast_frame(model, index, self.data.timestamps.gather(rows.ravel()),
                              self.data.variates, outputs["prediction"].numpy(),
                              outputs["truth"].numpy(), prediction_raw, truth_raw)


def forecast_frame(
    model: str, index: np.ndarray, timestamps: polars.Series, variates: tuple[str, ...],
    prediction: np.ndarray, truth: np.ndarray, prediction_raw: np.ndarray,
    truth_raw: np.ndarray,
) -> polars.DataFrame:
    """One row per (window, step, variate), in that order: ``model``, ``window`` (``index``
    [N], first row of each window), ``timestamp`` (``timestamps`` [N * H], of each forecast
    row, window-major), ``variate``, ``step`` (1..H), ``truth``/``prediction`` ([N, H, V],
    normalised) and ``truth_raw``/``prediction_raw`` (on the data's scale). A NaN truth (a
    forecast past the end of the data) becomes null."""
    n, horizon, n_variates = prediction.shape
    return polars.DataFrame({
        "model": polars.repeat(model, n * horizon * n_variates, eager=True),
        "window": np.repeat(index, horizon * n_variates),
        "timestamp": timestamps.gather(np.repeat(np.arange(n * horizon), n_variates)),
        "variate": np.tile(np.array(variates), n * horizon),
        "step": np.tile(np.repeat(np.arange(1, horizon + 1, dtype=np.int32), n_variates), n),
        "truth": truth.reshape(-1).astype(np.float32),
        "prediction": prediction.reshape(-1).astype(np.float32),
        "truth_raw": truth_raw.reshape(-1).astype(np.float32),
        "prediction_raw": prediction_raw.reshape(-1).astype(np.float32),
    }).fill_nan(None)


def with_quantile_columns(frame: polars.DataFrame, levels: tuple[float, ...],
                          quantiles: np.ndarray, quantiles_raw: np.ndarray) -> polars.DataFrame:
    """``frame`` (rows of :func:`forecast_frame`) with a ``q<level>`` and ``q<level>_raw``
    column per level, from ``quantiles`` [N, H, V, Q] (normalised) and ``quantiles_raw``."""
    return frame.with_columns(
        column for i, level in enumerate(levels) for column in (
            polars.Series(quantile_column(level), quantiles[..., i].reshape(-1)
                          .astype(np.float32)),
            polars.Series(quantile_column(level, raw=True),
                          quantiles_raw[..., i].reshape(-1).astype(np.float32)),
        ))


TASK = Task(
    name="forecasting",
    model_task="forecasting",
    summary="forecast every variate of a series H steps ahead from the last L steps",
    data_config=ForecastingDataConfig,
    validate=_validate_forecasting,
    derived=("lookback", "horizon", "n_variates", "n_time_features"),
    bundled=bundled_names,
    path_kind="file",
    recipe=ForecastingRecipe,
    prediction_columns=PREDICTION_COLUMNS,
    headline_metrics=("mse", "mae"),
)
