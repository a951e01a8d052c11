"""``SMambaForecaster``: S-Mamba (or any registered forecaster) with scikit-learn's conventions.

    forecaster = SMambaForecaster(lookback=96, horizon=24, max_epochs=5).fit(frame)
    forecaster.predict()             # the 24 steps after the end of `frame`, as a frame
    forecaster.predict(other_frame)  # the 24 steps after the end of `other_frame`
    forecaster.score(test_frame)     # negative MSE of every forecast window inside it

A series is a polars or pandas frame (an optional datetime column, then one numeric column per
variate) or an array [time, variates]; ``predict`` answers in the type and scale it was given.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import DataLoader

from tsssm.data import ForecastingWindows, StandardScaler
from tsssm.recipes.lightning_module import ForecastingModule

from ._lightning import quiet_lightning
from ._series import Series, SeriesLayout, as_values, from_values


class SMambaForecaster(BaseEstimator):
    """Multivariate forecaster: the next ``horizon`` steps of every variate from the last
    ``lookback`` steps, trained with MSE on standardised series (scaler fitted in ``fit``).

    Args:
        lookback, horizon: window lengths.
        model: a registered forecasting model name (``tsssm.models.list_models("forecasting")``).
        d_model, d_ff, n_layers, d_state, dropout: model widths (``d_state`` only for S-Mamba).
        max_epochs, batch_size, lr, patience: training; the last ``validation_fraction`` of
            the series is held out for early stopping when it is long enough.
        random_state: seed of the weights, dropout and shuffling.
        verbose: show Lightning's progress bar.

    Attributes after ``fit``: ``module_`` (the trained Lightning module), ``scaler_``,
    ``layout_`` (column names and time step of the training series), ``n_variates_``,
    ``history_`` (the last ``lookback`` standardised rows, the default context).
    """

    def __init__(
        self,
        lookback: int = 96,
        horizon: int = 96,
        model: str = "smamba",
        d_model: int = 128,
        d_ff: int = 128,
        n_layers: int = 2,
        d_state: int = 2,
        dropout: float = 0.1,
        max_epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        patience: int = 3,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.lookback = lookback
        self.horizon = horizon
        self.model = model
        self.d_model = d_model
        self.d_ff = d_ff
        self.n_layers = n_layers
        self.d_state = d_state
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    def _model_options(self) -> dict[str, Any]:
        if self.model == "dlinear":
            return {}
        options = {"d_model": self.d_model, "d_ff": self.d_ff, "n_layers": self.n_layers,
                   "dropout": self.dropout}
        if self.model == "smamba":
            options["d_state"] = self.d_state
        return options

    def _windows(self, values: torch.Tensor) -> ForecastingWindows:
        marks = values.new_zeros(len(values), 0)
        return ForecastingWindows(values, marks, self.lookback, self.horizon)

    def fit(self, y: Series) -> SMambaForecaster:
        """Train on the series ``y`` [time, variates]; returns ``self``."""
        values, layout = as_values(y, "y", min_rows=self.lookback + self.horizon)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        self.scaler_ = StandardScaler.fit(values)
        scaled = torch.from_numpy(self.scaler_.transform(values).astype(np.float32))
        n_val = int(len(scaled) * self.validation_fraction)
        enough_for_val = n_val >= self.horizon and len(scaled) - n_val >= (
            self.lookback + self.horizon
        )
        train_rows = len(scaled) - n_val if enough_for_val else len(scaled)
        train = self._windows(scaled[:train_rows])
        generator = torch.Generator().manual_seed(self.random_state)
        train_loader = DataLoader(train, batch_size=self.batch_size, shuffle=True,
                                  generator=generator)
        val_loader, callbacks = None, []
        if enough_for_val:
            # Validation windows may look back into the training rows; targets never do.
            val = self._windows(scaled[train_rows - self.lookback :])
            val_loader = DataLoader(val, batch_size=self.batch_size)
            callbacks.append(EarlyStopping("val_loss", patience=self.patience))

        pl.seed_everything(self.random_state, verbose=False)
        self.module_ = ForecastingModule(
            self.model, self._model_options(), self.lookback, self.horizon,
            n_variates=values.shape[1], n_time_features=0, use_time_features=False, lr=self.lr,
            seed=self.random_state,
        )
        with quiet_lightning(self.verbose):
            trainer = pl.Trainer(
                max_epochs=self.max_epochs, accelerator="auto", devices=1, logger=False,
                enable_checkpointing=False, enable_progress_bar=self.verbose,
                enable_model_summary=self.verbose, callbacks=callbacks,
            )
            trainer.fit(self.module_, train_loader, val_loader)
        self.module_.eval()
        self.layout_ = layout
        self.n_variates_ = values.shape[1]
        self.history_ = scaled[-self.lookback :]
        return self

    def _forecast(self, context: torch.Tensor) -> torch.Tensor:
        """Standardised contexts [N, lookback, V] -> standardised forecasts [N, horizon, V]."""
        with torch.no_grad():
            return self.module_(context.to(self.module_.device)).cpu()

    def _context(self, y: Series | None) -> tuple[torch.Tensor, SeriesLayout]:
        if y is None:
            return self.history_, self.layout_
        values, layout = as_values(y, "y_context", min_rows=self.lookback,
                                   n_variates=self.n_variates_, like=self.layout_)
        scaled = self.scaler_.transform(values[-self.lookback :]).astype(np.float32)
        return torch.from_numpy(scaled), layout

    def predict(self, y_context: Series | None = None) -> Series:
        """The ``horizon`` steps after the end of ``y_context`` (default: the training series),
        in its own type and scale; frames with a datetime column get future timestamps."""
        check_is_fitted(self, "module_")
        context, layout = self._context(y_context)
        forecast = self._forecast(context[None])[0].double().numpy()
        return from_values(self.scaler_.inverse_transform(forecast), layout)

    def score(self, y: Series) -> float:
        """Negative MSE (standardised scale, as the literature reports it) over every
        (lookback, horizon) window of ``y``; higher is better."""
        check_is_fitted(self, "module_")
        values, _ = as_values(y, "y", min_rows=self.lookback + self.horizon,
                              n_variates=self.n_variates_, like=self.layout_)
        scaled = torch.from_numpy(self.scaler_.transform(values).astype(np.float32))
        loader = DataLoader(self._windows(scaled), batch_size=max(self.batch_size, 64))
        squared, count = 0.0, 0
        for batch in loader:
            error = self._forecast(batch["x"]) - batch["y"]
            squared += error.double().square().sum().item()
            count += error.numel()
        return -squared / count

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags
