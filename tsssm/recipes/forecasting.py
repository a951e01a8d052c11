"""``ForecastingRecipe``: long-horizon forecasting on a bundled or local series.

Data: ``tsssm.data.ForecastingData`` (standard splits, scaled with train statistics, sliding
windows). Models: any registered forecaster, through ``ForecastingModule``. Evaluation: MSE
and MAE on the normalised scale (the literature's convention), overall and per horizon step,
over every test window, and the same two on the original scale; predictions go to
predictions.parquet, one row per (window, step, variate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import polars
import torch

from tsssm.data import BUNDLED_SHA256, ForecastingData, bundled_dataset

from .base import Recipe
from .config import ModelConfig, TrainConfig
from .lightning_module import ForecastingModule
from .loaders import SplitDataModule


def dataset_path(dataset: str) -> Path:
    """The file of ``data.dataset``: a bundled data set (checksum verified) or a path."""
    if dataset in {name.removesuffix(".csv") for name in BUNDLED_SHA256}:
        return bundled_dataset(dataset)
    return Path(dataset)


class ForecastingRecipe(Recipe):
    """Forecasting: ``x`` [B, L, V] -> [B, H, V]; see the module docstring."""

    task = "forecasting"
    data: ForecastingData

    def setup(self) -> None:
        cfg = self.config.data
        self.data = ForecastingData.from_file(
            dataset_path(cfg.dataset), cfg.lookback, cfg.horizon, split=cfg.split,
            fill=cfg.fill, scale=cfg.scale, date_column=cfg.date_column, columns=cfg.columns,
        )

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ForecastingModule:
        return ForecastingModule(
            model.name, model.options, self.data.lookback, self.data.horizon,
            self.data.n_variates, self.data.n_time_features,
            use_time_features=self.config.data.time_features, lr=train.lr,
            weight_decay=train.weight_decay, lr_decay=train.lr_decay, seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches are dicts: ``x`` [B, L, V], ``y`` [B, H, V], ``x_mark`` [B, L, F],
        ``y_mark`` [B, H, F], ``index`` [B] (first row of each window)."""
        return SplitDataModule(self.data.train, self.data.val, self.data.test,
                               train.batch_size, train.seed, train.num_workers)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        if not isinstance(module, ForecastingModule):
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
