"""Task ``anomaly_detection``: reconstruction-based anomaly detection on one
labelled series.

Data (``AnomalyDataConfig``): the series is standardised with the statistics of its
anomaly-free training prefix ``[0, train_end)``; windows of that prefix train a registered
``"reconstruction"`` model (``chimera_anomaly``), its last ``val_fraction`` (a separate
stretch, cut before windowing) picks the best checkpoint. Labels are never trained on.

Scoring (``tsssm.training.ReconstructionModule.series_scores``): each step's score is the
squared error of the model's output (``chimera_anomaly`` predicts each step from the steps
before it by default), averaged over channels and over the windows that cover it, a
window's first ``score_from`` steps left out, then (``data.smoothing``) averaged over the
steps around it; higher is more anomalous. The threshold comes
from the scores of the prefix's held-out validation stretch alone (windows inside it;
``tsssm.metrics.train_threshold``): normal data the model was not trained on, whose scores
resemble unseen normal data's (the trained-on steps score lower, so a threshold from them
flags more normal steps); a test step is flagged when its score exceeds it. Labels never
choose it.

metrics.json ``test`` (over the steps from ``train_end`` on): ``precision``, ``recall``,
``f1`` are **point-wise** (every step one sample); ``precision_point_adjusted``,
``recall_point_adjusted``, ``f1_point_adjusted`` count a labelled segment as wholly found
once any step of it is flagged (Xu et al. 2018; this inflates the figures, report it beside
the point-wise one); ``event_recall`` (fraction of labelled segments with a flagged step)
and ``composite_f1`` (its harmonic mean with the point-wise precision, Garg et al. 2022);
``top_score_hit`` (1.0 when the highest test score lies within 100 steps of a labelled
segment, the UCR anomaly archive's protocol); ``auroc`` and ``aupr`` are threshold-free;
``threshold``, ``steps``, ``anomalies`` (labelled steps), ``segments`` and ``flagged``
describe the test.
predictions.parquet, one row per test step (series with more channels add one
``value_<channel>`` column each after these):

    model           str       the model
    series          str       series id
    time            float     time step (index or seconds)
    value           float     the series' (first channel's) value
    score           float     anomaly score; higher is more anomalous
    threshold       float     the score above which a step is flagged
    label           int       1 for a labelled anomaly, else 0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars

import tsssm.data as tsssm_data
from tsssm import training
from tsssm.recipes._schema import Context
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ConfigError, ModelConfig, TrainConfig

from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from tsssm.data.anomaly import AnomalySeries
    from tsssm.runs import PredictionWriter
    from tsssm.training import ReconstructionModule, SplitDataModule

THRESHOLD_METHODS = ("quantile", "mean_std")
PREDICTION_COLUMNS = ("model", "series", "time", "value", "score", "threshold", "label")


@dataclass
class AnomalyDataConfig:
    """A labelled series for reconstruction-based anomaly detection (see
    ``tsssm.data.load_anomaly``).

    ``dataset`` is ``"KDD-TSAD_135"``, ``"mitdb"``, ``"yahoo"`` (shipped with aeon/sktime) or
    a ``.csv``/UCR anomaly archive ``.txt`` file. Steps ``[0, train_end)`` are the
    anomaly-free training prefix (``train_end``: the series' own when it defines one, which
    KDD-TSAD and archive files do; required otherwise); the last ``val_fraction`` of it
    picks the best checkpoint; the steps from ``train_end`` on are the test. Models see
    windows of ``window`` steps, ``stride`` apart for training and ``score_stride`` apart
    for scoring. The threshold comes from the scores of the prefix's validation stretch only:
    ``threshold = "quantile"`` (their ``quantile``) or ``"mean_std"`` (mean + ``k`` std).
    ``smoothing``: 1 (none), a number of steps, or ``"period"`` (the training prefix's dominant
    period, ``tsssm.data.dominant_period``, no label read): each step's score becomes the mean
    over that many steps centred on it (``tsssm.data.smoothed_scores``), for the threshold and
    the test alike; for collective anomalies (an abnormal heartbeat), it blurs short ones.
    """

    dataset: str = "KDD-TSAD_135"
    train_end: int | None = None
    window: int = 64
    stride: int = 1
    score_stride: int = 1
    val_fraction: float = 0.2
    threshold: str = "quantile"
    quantile: float = 0.99
    k: float = 3.0
    smoothing: int | Literal["period"] = 1


def _validate_anomaly(data: AnomalyDataConfig, ctx: Context) -> None:
    for key in ("window", "stride", "score_stride"):
        if getattr(data, key) < 1:
            raise ctx.error(f"data.{key}", f"data.{key} must be at least 1")
    if data.score_stride > data.window:
        raise ctx.error("data.score_stride", f"data.score_stride {data.score_stride} exceeds "
                                             f"data.window {data.window}: some steps would "
                                             "get no score")
    if data.train_end is not None and data.train_end < 1:
        raise ctx.error("data.train_end", "data.train_end must be at least 1")
    if not 0 < data.val_fraction < 1:
        raise ctx.error("data.val_fraction", f"data.val_fraction must lie in (0, 1), not "
                                             f"{data.val_fraction}")
    if data.threshold not in THRESHOLD_METHODS:
        raise ctx.error("data.threshold", f"data.threshold must be one of "
                                          f"{list(THRESHOLD_METHODS)}, not {data.threshold!r}")
    if not 0 < data.quantile < 1:
        raise ctx.error("data.quantile", f"data.quantile must lie in (0, 1), not "
                                         f"{data.quantile}")
    if not data.k > 0:
        raise ctx.error("data.k", f"data.k must be positive, not {data.k}")
    if data.smoothing != "period" and data.smoothing < 1:
        raise ctx.error("data.smoothing", f"data.smoothing must be a positive integer or "
                                          f"'period', not {data.smoothing!r}")


class AnomalyRecipe(Recipe):
    """Reconstruction-based anomaly detection; see the module docstring."""

    task = "anomaly_detection"
    series: AnomalySeries
    scaled: np.ndarray  # float32 [T, C], standardised with the training prefix's statistics
    windows: dict[str, np.ndarray]  # "train", "val", "test": float32 [W, C, L]

    @property
    def data(self) -> AnomalyDataConfig:
        return self.config.data

    @property
    def train_end(self) -> int:
        return int(self.series.train_end)

    @property
    def val_start(self) -> int:
        """First step of the prefix's validation stretch ``[val_start, train_end)``."""
        return self.train_end - round(self.data.val_fraction * self.train_end)

    def setup(self) -> None:
        data = self.data
        series = tsssm_data.load_anomaly(data.dataset, train_end=data.train_end)
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
        cut = self.val_start
        if min(cut, end - cut) < data.window:
            raise ConfigError(f"{self.config.source}: the training prefix of {end} steps "
                              f"splits into {cut} training and {end - cut} validation steps "
                              f"(data.val_fraction = {data.val_fraction}); each needs at least "
                              f"data.window = {data.window}")
        if len(series.values) - end < data.window:
            raise ConfigError(f"{self.config.source}: the test part has {len(series.values) - end}"
                              f" steps, fewer than data.window = {data.window}")
        scaler = tsssm_data.StandardScaler.fit(series.values[:end])
        self.scaled = scaler.transform(series.values.astype(np.float64)).astype(np.float32)
        self.windows = {
            "train": tsssm_data.sliding_windows(self.scaled[:cut], data.window, data.stride),
            "val": tsssm_data.sliding_windows(self.scaled[cut:end], data.window, data.stride),
            "test": tsssm_data.sliding_windows(self.scaled[end:], data.window, data.score_stride),
        }

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ReconstructionModule:
        return training.ReconstructionModule(
            model.name, model.options, n_chans=self.scaled.shape[1], n_times=self.data.window,
            optimization=train.optimization(), seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches are dicts: ``x`` [B, C, L] and ``index`` [B]."""
        parts = (tsssm_data.ReconstructionWindows(self.windows[key])
                 for key in ("train", "val", "test"))
        return training.SplitDataModule(*parts, batch_size=train.batch_size, seed=train.seed,
                                        num_workers=train.num_workers)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Scores every test step; the metrics need them all (AUROC ranks them), so the
        scores [T] (float64) and labels [T] are kept, nothing more; the rows go to
        ``predictions`` chunk by chunk."""
        from tsssm.metrics import detection_metrics, train_threshold

        if not isinstance(module, training.ReconstructionModule):
            raise TypeError(f"AnomalyRecipe evaluates a ReconstructionModule, not {module!r}")
        data, end = self.data, self.train_end
        steps = (tsssm_data.dominant_period(self.scaled[:end]) if data.smoothing == "period"
                 else data.smoothing)

        def step_scores(values: np.ndarray) -> np.ndarray:
            return tsssm_data.smoothed_scores(module.series_scores(values, data.score_stride),
                                              steps)

        held_out = step_scores(self.scaled[self.val_start:end])
        threshold = train_threshold(held_out, data.threshold, data.quantile, data.k)
        scores = step_scores(self.scaled)[end:]
        labels = self.series.labels[end:]
        metrics = {"test": detection_metrics(labels, scores, threshold),
                   "train_end": end, "threshold_method": data.threshold,
                   "smoothing_steps": steps,
                   "val_flagged_fraction": float((held_out > threshold).mean())}
        predictions.write_slices(len(scores), lambda start, stop: self.prediction_frame(
            model.name, scores, threshold, start, stop))
        return metrics

    def prediction_frame(self, model: str, scores: np.ndarray, threshold: float,
                         start: int, stop: int) -> polars.DataFrame:
        """One row per test step ``start..stop-1`` of the test ``scores`` [T] (see the
        module docstring)."""
        first, series = self.train_end + start, self.series
        steps, last = stop - start, self.train_end + stop
        columns: dict[str, Any] = {
            "model": polars.repeat(model, steps, eager=True),
            "series": polars.repeat(series.name, steps, eager=True),
            "time": np.arange(first, last, dtype=np.float64),
            "value": series.values[first:last, 0].astype(np.float64),
            "score": scores[start:stop],
            "threshold": np.full(steps, threshold),
            "label": series.labels[first:last],
        }
        if len(series.channel_names) > 1:
            for index, channel in enumerate(series.channel_names):
                columns[f"value_{channel}"] = series.values[first:last, index].astype(np.float64)
        return polars.DataFrame(columns)


def bundled_names() -> frozenset[str]:
    """The labelled series shipped with aeon and sktime (when installed)."""
    return frozenset(tsssm_data.list_anomaly())


TASK = Task(
    name="anomaly_detection",
    model_task="reconstruction",
    summary="flag the anomalous steps of a series by how badly a model trained on its normal "
            "prefix predicts them from their past (or reconstructs them)",
    data_config=AnomalyDataConfig,
    validate=_validate_anomaly,
    derived=("n_chans", "n_times"),
    bundled=bundled_names,
    path_kind="file",
    recipe=AnomalyRecipe,
    prediction_columns=PREDICTION_COLUMNS,
    headline_metrics=("f1", "auroc"),
)
