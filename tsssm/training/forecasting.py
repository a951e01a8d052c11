"""``ForecastingModule``: any registered forecaster, ``x`` [B, L, V] -> [B, H, V], trained on
the MSE; or, with quantile levels, -> [B, H, V, Q], trained on the pinball loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from tsssm.layers import median_index

from .module import Batch, TaskModule

# Receives each test batch: window starts [B], prediction and truth [B, H, V], and the
# quantiles [B, H, V, Q] of a quantile model (else None).
TestSink = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None], None]


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor, levels: tuple[float, ...]
                 ) -> torch.Tensor:
    """The pinball (quantile) loss: the mean over every point and level ``t`` of
    ``max(t * (y - q), (t - 1) * (y - q))``.

    ``quantiles`` [..., Q] (in the order of ``levels``), ``target`` [...] -> a scalar.
    """
    error = target.unsqueeze(-1) - quantiles  # [..., Q]
    level = quantiles.new_tensor(levels)
    return torch.maximum(level * error, (level - 1.0) * error).mean()


class ForecastingModule(TaskModule):
    """Wraps ``create_model(model_name, ...)``: ``x`` [B, L, V] (+ ``x_mark`` [B, L, F]) ->
    forecast [B, H, V], or [B, H, V, Q] when ``model_options`` set ``quantiles``.

    Point models train on the MSE; quantile models on the :func:`pinball_loss` (the median
    is then their point forecast). Logs ``train_loss`` (per step and epoch), ``val_loss`` (the
    training loss over every validation window, exact across processes: the MSE, or the mean
    pinball loss) and ``val_mse`` (the point forecast's MSE, comparable across point and
    quantile models); the test logs ``test_mse`` and ``test_mae`` of the point forecast
    overall and ``test_mse_step{h}`` / ``test_mae_step{h}`` per horizon step ``h = 1..H``, all
    on the normalised scale. After ``trainer.test``, ``test_results`` holds those numbers.
    When ``test_sink`` is set, every test batch is handed to it as it is predicted:
    ``test_sink(index [B], prediction [B, H, V], truth [B, H, V], quantiles [B, H, V, Q] or
    None)`` (CPU; ``prediction`` is the point forecast), so that a caller can write and score
    predictions without holding them all.

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        lookback, horizon, n_variates, n_time_features: the data's shapes.
        use_time_features: feed ``x_mark`` to the model (else ``None``).
        optimization, seed: see :class:`~tsssm.training.module.TaskModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        lookback: int,
        horizon: int,
        n_variates: int,
        n_time_features: int,
        use_time_features: bool = True,
        optimization: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        shape = {"lookback": lookback, "horizon": horizon, "n_variates": n_variates,
                 "n_time_features": n_time_features if use_time_features else 0}
        super().__init__(model_name, model_options, shape, optimization, seed)
        self.quantiles: tuple[float, ...] | None = self.model.config.quantiles
        self.test_sink: TestSink | None = None
        self.test_results: dict[str, Any] = {}

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, L, V], ``x_mark`` [B, L, F] or None -> [B, H, V] (or [B, H, V, Q])."""
        return self.model(x, x_mark if self.hparams.use_time_features else None)

    def point(self, forecast: torch.Tensor) -> torch.Tensor:
        """The point forecast [B, H, V] of ``forward``'s output (the median of quantiles)."""
        if self.quantiles is None:
            return forecast
        return forecast[..., median_index(self.quantiles)]

    def _predict(self, batch: Batch) -> torch.Tensor:
        return self(batch["x"], batch["x_mark"])

    def loss(self, forecast: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss: MSE of a point forecast, pinball loss of quantiles."""
        if self.quantiles is None:
            return F.mse_loss(forecast, target)
        return pinball_loss(forecast, target, self.quantiles)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self._predict(batch), batch["y"])
        self.log_train_loss(loss, len(batch["y"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self.start_sums(se=(), loss=(), n=())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        forecast = self._predict(batch)
        error = (self.point(forecast) - batch["y"]).double()
        batch_loss = self.loss(forecast.double(), batch["y"].double())
        self.add_sums(se=error.square().sum(), loss=batch_loss * error.numel(),
                      n=error.numel())

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        n = sums["n"].clamp(min=1)
        self.log("val_loss", (sums["loss"] / n).float(), prog_bar=True)
        self.log("val_mse", (sums["se"] / n).float())

    def on_test_epoch_start(self) -> None:
        horizon = self.hparams.horizon
        self.start_sums(se=(horizon,), ae=(horizon,), n=())

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        forecast = self._predict(batch)
        prediction = self.point(forecast)
        error = (prediction - batch["y"]).double()  # [B, H, V]
        self.add_sums(se=error.square().sum(dim=(0, 2)), ae=error.abs().sum(dim=(0, 2)),
                      n=error.shape[0] * error.shape[2])
        if self.test_sink is not None:
            self.test_sink(batch["index"].cpu(), prediction.cpu(), batch["y"].cpu(),
                           None if self.quantiles is None else forecast.cpu())

    def on_test_epoch_end(self) -> None:
        sums = self.reduced_sums()
        mse_step = sums["se"] / sums["n"].clamp(min=1)  # [H]
        mae_step = sums["ae"] / sums["n"].clamp(min=1)
        self.test_results = {
            "mse": mse_step.mean().item(),
            "mae": mae_step.mean().item(),
            "mse_per_step": mse_step.tolist(),
            "mae_per_step": mae_step.tolist(),
        }
        self.log("test_mse", mse_step.mean().float())
        self.log("test_mae", mae_step.mean().float())
        for h in range(len(mse_step)):
            self.log(f"test_mse_step{h + 1}", mse_step[h].float())
            self.log(f"test_mae_step{h + 1}", mae_step[h].float())
