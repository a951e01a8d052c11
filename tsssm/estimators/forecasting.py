"""``Forecaster``: any registered forecaster as an sktime forecaster, and its presets
``SMambaForecaster`` and ``ChimeraForecaster``.

    forecaster = SMambaForecaster(lookback=96, horizon=24, max_epochs=5)
    forecaster.fit(y)                      # y: pandas Series/DataFrame (its time index kept),
                                           # a polars frame with a datetime column, an array
    forecaster.predict(fh=[1, 2, 3])       # the 3 steps after the end of y, indexed by time
    forecaster.update(y_recent, update_params=False).predict(fh=range(1, 25))
    forecaster.windowed_mse(y_test)        # the literature's MSE over every window of y_test

    probabilistic = SMambaForecaster(quantiles=(0.1, 0.5, 0.9)).fit(y)
    probabilistic.predict_quantiles(fh=[1, 2], alpha=[0.1, 0.9])  # sktime's quantile frame

sktime's conventions (``fit(y, X=None, fh=None)``, ``predict(fh=None, X=None)``, relative or
absolute :class:`~sktime.forecasting.base.ForecastingHorizon`), so the forecasters work in
``TransformedTargetForecaster``, ``ForecastingGridSearchCV`` and ``evaluate``. The network
forecasts ``horizon`` steps at once; ``fh`` picks any of them at predict time, and a step
beyond ``horizon`` (or in the past) is an error. Training goes through
``tsssm.training.fit`` (the best validation epoch is kept).

Departures from a statistical forecaster, stated: ``update`` makes the new observations the
context of the next forecasts but does not re-train the network (refit to re-train), whatever
``update_params`` says; the exogenous ``X`` is ignored.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from tsssm.data import ForecastingWindows, StandardScaler
from tsssm.data.series import check_float32_range
from tsssm.models import model_entry
from tsssm.models.shapes import check_quantiles
from tsssm.training import (
    ForecastingModule,
    SplitDataModule,
    estimator_device,
    estimator_train_config,
    fit,
)

from ._defaults import preset_model_options, preset_optimization
from ._progress import progress
from ._series import from_sktime, to_sktime

try:
    from sktime.forecasting.base import BaseForecaster, ForecastingHorizon
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("tsssm's forecasters are sktime forecasters; install sktime with "
                      "`pip install 'tsssm[sktime]'`") from error


def _check_finite_forecast(forecast: np.ndarray, estimator: str) -> None:
    if not np.isfinite(forecast).all():
        raise FloatingPointError(
            f"{estimator}: the forecast holds NaN or infinite values: the context's scale is "
            "far beyond the training series' (the model's outputs overflowed float32)")


class Forecaster(BaseForecaster):
    """Multivariate forecaster: the next ``horizon`` steps of every variate from the last
    ``lookback`` steps, trained with MSE on standardised series (scaler fitted in ``fit``);
    with ``quantiles``, every level of every step, trained with the pinball loss.

    Args:
        lookback, horizon: window lengths; ``fh`` may ask for any steps ``1..horizon``.
        model: a registered forecasting model (``tsssm.models.list_models("forecasting")``);
            None takes the preset's ``default_model``.
        model_options: options of the model's config (not ``lookback``, ``horizon``,
            ``n_variates`` or ``n_time_features``: they come from the data, nor
            ``quantiles``); a preset's ``default_model_options`` fill in what is not given.
        quantiles: quantile levels to forecast, e.g. ``(0.1, 0.5, 0.9)`` (in (0, 1),
            increasing, with the median 0.5): the model is trained on the pinball loss,
            sktime's ``predict_quantiles(fh, alpha=...)`` gives any of them (and
            ``predict_interval`` the central intervals they hold); ``predict`` gives the
            median. None: point forecasts trained on the MSE.
        max_epochs, batch_size, patience: training (AdamW, no decay on the scan's
            ``A_log``/``D``, norms and biases); the last ``validation_fraction`` of the
            series is held out to keep the best epoch and stop early, when it is long enough.
        lr, weight_decay: the optimiser's; None takes the preset's ``default_optimization``
            (which may also hold a per-epoch ``lr_decay``).
        random_state: seed of the weights, dropout and shuffling.
        device: ``"auto"`` (a GPU when one is available, for training and forecasting),
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        verbose: 0 silent; 1 progress bars (Lightning's while training, tqdm on long
            scoring); 2 also Lightning's notices and model summary.

    Attributes after ``fit``: ``module_`` (the trained ``ForecastingModule``), ``scaler_``,
    ``n_variates_``, ``context_`` (the last ``lookback`` standardised rows [lookback, V], the
    context of the next forecast; ``update`` moves it on), ``columns_`` (the variates'
    names), ``training_`` (per-epoch losses).

    Example:
        >>> import numpy as np, pandas as pd
        >>> from tsssm.estimators import Forecaster
        >>> y = pd.DataFrame({"load": np.sin(np.arange(60) / 3)},
        ...                  index=pd.date_range("2024-01-01", periods=60, freq="h"))
        >>> forecaster = Forecaster(lookback=12, horizon=4, model="dlinear", max_epochs=1,
        ...                         verbose=0)
        >>> forecast = forecaster.fit(y).predict(fh=[1, 2])
        >>> forecast.index[0]
        Timestamp('2024-01-03 12:00:00')
    """

    _tags: ClassVar[dict[str, Any]] = {
        "authors": "tsssm developers",
        "maintainers": "tsssm developers",
        "python_dependencies": ["torch", "lightning"],
        "y_inner_mtype": "pd.DataFrame",
        "X_inner_mtype": "pd.DataFrame",
        "scitype:y": "both",
        "capability:multivariate": True,
        "capability:exogenous": False,
        "capability:insample": False,
        "capability:pred_int": False,
        "capability:missing_values": False,
        "capability:update": True,
        "requires-fh-in-fit": False,
        "capability:random_state": True,
    }
    # The context lives in ``context_``; sktime need not keep every row seen.
    _config: ClassVar[dict[str, Any]] = {"remember_data": False}

    default_model: ClassVar[str | None] = None
    default_model_options: ClassVar[dict[str, Any]] = {}
    default_optimization: ClassVar[dict[str, float]] = {"lr": 1e-3, "weight_decay": 0.0}

    def __init__(
        self,
        lookback: int = 96,
        horizon: int = 96,
        model: str | None = None,
        model_options: dict[str, Any] | None = None,
        quantiles: tuple[float, ...] | None = None,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float | None = None,
        weight_decay: float | None = None,
        patience: int = 3,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        device: str = "auto",
        verbose: int = 1,
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
        super().__init__()
        self.set_tags(**{"capability:pred_int": quantiles is not None})
        # sktime keeps no data here (config remember_data=False), but its checks read these.
        self._y = self._X = None

    # -- public wrappers: polars in, polars out ---------------------------------------------

    def fit(self, y: Any, X: Any = None, fh: Any = None) -> Forecaster:
        """Train on the series ``y`` [time, variates]; returns ``self``. A polars frame's
        datetime column becomes the time index (and comes back in ``predict``)."""
        y, time_column = to_sktime(y, "y")
        super().fit(y, X=X, fh=fh)
        self._time_column = time_column  # after fit: sktime's reset clears other attributes
        return self

    def predict(self, fh: Any = None, X: Any = None) -> Any:
        """Forecasts at ``fh`` (relative steps ``1..horizon`` or absolute times after the
        cutoff), in the type of the series given to ``fit``, indexed by time."""
        forecast = super().predict(fh=fh, X=X)
        return from_sktime(forecast, self._time_column)

    def update(self, y: Any, X: Any = None, update_params: bool = True) -> Forecaster:
        """Append the observations ``y`` after the cutoff: they become the context of the
        next forecasts (the network is not re-trained)."""
        y, _ = to_sktime(y, "y")
        return super().update(y, X=X, update_params=update_params)

    # -- model --------------------------------------------------------------------------

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
        options = preset_model_options(self, self.model, self.default_model)
        if "quantiles" in options:
            raise ValueError(f"{type(self).__name__}: give the quantile levels as "
                             "`quantiles=...`, not in `model_options`")
        levels = check_quantiles(self.quantiles, f"{type(self).__name__}: `quantiles`")
        return options if levels is None else {**options, "quantiles": levels}

    def _windows(self, values: torch.Tensor) -> ForecastingWindows:
        marks = values.new_zeros(len(values), 0)
        return ForecastingWindows(values, marks, self.lookback, self.horizon)

    def _check_steps(self, fh: ForecastingHorizon) -> np.ndarray:
        """The relative steps of ``fh`` (ints, 1-based), refused beyond ``horizon``."""
        steps = np.asarray(fh.to_relative(self.cutoff), dtype=np.int64)
        if steps.max() > self.horizon:
            raise ValueError(f"{type(self).__name__}: the forecasting horizon reaches step "
                             f"{int(steps.max())}; this forecaster forecasts up to "
                             f"horizon={self.horizon} steps (refit with a larger horizon)")
        return steps

    # -- sktime's private interface ---------------------------------------------------------

    def _values(self, y: pd.DataFrame) -> np.ndarray:
        """``y``'s values [time, variates] as float64, refused by name when they hold inf or
        values float32 cannot hold (its dates were checked by ``to_sktime``)."""
        name = type(self).__name__
        values = y.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            row, column = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(f"{name}: `y` has inf values (first at row {row}, variate "
                             f"{y.columns[column]!r}); fill them before forecasting")
        check_float32_range(values, [str(c) for c in y.columns], f"{name}: `y`")
        return values

    def _fit(self, y: pd.DataFrame, X: pd.DataFrame | None = None,
             fh: ForecastingHorizon | None = None) -> Forecaster:
        """Train on ``y`` [time, variates] (numeric; sktime has checked types and NaN)."""
        name = type(self).__name__
        if len(y) < self.lookback + self.horizon:
            raise ValueError(f"{name}: `y` has {len(y)} rows; it needs at least lookback + "
                             f"horizon = {self.lookback + self.horizon}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{name}: validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction}")
        if fh is not None:
            self._check_steps(fh)
        options = self._model_options()
        values = self._values(y)
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
            batch_size=min(self.batch_size, len(train)), progress_bar=self.verbose >= 1,
            seed=self.random_state)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.module_ = ForecastingModule(
                self._model_name(), options, self.lookback, self.horizon,
                n_variates=values.shape[1], n_time_features=0, use_time_features=False,
                optimization=preset_optimization(self),
                seed=self.random_state,
            )
            result = fit(self.module_, SplitDataModule(train, val, None, settings.batch_size,
                                                       self.random_state),
                         settings, verbose=self.verbose >= 2)
        self.module_.to(estimator_device(self.device)).eval()
        self.training_ = result.history
        self.n_variates_ = values.shape[1]
        self.columns_ = y.columns
        self.context_ = scaled[-self.lookback:]
        return self

    def _forecast(self, context: torch.Tensor) -> torch.Tensor:
        """Standardised contexts [N, lookback, V] -> standardised forecasts [N, horizon, V]
        (quantile models: [N, horizon, V, Q], every trained level)."""
        with torch.no_grad():
            return self.module_(context.to(self.module_.device)).cpu()

    def _predict(self, fh: ForecastingHorizon, X: pd.DataFrame | None = None) -> pd.DataFrame:
        """The (median) forecasts [len(fh), V] at ``fh``, indexed by its absolute times."""
        steps = self._check_steps(fh)
        forecast = self.module_.point(self._forecast(self.context_[None]))[0]  # [horizon, V]
        values = self.scaler_.inverse_transform(forecast.double().numpy()[steps - 1])
        _check_finite_forecast(values, type(self).__name__)
        index = fh.to_absolute_index(self.cutoff)
        return pd.DataFrame(values, index=index, columns=self.columns_)

    def _predict_quantiles(self, fh: ForecastingHorizon, X: pd.DataFrame | None,
                           alpha: list[float]) -> pd.DataFrame:
        """sktime's quantile forecasts: rows at ``fh``'s absolute times, columns
        ``(variate, level)`` for every variate and every level of ``alpha``, which must be
        among the fitted ``quantiles`` (the scaler is increasing, so levels keep their
        order)."""
        steps = self._check_steps(fh)
        trained = self.module_.quantiles or ()
        # Levels match to within rounding: predict_interval asks for 0.5 - coverage / 2.
        positions = [next((i for i, fitted in enumerate(trained) if abs(fitted - level) < 1e-9),
                          None) for level in alpha]
        if not trained or None in positions:
            raise ValueError(f"{type(self).__name__}: quantiles {list(alpha)} asked; the "
                             f"forecaster was fitted for the levels {list(trained)} (set "
                             "`quantiles=(...)` before `fit`)")
        forecast = self._forecast(self.context_[None])[0][..., positions]  # [horizon, V, A]
        forecast = forecast.double().numpy()[steps - 1]
        values = np.stack([self.scaler_.inverse_transform(forecast[..., k])
                           for k in range(len(alpha))], axis=-1)  # [len(fh), V, A]
        _check_finite_forecast(values, type(self).__name__)
        columns = pd.MultiIndex.from_product([list(self.columns_), list(alpha)])
        return pd.DataFrame(values.reshape(len(steps), -1), columns=columns,
                            index=fh.to_absolute_index(self.cutoff))

    def _update(self, y: pd.DataFrame, X: pd.DataFrame | None = None,
                update_params: bool = True) -> Forecaster:
        """The new rows ``y`` [time, variates] end the context of the next forecasts."""
        scaled = torch.from_numpy(self.scaler_.transform(self._values(y)).astype(np.float32))
        self.context_ = torch.cat([self.context_, scaled])[-self.lookback:]
        return self

    # -- the literature's figure ------------------------------------------------------------

    def windowed_mse(self, y: Any) -> float:
        """MSE of the (median) forecast on the standardised scale (as the long-term
        forecasting literature reports it) over every (lookback, horizon) window of ``y``
        [time, variates], which has the fitted variates; lower is better."""
        self.check_is_fitted()
        frame, _ = to_sktime(y, "y")
        values = np.asarray(frame, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[1] != self.n_variates_:
            raise ValueError(f"{type(self).__name__}: `y` has shape {values.shape}; the "
                             f"forecaster was fitted on {self.n_variates_} variates")
        if len(values) < self.lookback + self.horizon or not np.isfinite(values).all():
            raise ValueError(f"{type(self).__name__}: `y` needs at least "
                             f"{self.lookback + self.horizon} rows of finite values, got "
                             f"{len(values)} rows")
        scaled = torch.from_numpy(self.scaler_.transform(values).astype(np.float32))
        loader = DataLoader(self._windows(scaled), batch_size=max(self.batch_size, 64))
        squared, count = 0.0, 0
        for batch in progress(loader, "windowed MSE", self.verbose):
            error = self.module_.point(self._forecast(batch["x"])) - batch["y"]
            squared += error.double().square().sum().item()
            count += error.numel()
        return squared / count

    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list[dict[str, Any]]:
        """Tiny configurations for sktime's estimator checks (series of 10 to 50 rows,
        horizons up to 5 steps)."""
        tiny = {"lookback": 4, "horizon": 5, "max_epochs": 1, "batch_size": 8, "verbose": 0,
                "device": "cpu"}
        options = {"d_model": 4, "d_ff": 4, "n_layers": 1, "d_state": 2}
        model = {} if cls.default_model is not None else {"model": "smamba"}
        return [{**tiny, **model, "model_options": options},
                {**tiny, **model, "model_options": options, "lookback": 3, "random_state": 1}]


class SMambaForecaster(Forecaster):
    """S-Mamba (``"smamba"``) as a :class:`Forecaster`; ``model_options`` take its options
    (``d_model``, ``d_ff``, ``n_layers``, ``d_state``, ``dropout``, ...) over these defaults.

    The defaults are the best trial of the ``tsssm tune`` study of ETTh1's S-Mamba recipe at
    horizon 96 (validation MSE; ``benchmarks/tune_smamba_etth1.py``): width 256 (``d_ff``
    256), 2 layers, dropout 0.15, ``lr`` 1.25e-4 halved every epoch (the recipe's decay).

    Example:
        >>> import numpy as np
        >>> from tsssm.estimators import SMambaForecaster
        >>> y = np.sin(np.arange(60) / 3)[:, None]  # [time, variates]; forecasts come back so
        >>> SMambaForecaster(lookback=12, horizon=4, max_epochs=1, verbose=0).fit(
        ...     y).predict(fh=[1, 2, 3]).shape
        (3, 1)
    """

    default_model = "smamba"
    default_model_options: ClassVar[dict[str, Any]] = {
        "d_model": 256, "d_ff": 256, "n_layers": 2, "d_state": 2, "dropout": 0.15}
    default_optimization: ClassVar[dict[str, float]] = {
        "lr": 1.25e-4, "weight_decay": 0.0, "lr_decay": 0.5}


class ChimeraForecaster(Forecaster):
    """Chimera (``"chimera"``) as a :class:`Forecaster`; ``model_options`` take its options
    (``d_model``, ``d_ff``, ``n_layers``, ``d_state``, ``dropout``, ``season_period``, ...)
    over these defaults.

    Example:
        >>> import numpy as np
        >>> from tsssm.estimators import ChimeraForecaster
        >>> y = np.sin(np.arange(60) / 3)[:, None]  # [time, variates]
        >>> ChimeraForecaster(lookback=12, horizon=4, max_epochs=1, verbose=0).fit(
        ...     y).predict(fh=[1, 4]).shape
        (2, 1)
    """

    default_model = "chimera"
    default_model_options: ClassVar[dict[str, Any]] = {
        "d_model": 32, "d_ff": 64, "n_layers": 2, "d_state": 8, "dropout": 0.1,
        "season_period": 12}

    @classmethod
    def get_test_params(cls, parameter_set: str = "default") -> list[dict[str, Any]]:
        """Tiny Chimera configurations for sktime's estimator checks."""
        return [{**params, "model_options": {**params["model_options"], "season_period": 2}}
                for params in super().get_test_params(parameter_set)]
