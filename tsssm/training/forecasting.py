"""``ForecastingModule``: any registered forecaster, ``x`` [B, L, V] -> [B, H, V], trained on
the MSE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .module import Batch, TaskModule

# Receives each test batch: window starts [B], prediction and truth [B, H, V].
TestSink = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


class ForecastingModule(TaskModule):
    """Wraps ``create_model(model_name, ...)``: ``x`` [B, L, V] (+ ``x_mark`` [B, L, F]) ->
    forecast [B, H, V].

    Trains on the MSE, logs ``train_loss`` (per step and epoch) and ``val_loss`` (the MSE over
    every validation window, exact across processes); the test logs ``test_mse`` and
    ``test_mae`` overall and ``test_mse_step{h}`` / ``test_mae_step{h}`` per horizon step
    ``h = 1..H``, all on the normalised scale. After ``trainer.test``, ``test_results`` holds
    those numbers. When ``test_sink`` is set, every test batch is handed to it as it is
    predicted: ``test_sink(index [B], prediction [B, H, V], truth [B, H, V])`` (CPU), so
    that a caller can write and score predictions without holding them all.

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
        self.test_sink: TestSink | None = None
        self.test_results: dict[str, Any] = {}

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, L, V], ``x_mark`` [B, L, F] or None -> [B, H, V]."""
        return self.model(x, x_mark if self.hparams.use_time_features else None)

    def _predict(self, batch: Batch) -> torch.Tensor:
        return self(batch["x"], batch["x_mark"])

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = F.mse_loss(self._predict(batch), batch["y"])
        self.log_train_loss(loss, len(batch["y"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self.start_sums(se=(), n=())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        error = (self._predict(batch) - batch["y"]).double()
        self.add_sums(se=error.square().sum(), n=error.numel())

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        self.log("val_loss", (sums["se"] / sums["n"].clamp(min=1)).float(), prog_bar=True)

    def on_test_epoch_start(self) -> None:
        horizon = self.hparams.horizon
        self.start_sums(se=(horizon,), ae=(horizon,), n=())

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        prediction = self._predict(batch)
        error = (prediction - batch["y"]).double()  # [B, H, V]
        self.add_sums(se=error.square().sum(dim=(0, 2)), ae=error.abs().sum(dim=(0, 2)),
                      n=error.shape[0] * error.shape[2])
        if self.test_sink is not None:
            self.test_sink(batch["index"].cpu(), prediction.cpu(), batch["y"].cpu())

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
