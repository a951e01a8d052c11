"""Chimera's three models as scikit-learn-style estimators.

    ChimeraClassifier(model_options={"d_model": 32}).fit(X, y).predict(X_new)  # X [n, C, T]
    ChimeraForecaster(lookback=96, horizon=24).fit(frame).predict()
    detector = ChimeraAnomalyDetector(window=64).fit(normal_series)             # [T, C]
    detector.score_samples(series)   # [T]: higher = more anomalous
    detector.predict(series)         # [T]: 1 = anomalous, 0 = normal

Conventions of :class:`ChimeraAnomalyDetector`, chosen to match ``tsssm.anomaly_metrics`` and
the labels of ``tsssm.data.load_anomaly`` rather than scikit-learn's outlier detectors:
``score_samples`` is higher for MORE anomalous steps (scikit-learn's is higher for normal
ones), ``decision_function`` is ``score_samples - threshold_`` (positive = anomalous), and
``predict`` gives 1 for an anomalous step and 0 for a normal one (not -1/1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import DataLoader

from tsssm.anomaly_metrics import train_threshold
from tsssm.data import StandardScaler
from tsssm.data.anomaly import sliding_windows
from tsssm.models import model_entry
from tsssm.recipes.reconstruction import ReconstructionModule, ReconstructionWindows

from ._lightning import quiet_lightning
from .classification import WindowClassifier
from .forecasting import SMambaForecaster

SeriesInput = Any  # an array [T, C] or [T], or a list of them (several series, same C)


class ChimeraClassifier(WindowClassifier):
    """Chimera (``"chimera_classifier"``) as a window classifier: ``X`` [n_windows, n_chans,
    n_times] (or ``mne.Epochs``, or [n_windows, n_times] for one channel). ``model_options``
    take the backbone's options (``d_model``, ``d_state``, ``expand``, ``n_layers``, ``d_ff``,
    ``dropout``, ``season_period``, ``bidirectional``, ``backend``). Everything else is
    :class:`WindowClassifier`'s."""

    model_name: ClassVar[str | None] = "chimera_classifier"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # scikit-learn's generic checks demand > 83 % training accuracy on 2-feature blobs
        # (windows of 2 samples) after the few epochs a test affords; a 2-D scan over
        # time needs more. Learning is tested on real windows in our own tests instead.
        tags.classifier_tags.poor_score = True
        return tags


class ChimeraForecaster(SMambaForecaster):
    """Chimera (``"chimera"``) as a multivariate forecaster, with :class:`SMambaForecaster`'s
    data handling, training and ``predict``/``score``.

    Args:
        d_model, d_ff, n_layers, d_state, dropout: backbone sizes.
        season_period: the seasonal lag of the 2-D scan's time direction, in steps.
        Others: see :class:`SMambaForecaster` (``model`` may name another forecaster, whose
            options are then the ones it accepts).
    """

    def __init__(
        self,
        lookback: int = 96,
        horizon: int = 96,
        model: str = "chimera",
        d_model: int = 32,
        d_ff: int = 64,
        n_layers: int = 2,
        d_state: int = 8,
        dropout: float = 0.1,
        season_period: int = 12,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        patience: int = 3,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            lookback=lookback, horizon=horizon, model=model, d_model=d_model, d_ff=d_ff,
            n_layers=n_layers, d_state=d_state, dropout=dropout, max_epochs=max_epochs,
            batch_size=batch_size, lr=lr, patience=patience,
            validation_fraction=validation_fraction, random_state=random_state, verbose=verbose,
        )
        self.season_period = season_period

    def _model_options(self) -> dict[str, Any]:
        options = super()._model_options()
        if self.model == "chimera":
            options.update(d_state=self.d_state, season_period=self.season_period)
        return options


def as_series_list(X: SeriesInput, name: str = "X") -> tuple[list[np.ndarray], bool]:
    """``X`` as a list of float64 series [T_i, C] (one channel count), and whether it was a
    single series. A list or tuple holds several series (of any lengths), unless all its items
    are numbers (one single-channel series); anything else (array, tensor) is one series.

    Raises:
        ValueError: a ragged series (rows of different lengths), non-numeric values, NaN or
            infinity (series, step and channel named), a series that is not [T] or [T, C],
            channel counts that differ, or no series.
    """
    single = not isinstance(X, list | tuple) or all(np.isscalar(item) for item in X)
    items = [X] if single else list(X)
    if single and np.size(X) == 0:
        raise ValueError(f"`{name}` holds no series")
    series = []
    for number, item in enumerate(items):
        where = f"`{name}`" if single else f"`{name}[{number}]`"
        try:
            values = np.asarray(item, dtype=np.float64)
        except ValueError as error:
            if "inhomogeneous" in str(error):
                raise ValueError(f"{where} is ragged (rows of different lengths); each series "
                                 "must be a [T, C] array") from None
            raise ValueError(f"{where} must be numeric: {error}") from None
        except TypeError as error:
            raise ValueError(f"{where} must be numeric: {error}") from None
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError(f"{where} has shape {values.shape}; a series is [T, C] or [T] "
                             "(several series: a list of them)")
        if not np.isfinite(values).all():
            step, channel = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(f"{where} holds NaN or infinity (first at step {step}, channel "
                             f"{channel}); fill or drop them first")
        series.append(values)
    channels = {s.shape[1] for s in series}
    if len(channels) > 1:
        raise ValueError(f"`{name}`: the series have different channel counts "
                         f"{[s.shape[1] for s in series]}")
    return series, single


class ChimeraAnomalyDetector(BaseEstimator):
    """Reconstruction-based anomaly detector over a registered ``"reconstruction"`` model
    (Chimera's by default); see the module docstring for its output conventions.

    ``fit`` standardises the (normal) training series with their per-channel statistics,
    cuts them into windows of ``window`` steps, ``stride`` apart, and trains the model to
    reconstruct them (MSE, AdamW); the last ``validation_fraction`` of each series long
    enough for it is held out for early stopping. A step's score is the squared
    reconstruction error averaged over channels and over the windows (``score_stride``
    apart) that cover it. ``threshold_`` comes from the training series' scores only:
    their ``quantile`` (``threshold="quantile"``) or mean + ``k`` std (``"mean_std"``).

    Args:
        window, stride, score_stride: window length, and the spacing of the windows trained
            on and scored (``score_stride`` at most ``window``).
        model, model_options: the registered model and its options (not ``n_chans`` or
            ``n_times``: they come from the data and ``window``).
        threshold, quantile, k: how ``threshold_`` is chosen from training scores.
        max_epochs, batch_size, lr, patience, validation_fraction: training.
        random_state: seed of the weights, dropout and shuffling.
        verbose: show Lightning's progress bar.

    Attributes after ``fit``: ``module_`` (the trained ``ReconstructionModule``),
    ``scaler_``, ``n_features_in_`` (channels), ``train_scores_`` (scores of the training
    steps, series after series), ``threshold_``.
    """

    def __init__(
        self,
        window: int = 64,
        stride: int = 1,
        score_stride: int = 1,
        model: str = "chimera_anomaly",
        model_options: dict[str, Any] | None = None,
        threshold: str = "quantile",
        quantile: float = 0.99,
        k: float = 3.0,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        patience: int = 3,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.window = window
        self.stride = stride
        self.score_stride = score_stride
        self.model = model
        self.model_options = model_options
        self.threshold = threshold
        self.quantile = quantile
        self.k = k
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        name = type(self).__name__
        for key in ("window", "stride", "score_stride", "max_epochs", "batch_size", "patience"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: `{key}` must be a positive integer, got {value!r}")
        if self.score_stride > self.window:
            raise ValueError(f"{name}: score_stride {self.score_stride} exceeds window "
                             f"{self.window}; some steps would get no score")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{name}: validation_fraction must lie in [0, 1), got "
                             f"{self.validation_fraction!r}")
        if model_entry(self.model).task != "reconstruction":
            raise ValueError(f"{name}: model {self.model!r} is not a reconstruction model")
        clashing = sorted(set(self.model_options or {}) & {"n_chans", "n_times"})
        if clashing:
            raise ValueError(f"{name}: model_options {clashing} come from the data and "
                             "`window`; leave them out")

    def _series(self, X: SeriesInput, reset: bool) -> tuple[list[np.ndarray], bool]:
        """Validated series (see :func:`as_series_list`), each at least one window long and,
        after ``fit``, with the fitted channel count."""
        series, single = as_series_list(X)
        name = type(self).__name__
        for number, values in enumerate(series):
            if len(values) < self.window:
                where = "X" if single else f"X[{number}]"
                raise ValueError(f"{name}: `{where}` has {len(values)} steps, fewer than one "
                                 f"window ({self.window})")
        channels = series[0].shape[1]
        if not reset and channels != self.n_features_in_:
            raise ValueError(f"{name}: X has {channels} channels; the detector was fitted on "
                             f"{self.n_features_in_}")
        return series, single

    def _scaled(self, values: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(values).astype(np.float32)

    def _windows(self, parts: list[np.ndarray]) -> ReconstructionWindows:
        return ReconstructionWindows(np.concatenate(
            [sliding_windows(part, self.window, self.stride) for part in parts]))

    def fit(self, X: SeriesInput, y: None = None) -> ChimeraAnomalyDetector:
        """Train on normal series ``X`` ([T, C], [T], or a list of them); returns ``self``.
        ``y`` is ignored (unsupervised)."""
        self._check_params()
        series, _ = self._series(X, reset=True)
        self.n_features_in_ = series[0].shape[1]
        self.scaler_ = StandardScaler.fit(np.concatenate(series))
        scaled = [self._scaled(values) for values in series]
        train, val = [], []
        for values in scaled:
            cut = len(values) - round(self.validation_fraction * len(values))
            if min(cut, len(values) - cut) >= self.window:
                train.append(values[:cut])
                val.append(values[cut:])
            else:
                train.append(values)
        generator = torch.Generator().manual_seed(self.random_state)
        loader = DataLoader(self._windows(train), batch_size=self.batch_size, shuffle=True,
                            generator=generator)
        val_loader = DataLoader(self._windows(val), batch_size=self.batch_size) if val else None
        callbacks = [EarlyStopping("val_loss", patience=self.patience)] if val else []
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.module_ = ReconstructionModule(
                self.model, dict(self.model_options or {}), n_chans=self.n_features_in_,
                n_times=self.window, lr=self.lr, seed=self.random_state,
            )
            with quiet_lightning(self.verbose):
                trainer = pl.Trainer(
                    max_epochs=self.max_epochs, accelerator="auto", devices=1, logger=False,
                    enable_checkpointing=False, enable_progress_bar=self.verbose,
                    enable_model_summary=self.verbose, callbacks=callbacks,
                    limit_val_batches=1.0 if val else 0,
                )
                trainer.fit(self.module_, loader, val_loader)
        self.module_.eval()
        self.train_scores_ = np.concatenate(
            [self.module_.series_scores(values, self.score_stride) for values in scaled])
        self.threshold_ = train_threshold(self.train_scores_, self.threshold, self.quantile,
                                          self.k)
        return self

    def score_samples(self, X: SeriesInput) -> np.ndarray | list[np.ndarray]:
        """Anomaly score of every step, higher = more anomalous: float64 [T] for one series,
        a list of them for a list of series."""
        check_is_fitted(self, "module_")
        series, single = self._series(X, reset=False)
        scores = [self.module_.series_scores(self._scaled(values), self.score_stride)
                  for values in series]
        return scores[0] if single else scores

    def decision_function(self, X: SeriesInput) -> np.ndarray | list[np.ndarray]:
        """``score_samples(X) - threshold_``: positive for steps flagged anomalous."""
        scores = self.score_samples(X)
        if isinstance(scores, list):
            return [s - self.threshold_ for s in scores]
        return scores - self.threshold_

    def predict(self, X: SeriesInput) -> np.ndarray | list[np.ndarray]:
        """1 for a step whose score exceeds ``threshold_`` (anomalous), else 0: int64 [T]
        (a list of them for a list of series)."""
        margins = self.decision_function(X)
        if isinstance(margins, list):
            return [(m > 0).astype(np.int64) for m in margins]
        return (margins > 0).astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags
