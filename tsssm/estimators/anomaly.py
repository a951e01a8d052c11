"""``AnomalyDetector``: reconstruction-based anomaly detection over any registered
``"reconstruction"`` model, and its preset ``ChimeraAnomalyDetector``.

    detector = ChimeraAnomalyDetector(window=64).fit(normal_series)             # [T, C]
    detector.score_samples(series)   # [T]: higher = more anomalous
    detector.predict(series)         # [T]: 1 = anomalous, 0 = normal

Conventions of :class:`AnomalyDetector`, chosen to match ``tsssm.anomaly_metrics`` and
the labels of ``tsssm.data.load_anomaly`` rather than scikit-learn's outlier detectors:
``score_samples`` is higher for MORE anomalous steps (scikit-learn's is higher for normal
ones), ``decision_function`` is ``score_samples - threshold_`` (positive = anomalous), and
``predict`` gives 1 for an anomalous step and 0 for a normal one (not -1/1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from tsssm.data import StandardScaler
from tsssm.data.anomaly import dominant_period, sliding_windows, smoothed_scores
from tsssm.data.series import check_float32_range
from tsssm.data.windows import ReconstructionWindows
from tsssm.metrics import train_threshold
from tsssm.models import model_entry
from tsssm.training import (
    ReconstructionModule,
    SplitDataModule,
    estimator_device,
    estimator_train_config,
    fit,
    optimization_dict,
)

from ._progress import progress

SeriesInput = Any  # an array [T, C] or [T], or a list of them (several series, same C)


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
        check_float32_range(values, [f"channel {c}" for c in range(values.shape[1])], where,
                            "step {}".format)
        series.append(values)
    channels = {s.shape[1] for s in series}
    if len(channels) > 1:
        raise ValueError(f"`{name}`: the series have different channel counts "
                         f"{[s.shape[1] for s in series]}")
    return series, single


class AnomalyDetector(BaseEstimator):
    """Reconstruction-based anomaly detector over a registered ``"reconstruction"`` model;
    see the module docstring for its output conventions.

    ``fit`` standardises the (normal) training series with their per-channel statistics,
    cuts them into windows of ``window`` steps, ``stride`` apart, and trains the model to
    reconstruct them (MSE, AdamW); the last ``validation_fraction`` of each series long
    enough for it is held out for early stopping. A step's score is the squared
    reconstruction error averaged over channels and over the windows (``score_stride``
    apart) that cover it, then, with ``smoothing``, over the steps around it.
    ``threshold_`` comes from normal scores the model was not trained on: those of the
    held-out stretches (the training series' scores where none is held out, which sit lower
    than unseen normal data's and so flag more): their ``quantile`` (``threshold="quantile"``)
    or mean + ``k`` std (``"mean_std"``). Labels are never used.

    Args:
        window, stride, score_stride: window length, and the spacing of the windows trained
            on and scored (``score_stride`` at most ``window``).
        model, model_options: the registered model (None: the preset's ``default_model``)
            and its options (not ``n_chans`` or ``n_times``: they come from the data and
            ``window``).
        smoothing: 1 (the default: none), a number of steps, or ``"period"`` (the training
            series' dominant period, :func:`tsssm.data.dominant_period`, found at ``fit``
            without labels): each step's score becomes the mean of the scores of that many
            steps centred on it (:func:`tsssm.data.smoothed_scores`), for the threshold and
            every score. For collective anomalies, such as an abnormal heartbeat, whose
            steps are each only a little harder to predict; it blurs short ones.
        threshold, quantile, k: how ``threshold_`` is chosen from training scores.
        max_epochs, batch_size, lr, patience, validation_fraction: training.
        random_state: seed of the weights, dropout and shuffling.
        device: ``"auto"`` (a GPU when one is available, for training and prediction),
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        verbose: 0 silent; 1 progress bars (Lightning's while training, tqdm on long
            scoring); 2 also Lightning's notices and model summary.

    Attributes after ``fit``: ``module_`` (the trained ``ReconstructionModule``),
    ``scaler_``, ``n_features_in_`` (channels), ``smoothing_`` (the steps smoothed over),
    ``train_scores_`` (the scores the threshold
    was taken from: the held-out stretches' steps, else the training series', series after
    series), ``threshold_``.
    """

    def __init__(
        self,
        window: int = 64,
        stride: int = 1,
        score_stride: int = 1,
        model: str | None = None,
        model_options: dict[str, Any] | None = None,
        smoothing: int | str = 1,
        threshold: str = "quantile",
        quantile: float = 0.99,
        k: float = 3.0,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        patience: int = 3,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        device: str = "auto",
        verbose: int = 1,
    ) -> None:
        self.window = window
        self.stride = stride
        self.score_stride = score_stride
        self.model = model
        self.model_options = model_options
        self.smoothing = smoothing
        self.threshold = threshold
        self.quantile = quantile
        self.k = k
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    default_model: ClassVar[str | None] = None

    def _model_name(self) -> str:
        name = self.model if self.model is not None else self.default_model
        if name is None or model_entry(name).task != "reconstruction":
            raise ValueError(f"{type(self).__name__}: model {name!r} is not a reconstruction "
                             "model (tsssm.models.list_models('reconstruction'))")
        return name

    def _check_params(self) -> None:
        name = type(self).__name__
        for key in ("window", "stride", "score_stride", "max_epochs", "batch_size", "patience"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: `{key}` must be a positive integer, got {value!r}")
        if self.smoothing != "period" and (isinstance(self.smoothing, bool) or not isinstance(
                self.smoothing, int) or self.smoothing < 1):
            raise ValueError(f"{name}: `smoothing` must be a positive integer or 'period', "
                             f"got {self.smoothing!r}")
        if self.score_stride > self.window:
            raise ValueError(f"{name}: score_stride {self.score_stride} exceeds window "
                             f"{self.window}; some steps would get no score")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{name}: validation_fraction must lie in [0, 1), got "
                             f"{self.validation_fraction!r}")
        self._model_name()
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

    def fit(self, X: SeriesInput, y: None = None) -> AnomalyDetector:
        """Train on normal series ``X`` ([T, C], [T], or a list of them); returns ``self``.
        ``y`` is ignored (unsupervised)."""
        self._check_params()
        series, _ = self._series(X, reset=True)
        self.n_features_in_ = series[0].shape[1]
        self.scaler_ = StandardScaler.fit(np.concatenate(series))
        scaled = [self._scaled(values) for values in series]
        self.smoothing_ = (max(dominant_period(values) for values in scaled)
                           if self.smoothing == "period" else self.smoothing)
        train, val = [], []
        for values in scaled:
            cut = len(values) - round(self.validation_fraction * len(values))
            if min(cut, len(values) - cut) >= self.window:
                train.append(values[:cut])
                val.append(values[cut:])
            else:
                train.append(values)
        train_windows = self._windows(train)
        settings = estimator_train_config(
            self.device, max_epochs=self.max_epochs, patience=self.patience,
            batch_size=min(self.batch_size, len(train_windows)), progress_bar=self.verbose >= 1,
            seed=self.random_state)
        data = SplitDataModule(train_windows, self._windows(val) if val else None, None,
                               settings.batch_size, self.random_state)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.module_ = ReconstructionModule(
                self._model_name(), dict(self.model_options or {}),
                n_chans=self.n_features_in_, n_times=self.window,
                optimization=optimization_dict(lr=self.lr), seed=self.random_state,
            )
            fit(self.module_, data, settings, verbose=self.verbose >= 2)
        self.module_.to(estimator_device(self.device)).eval()
        self.train_scores_ = np.concatenate([self._step_scores(values)
                                             for values in val or train])
        self.threshold_ = train_threshold(self.train_scores_, self.threshold, self.quantile,
                                          self.k)
        return self

    def score_samples(self, X: SeriesInput) -> np.ndarray | list[np.ndarray]:
        """Anomaly score of every step, higher = more anomalous: float64 [T] for one series,
        a list of them for a list of series."""
        check_is_fitted(self, "module_")
        series, single = self._series(X, reset=False)
        scores = [self._step_scores(self._scaled(values))
                  for values in progress(series, "scoring series", self.verbose)]
        return scores[0] if single else scores

    def _step_scores(self, scaled: np.ndarray) -> np.ndarray:
        """Scores [T] of one standardised series [T, C], smoothed over ``smoothing_`` steps."""
        return smoothed_scores(self.module_.series_scores(scaled, self.score_stride),
                               self.smoothing_)

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


class ChimeraAnomalyDetector(AnomalyDetector):
    """Chimera's reconstruction model (``"chimera_anomaly"``) as an :class:`AnomalyDetector`;
    ``model_options`` take its options (``d_model``, ``d_state``, ``n_layers``, ...).

    By default the model predicts each step of a window from the steps before it
    (``objective="predict"``), so an anomaly's error is its surprise given its past;
    ``model_options={"objective": "reconstruct"}`` reconstructs each step from the whole
    window, its own value included, and learns to copy anomalies nearly as well as normal
    steps (see :mod:`tsssm.models.chimera`)."""

    default_model: ClassVar[str | None] = "chimera_anomaly"
