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

and the test rows of the data file (lookbacks included) to inputs.parquet, so that the app
draws a window's lookback without opening any file outside the run folder:

    row             int       row of the data file
    timestamp       datetime  its time
    variate         str       the variate
    value           float     its value on the data file's scale

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
from tsssm import runs, training
from tsssm.data._bundled import BUNDLED_SHA256
from tsssm.recipes._schema import Context
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ModelConfig, TrainConfig

from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl
    import torch

    from tsssm.data import ForecastingData
    from tsssm.runs import PredictionWriter
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
    allow_irregular: bool = False  # accept unevenly spaced timestamps (default: an error)


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
            allow_irregular=cfg.allow_irregular,
        )

    def write_inputs(self) -> None:
        super().write_inputs()
        if self.rank == 0:  # the app draws lookbacks from it, never opening the data file
            runs.write_parquet(self.folder.file(runs.INPUTS), self.test_inputs())

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
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Tests ``module`` batch by batch: each batch's rows go to ``predictions`` and its
        errors on the data file's scale into running sums, so memory stays flat in the
        number of test windows."""
        if not isinstance(module, training.ForecastingModule):
            raise TypeError(f"ForecastingRecipe evaluates a ForecastingModule, not {module!r}")
        raw = _RawErrors()
        levels = module.quantiles
        spread = None if levels is None else _QuantileErrors(levels)

        def write_batch(index: torch.Tensor, prediction: torch.Tensor, truth: torch.Tensor,
                        quantiles: torch.Tensor | None) -> None:
            prediction_raw = self.data.inverse_transform(prediction.double().numpy())
            truth_raw = self.data.inverse_transform(truth.double().numpy())
            raw.add(prediction_raw - truth_raw, len(index))
            frame = self.prediction_frame(
                model.name, index.numpy(), prediction, truth, prediction_raw, truth_raw)
            if quantiles is not None and spread is not None:
                quantiles_raw = self.inverse_quantiles(quantiles.double().numpy())
                spread.add(truth.double().numpy(), quantiles.double().numpy(), truth_raw,
                           quantiles_raw)
                frame = with_quantile_columns(frame, spread.levels, quantiles.numpy(),
                                              quantiles_raw)
            predictions.write(frame)

        module.test_sink = write_batch
        try:
            trainer.test(module, datamodule=self.datamodule(self.config.train_for(model)),
                         verbose=False)
        finally:
            module.test_sink = None
        test = {**module.test_results, **raw.scores()}
        if spread is not None:
            test.update(spread.scores())
        return {"test": test}

    def test_inputs(self) -> polars.DataFrame:
        """inputs.parquet: the rows the test windows read (lookbacks and targets), on the
        data file's scale, one row per (data row, variate): ``row`` (of the data file),
        ``timestamp``, ``variate``, ``value`` (float32, like ``prediction_raw``)."""
        start, end = self.data.borders["test"]
        values = self.data.inverse_transform(self.data.values[start:end].double().numpy())
        n_rows, n_variates = values.shape  # [R, V]
        return polars.DataFrame({
            "row": np.repeat(np.arange(start, end, dtype=np.int64), n_variates),
            "timestamp": self.data.timestamps.slice(start, n_rows).gather(
                np.repeat(np.arange(n_rows), n_variates)),
            "variate": np.tile(np.array(self.data.variates), n_rows),
            "value": values.reshape(-1).astype(np.float32),
        })

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

    def prediction_frame(
        self, model: str, index: np.ndarray, prediction: torch.Tensor, truth: torch.Tensor,
        prediction_raw: np.ndarray, truth_raw: np.ndarray,
    ) -> polars.DataFrame:
        """One row per (window, step, variate) of the windows starting at ``index`` [N] (see
        :func:`forecast_frame`)."""
        rows = self.data.target_rows(index)  # [N, H] rows of the forecast values
        return forecast_frame(model, index, self.data.timestamps.gather(rows.ravel()),
                              self.data.variates, prediction.numpy(), truth.numpy(),
                              prediction_raw, truth_raw)


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


@dataclass
class _RawErrors:
    """Running sums of forecast errors on the data file's scale (float64)."""

    squared: float = 0.0
    absolute: float = 0.0
    values: int = 0
    windows: int = 0

    def add(self, error: np.ndarray, windows: int) -> None:
        """``error`` [B, H, V]: prediction - truth of ``windows`` windows."""
        self.squared += float(np.sum(error**2))
        self.absolute += float(np.sum(np.abs(error)))
        self.values += error.size
        self.windows += windows

    def scores(self) -> dict[str, Any]:
        """``windows``, ``mse_raw`` and ``mae_raw`` over everything added."""
        values = max(self.values, 1)
        return {"windows": self.windows, "mse_raw": self.squared / values,
                "mae_raw": self.absolute / values}


class _QuantileErrors:
    """Running sums of a quantile model's test metrics, on the normalised scale and on the
    data file's (wQL and CRPS, the scale GluonTS and Chronos report)."""

    def __init__(self, levels: tuple[float, ...]) -> None:
        from tsssm.metrics import QuantileSums

        self.levels = levels
        self.scaled, self.raw = QuantileSums(levels), QuantileSums(levels)

    def add(self, truth: np.ndarray, quantiles: np.ndarray, truth_raw: np.ndarray,
            quantiles_raw: np.ndarray) -> None:
        """Truth [B, H, V] and quantiles [B, H, V, Q], normalised and on the file's scale."""
        self.scaled.add(truth, quantiles)
        self.raw.add(truth_raw, quantiles_raw)

    def scores(self) -> dict[str, Any]:
        """``quantiles``, :func:`~tsssm.metrics.quantile_report`'s entries, ``wql_raw`` and
        ``crps_raw``."""
        return {"quantiles": list(self.levels), **self.scaled.report(),
                "wql_raw": float(self.raw.wql().mean()), "crps_raw": self.raw.crps()}


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
