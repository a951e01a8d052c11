"""``Forecaster``: any registered forecaster with scikit-learn's conventions, and its presets
``SMambaForecaster`` and ``ChimeraForecaster``.

    forecaster = SMambaForecaster(lookback=96, horizon=24, max_epochs=5).fit(frame)
    forecaster.predict()             # the 24 steps after the end of `frame`, as a frame
    forecaster.predict(other_frame)  # the 24 steps after the end of `other_frame`
    forecaster.score(test_frame)     # negative MSE of every forecast window inside it

    probabilistic = SMambaForecaster(quantiles=(0.1, 0.5, 0.9)).fit(frame)
    probabilistic.predict(quantiles=(0.1, 0.9))  # columns a_q0.1, a_q0.9, b_q0.1, ...

A series is a polars or pandas frame (an optional datetime column, then one numeric column per
variate) or an array [time, variates]; ``predict`` answers in the type and scale it was given.
Training goes through ``tsssm.training.fit`` (the best validation epoch is kept).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import DataLoader

from tsssm.data import ForecastingWindows, StandardScaler
from tsssm.models import model_entry
from tsssm.models.shapes import check_quantiles
from tsssm.training import (
    ForecastingModule,
    SplitDataModule,
    estimator_train_config,
    fit,
    optimization_dict,
)

from ._series import Series, SeriesLayout, as_values, from_quantile_values, from_values


def _check_finite_forecast(forecast: np.ndarray, estimator: str) -> None:
    if not np.isfinite(forecast).all():
        raise FloatingPointError(
            f"{estimator}: the forecast holds NaN or infinite values: the context's scale is "
            "far beyond the training series' (the model's outputs overflowed float32)")


class Forecaster(BaseEstimator):
    """Multivariate forecaster: the next ``horizon`` steps of every variate from the last
    ``lookback`` steps, trained with MSE on standardised series (scaler fitted in ``fit``);
    with ``quantiles``, every level of every step, trained with the pinball loss.

    Args:
        lookback, horizon: window lengths.
        model: a registered forecasting model (``tsssm.models.list_models("forecasting")``);
            None takes the preset's ``default_model``.
        model_options: options of the model's config (not ``lookback``, ``horizon``,
            ``n_variates`` or ``n_time_features``: they come from the data, nor
            ``quantiles``); a preset's ``default_model_options`` fill in what is not given.
        quantiles: quantile levels to forecast, e.g. ``(0.1, 0.5, 0.9)`` (in (0, 1),
            increasing, with the median 0.5): the model is trained on the pinball loss and
            ``predict(quantiles=...)`` gives any of them; the point forecast is the median.
            None: point forecasts trained on the MSE.
        max_epochs, batch_size, lr, weight_decay, patience: training (AdamW, no decay on the
            scan's ``A_log``/``D``, norms and biases); the last ``validation_fraction`` of
            the series is held out to keep the best epoch and stop early, when it is long
            enough.
        random_state: seed of the weights, dropout and shuffling.
        device: ``"auto"`` (a GPU when one is available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        verbose: show Lightning's progress bar and notices.

    Attributes after ``fit``: ``module_`` (the trained ``ForecastingModule``), ``scaler_``,
    ``layout_`` (column names and time step of the training series), ``n_variates_``,
    ``history_`` (the last ``lookback`` standardised rows, the default context),
    ``training_`` (per-epoch losses).
    """

    default_model: ClassVar[str | None] = None
    default_model_options: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        lookback: int = 96,
        horizon: int = 96,
        model: str | None = None,
        model_options: dict[str, Any] | None = None,
        quantiles: tuple[float, ...] | None = None,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        patience: int = 3,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        device: str = "auto",
        verbose: bool = False,
    ) -> None:
        self.lookback = lookback
        self.horizon = horizon
        self.model = model
        self.model_options = model_options
        self.quantiles = quantiles
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _model_name(self) -> str:
        name = self.model if self.model is not None else self.default_model
        if name is None:
            raise ValueError(f"{type(self).__name__}: set `model` to a registered forecasting "
                             "model (tsssm.models.list_models('forecasting'))")
        if model_entry(name).task != "forecasting":
            raise ValueError(f"{type(self).__name__}: model {name!r} is not a forecasting "
                             "model")
        return name

    def _model_options(self) -> dict[str, Any]:
        """The preset's defaults (only when the preset's model is used), then the user's,
        then the quantile levels (checked)."""
        defaults = self.default_model_options if self.model in (None, self.default_model) \
            else {}
        options = {**defaults, **(self.model_options or {})}
        if "quantiles" in options:
            raise ValueError(f"{type(self).__name__}: give the quantile levels as "
                             "`quantiles=...`, not in `model_options`")
        levels = check_quantiles(self.quantiles, f"{type(self).__name__}: `quantiles`")
        return options if levels is None else {**options, "quantiles": levels}

    def _windows(self, values: torch.Tensor) -> ForecastingWindows:
        marks = values.new_zeros(len(values), 0)
        return ForecastingWindows(values, marks, self.lookback, self.horizon)

    def fit(self, y: Series) -> Forecaster:
        """Train on the series ``y`` [time, variates]; returns ``self``."""
        values, layout = as_values(y, "y", min_rows=self.lookback + self.horizon)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        options = self._model_options()
        self.scaler_ = StandardScaler.fit(values)
        scaled = torch.from_numpy(self.scaler_.transform(values).astype(np.float32))
        n_val = int(len(scaled) * self.validation_fraction)
        enough_for_val = n_val >= self.horizon and len(scaled) - n_val >= (
            self.lookback + self.horizon
        )
        train_rows = len(scaled) - n_val if enough_for_val else len(scaled)
        train = self._windows(scaled[:train_rows])
        # Validation windows may look back into the training rows; targets never do.
        val = self._windows(scaled[train_rows - self.lookback:]) if enough_for_val else None
        settings = estimator_train_config(
            self.device, max_epochs=self.max_epochs, patience=self.patience,
            batch_size=min(self.batch_size, len(train)), progress_bar=self.verbose,
            seed=self.random_state)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.module_ = ForecastingModule(
                self._model_name(), options, self.lookback, self.horizon,
                n_variates=values.shape[1], n_time_features=0, use_time_features=False,
                optimization=optimization_dict(lr=self.lr, weight_decay=self.weight_decay),
                seed=self.random_state,
            )
            result = fit(self.module_, SplitDataModule(train, val, None, settings.batch_size,
                                                       self.random_state),
                         settings, verbose=self.verbose)
        self.module_.eval()
        self.training_ = result.history
        self.layout_ = layout
        self.n_variates_ = values.shape[1]
        self.history_ = scaled[-self.lookback :]
        return self

    def _forecast(self, context: torch.Tensor) -> torch.Tensor:
        """Standardised contexts [N, lookback, V] -> standardised forecasts [N, horizon, V]
        (quantile models: [N, horizon, V, Q], every trained level)."""
        with torch.no_grad():
            return self.module_(context.to(self.module_.device)).cpu()

    def _level_positions(self, quantiles: tuple[float, ...] | list[float]) -> list[int]:
        """Where each asked level sits among the trained ones; a clear error otherwise."""
        trained = self.module_.quantiles
        if trained is None:
            raise ValueError(f"{type(self).__name__} was fitted for point forecasts; set "
                             "`quantiles=(...)` before `fit` to forecast quantiles")
        asked = quantiles if isinstance(quantiles, list | tuple) else [quantiles]
        missing = [level for level in asked if level not in trained]
        if not asked or missing:
            raise ValueError(f"quantiles {list(asked)}: the forecaster was fitted for the "
                             f"levels {list(trained)}; ask for some of those")
        return [trained.index(level) for level in asked]

    def predict_quantile_values(self, y_context: Series | None = None,
                                quantiles: tuple[float, ...] | None = None) -> np.ndarray:
        """The quantiles of the ``horizon`` steps after ``y_context`` (default: the training
        series) on its scale: ``[horizon, n_variates, len(quantiles)]`` (default: every
        trained level)."""
        check_is_fitted(self, "module_")
        context, _ = self._context(y_context)
        return self._quantile_forecast(context, quantiles)

    def _quantile_forecast(self, context: torch.Tensor, quantiles: tuple[float, ...] | None
                           ) -> np.ndarray:
        """A standardised context [lookback, V] -> quantiles [horizon, V, Q] on the data's
        scale (the scaler is increasing, so they keep their order)."""
        positions = self._level_positions(quantiles if quantiles is not None
                                          else self.module_.quantiles or [])
        forecast = self._forecast(context[None])[0][..., positions].double().numpy()
        return np.moveaxis(self.scaler_.inverse_transform(np.moveaxis(forecast, -1, 0)), 0, -1)

    def _context(self, y: Series | None) -> tuple[torch.Tensor, SeriesLayout]:
        if y is None:
            return self.history_, self.layout_
        values, layout = as_values(y, "y_context", min_rows=self.lookback,
                                   n_variates=self.n_variates_, like=self.layout_)
        scaled = self.scaler_.transform(values[-self.lookback :]).astype(np.float32)
        return torch.from_numpy(scaled), layout

    def predict(self, y_context: Series | None = None,
                quantiles: tuple[float, ...] | None = None) -> Series:
        """The ``horizon`` steps after the end of ``y_context`` (default: the training series),
        in its own type and scale; frames with a datetime column get future timestamps.

        ``quantiles``: levels among those fitted; the forecast then holds each of them:
        frames get a column ``<variate>_q<level>`` per variate and level (``a_q0.1``),
        arrays are ``[horizon, n_variates, len(quantiles)]``. None: the point forecast (the
        median of a quantile model).
        """
        check_is_fitted(self, "module_")
        context, layout = self._context(y_context)
        if quantiles is not None:
            asked = tuple(quantiles) if isinstance(quantiles, list | tuple) else (quantiles,)
            forecast = self._quantile_forecast(context, asked)
            _check_finite_forecast(forecast, type(self).__name__)
            return from_quantile_values(forecast, layout, asked)
        forecast = self.module_.point(self._forecast(context[None]))[0].double().numpy()
        forecast = self.scaler_.inverse_transform(forecast)
        _check_finite_forecast(forecast, type(self).__name__)
        return from_values(forecast, layout)

    def score(self, y: Series) -> float:
        """Negative MSE (standardised scale, as the literature reports it) of the point
        forecast over every (lookback, horizon) window of ``y``; higher is better."""
        check_is_fitted(self, "module_")
        values, _ = as_values(y, "y", min_rows=self.lookback + self.horizon,
                              n_variates=self.n_variates_, like=self.layout_)
        scaled = torch.from_numpy(self.scaler_.transform(values).astype(np.float32))
        loader = DataLoader(self._windows(scaled), batch_size=max(self.batch_size, 64))
        squared, count = 0.0, 0
        for batch in loader:
            error = self.module_.point(self._forecast(batch["x"])) - batch["y"]
            squared += error.double().square().sum().item()
            count += error.numel()
        return -squared / count

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags


class SMambaForecaster(Forecaster):
    """S-Mamba (``"smamba"``) as a :class:`Forecaster`; ``model_options`` take its options
    (``d_model``, ``d_ff``, ``n_layers``, ``d_state``, ``dropout``, ...) over these defaults."""

    default_model = "smamba"
    default_model_options: ClassVar[dict[str, Any]] = {
        "d_model": 128, "d_ff": 128, "n_layers": 2, "d_state": 2, "dropout": 0.1}


class ChimeraForecaster(Forecaster):
    """Chimera (``"chimera"``) as a :class:`Forecaster`; ``model_options`` take its options
    (``d_model``, ``d_ff``, ``n_layers``, ``d_state``, ``dropout``, ``season_period``, ...)
    over these defaults."""

    default_model = "chimera"
    default_model_options: ClassVar[dict[str, Any]] = {
        "d_model": 32, "d_ff": 64, "n_layers": 2, "d_state": 8, "dropout": 0.1,
        "season_period": 12}
