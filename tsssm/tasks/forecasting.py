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

SPLITS = ("auto", "ett", "ratio")
PREDICTION_COLUMNS = ("model", "window", "timestamp", "variate", "step", "truth", "prediction",
                      "truth_raw", "prediction_raw")


@dataclass
class ForecastingDataConfig:
    """The series and its windows (see ``tsssm.data.ForecastingData.from_file``)."""

    dataset: str  # a bundled data set ("ETTh1") or the path of a CSV/Parquet file
    lookback: int = 96
    horizon: int = 96
    split: str = "auto"
    fill: str = "none"
    scale: bool = True
    time_features: bool = True  # feed calendar features to the model (x_mark)
    date_column: str = "date"
    columns: list[str] | None = None
    allow_irregular: bool = False  # accept unevenly spaced timestamps (default: an error)


def _validate_forecasting(data: ForecastingDataConfig, ctx: Context) -> None:
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
    from tsssm.data.series import DataError, load_series

    data = config.get("data", {})
    if "dataset" not in data:
        raise DataError("config.toml names no data.dataset")
    return load_series(dataset_path(data["dataset"]), data.get("date_column", "date"),
                       data.get("columns"), data.get("fill", "none"),
                       bool(data.get("allow_irregular", False)))


class ForecastingRecipe(Recipe):
    """Forecasting: ``x`` [B, L, V] -> [B, H, V]; see the module docstring."""

    task = "forecasting"
    data: ForecastingData

    def setup(self) -> None:
        cfg = self.config.data
        self.data = tsssm_data.ForecastingData.from_file(
            dataset_path(cfg.dataset), cfg.lookback, cfg.horizon, split=cfg.split,
            fill=cfg.fill, scale=cfg.scale, date_column=cfg.date_column, columns=cfg.columns,
            allow_irregular=cfg.allow_irregular,
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
        module.test_outputs = {}
        return {"test": test}, frame

    def prediction_frame(
        self, model: str, outputs: dict[str, torch.Tensor], prediction_raw: np.ndarray,
        truth_raw: np.ndarray,
    ) -> polars.DataFrame:
        """One row per (window, step, variate), in that order: ``model``, ``window`` (first
        row of the window), ``timestamp`` (of the forecast row), ``variate``, ``step``
        (1..H), ``truth``/``prediction`` (normalised) and ``truth_raw``/``prediction_raw``."""
        index = outputs["index"].numpy()
        n, horizon, n_variates = outputs["prediction"].shape
        rows = self.data.target_rows(index)  # [N, H] rows of the forecast values
        return polars.DataFrame({
            "model": polars.repeat(model, n * horizon * n_variates, eager=True),
            "window": np.repeat(index, horizon * n_variates),
            "timestamp": self.data.timestamps.gather(np.repeat(rows.ravel(), n_variates)),
            "variate": np.tile(np.array(self.data.variates), n * horizon),
            "step": np.tile(np.repeat(np.arange(1, horizon + 1, dtype=np.int32), n_variates), n),
            "truth": outputs["truth"].reshape(-1).numpy(),
            "prediction": outputs["prediction"].reshape(-1).numpy(),
            "truth_raw": truth_raw.reshape(-1).astype(np.float32),
            "prediction_raw": prediction_raw.reshape(-1).astype(np.float32),
        })


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
