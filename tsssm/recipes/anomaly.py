"""``AnomalyRecipe`` (task ``"anomaly"``): reconstruction-based anomaly detection on one
labelled series.

Data (``AnomalyDataConfig``): the series is standardised with the statistics of its
anomaly-free training prefix ``[0, train_end)``; windows of that prefix train a registered
``"reconstruction"`` model (``chimera_anomaly``), its last ``val_fraction`` (a separate
stretch, cut before windowing) picks the best checkpoint. Labels are never trained on.

Scoring (``reconstruction.ReconstructionModule.series_scores``): each step's score is the
squared reconstruction error, averaged over channels and over the windows that cover it;
higher is more anomalous. The threshold comes from the scores of the training prefix alone
(windows inside the prefix; ``tsssm.anomaly_metrics.train_threshold``); a test step is
flagged when its score exceeds it.

metrics.json ``test`` (over the steps from ``train_end`` on): ``precision``, ``recall``,
``f1`` are **point-wise** (every step one sample); ``precision_point_adjusted``,
``recall_point_adjusted``, ``f1_point_adjusted`` count a labelled segment as wholly found
once any step of it is flagged (Xu et al. 2018; this inflates the figures, report it beside
the point-wise one); ``auroc`` and ``aupr`` are threshold-free; ``threshold``, ``steps``,
``anomalies`` (labelled steps), ``segments`` and ``flagged`` describe the test.
predictions.parquet follows the ``"anomaly"`` schema, one row per test step; ``value`` is the
first channel's value (series with more channels add one ``value_<channel>`` column each).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import lightning.pytorch as pl
import numpy as np
import polars

from tsssm.anomaly_metrics import anomaly_report, anomaly_segments, train_threshold
from tsssm.data import StandardScaler
from tsssm.data.anomaly import AnomalySeries, load_anomaly, sliding_windows

from .base import Recipe
from .config import ConfigError, ModelConfig, TrainConfig
from .loaders import SplitDataModule
from .reconstruction import ReconstructionModule, ReconstructionWindows
from .tasks import AnomalyDataConfig

# anomaly_report's names of the point-adjusted figures -> the names metrics.json uses.
_POINT_ADJUSTED = {"pa_precision": "precision_point_adjusted",
                   "pa_recall": "recall_point_adjusted", "pa_f1": "f1_point_adjusted"}


def detection_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float
                      ) -> dict[str, Any]:
    """Point-wise and point-adjusted P/R/F1, AUROC, AUPR of ``scores`` [T] against
    ``labels`` [T] (0/1), flagging steps with score > ``threshold`` (see the module
    docstring for the keys)."""
    report = anomaly_report(labels, scores, threshold)
    metrics: dict[str, Any] = {_POINT_ADJUSTED.get(key, key): value
                               for key, value in report.items()}
    metrics.update(steps=len(labels), anomalies=int(labels.sum()),
                   segments=len(anomaly_segments(labels)),
                   flagged=int((scores > threshold).sum()))
    return metrics


class AnomalyRecipe(Recipe):
    """Reconstruction-based anomaly detection; see the module docstring."""

    task = "anomaly"
    series: AnomalySeries
    scaled: np.ndarray  # float32 [T, C], standardised with the training prefix's statistics
    windows: dict[str, np.ndarray]  # "train", "val", "test": float32 [W, C, L]

    @property
    def data(self) -> AnomalyDataConfig:
        return self.config.data

    @property
    def train_end(self) -> int:
        return int(self.series.train_end)

    def setup(self) -> None:
        data = self.data
        series = load_anomaly(data.dataset, train_end=data.train_end)
        if data.train_end is not None and series.train_end != data.train_end:
            # Named series and archive files carry their own prefix; a recipe may shorten
            # or move it (the series checks the new prefix holds no labelled anomaly).
            series = dataclasses.replace(series, train_end=data.train_end)
        if series.train_end is None:
            raise ConfigError(f"{self.config.source}: data.train_end: {series.name} defines no "
                              "anomaly-free training prefix; set data.train_end (steps "
                              "[0, train_end) must hold no labelled anomaly)")
        self.series = series
        end = self.train_end
        if not series.labels[end:].any():
            raise ConfigError(f"{self.config.source}: the test part [{end}, "
                              f"{len(series.labels)}) of {series.name} holds no labelled "
                              "anomaly, so detection cannot be scored; lower data.train_end")
        cut = end - round(data.val_fraction * end)
        if min(cut, end - cut) < data.window:
            raise ConfigError(f"{self.config.source}: the training prefix of {end} steps "
                              f"splits into {cut} training and {end - cut} validation steps "
                              f"(data.val_fraction = {data.val_fraction}); each needs at least "
                              f"data.window = {data.window}")
        if len(series.values) - end < data.window:
            raise ConfigError(f"{self.config.source}: the test part has {len(series.values) - end}"
                              f" steps, fewer than data.window = {data.window}")
        scaler = StandardScaler.fit(series.values[:end])
        self.scaled = scaler.transform(series.values.astype(np.float64)).astype(np.float32)
        self.windows = {
            "train": sliding_windows(self.scaled[:cut], data.window, data.stride),
            "val": sliding_windows(self.scaled[cut:end], data.window, data.stride),
            "test": sliding_windows(self.scaled[end:], data.window, data.score_stride),
        }

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ReconstructionModule:
        return ReconstructionModule(
            model.name, model.options, n_chans=self.scaled.shape[1], n_times=self.data.window,
            lr=train.lr, weight_decay=train.weight_decay, lr_decay=train.lr_decay,
            seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches are dicts: ``x`` [B, C, L] and ``index`` [B]."""
        parts = (ReconstructionWindows(self.windows[key]) for key in ("train", "val", "test"))
        return SplitDataModule(*parts, batch_size=train.batch_size, seed=train.seed,
                               num_workers=train.num_workers)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        if not isinstance(module, ReconstructionModule):
            raise TypeError(f"AnomalyRecipe evaluates a ReconstructionModule, not {module!r}")
        data, end = self.data, self.train_end
        train_scores = module.series_scores(self.scaled[:end], data.score_stride)
        threshold = train_threshold(train_scores, data.threshold, data.quantile, data.k)
        scores = module.series_scores(self.scaled, data.score_stride)[end:]
        labels = self.series.labels[end:]
        metrics = {"test": detection_metrics(labels, scores, threshold),
                   "train_end": end, "threshold_method": data.threshold,
                   "train_flagged_fraction": float((train_scores > threshold).mean())}
        return metrics, self.prediction_frame(model.name, scores, threshold)

    def prediction_frame(self, model: str, scores: np.ndarray, threshold: float
                         ) -> polars.DataFrame:
        """One row per test step (see the module docstring)."""
        end, series = self.train_end, self.series
        steps = len(scores)
        columns: dict[str, Any] = {
            "model": polars.repeat(model, steps, eager=True),
            "series": polars.repeat(series.name, steps, eager=True),
            "time": np.arange(end, end + steps, dtype=np.float64),
            "value": series.values[end:, 0].astype(np.float64),
            "score": scores,
            "threshold": np.full(steps, threshold),
            "label": series.labels[end:],
        }
        if len(series.channel_names) > 1:
            for index, channel in enumerate(series.channel_names):
                columns[f"value_{channel}"] = series.values[end:, index].astype(np.float64)
        return polars.DataFrame(columns)
