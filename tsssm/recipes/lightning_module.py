"""LightningModules of the recipes: ``RecipeModule`` (what every task shares: AdamW with a
per-epoch decay, per-step seeds, exact epoch sums, eval-mode prediction) and
``ForecastingModule``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from tsssm.models import create_model

Batch = dict[str, torch.Tensor]


class RecipeModule(pl.LightningModule):
    """AdamW (``lr``, ``weight_decay``) whose learning rate is multiplied by ``lr_decay``
    after every epoch, and dropout draws seeded per step from ``seed``. Subclasses call
    ``save_hyperparameters()`` with those four among their arguments."""

    _sums: dict[str, torch.Tensor]  # set by start_sums

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.hparams.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule,
                                                         "interval": "epoch"}}

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Random draws (dropout) depend on (seed, step, rank) only, not on what ran before:
        # a run resumed from a mid-epoch checkpoint then draws exactly what an uninterrupted
        # run draws, without checkpointing RNG states (data-loader set-up also draws numbers).
        torch.manual_seed(hash((self.hparams.seed, self.global_step, self.global_rank)) % 2**62)

    # Validation and test metrics accumulate sums rather than averaging batch means, so that
    # an epoch's value is the mean over all items however they are split into batches and
    # processes.

    def start_sums(self, **shapes: tuple[int, ...]) -> None:
        """Zeroed float64 accumulators, one per keyword, of the given shapes."""
        self._sums = {key: torch.zeros(shape, dtype=torch.float64, device=self.device)
                      for key, shape in shapes.items()}

    def add_sums(self, **values: torch.Tensor | float) -> None:
        """Add ``values`` to the accumulators of the same names."""
        for key, value in values.items():
            self._sums[key] += value

    def reduced_sums(self) -> dict[str, torch.Tensor]:
        """The accumulators summed over every process of the run."""
        return {key: self.trainer.strategy.reduce(value, reduce_op="sum")
                for key, value in self._sums.items()}

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode (no dropout) inside the block; the previous mode after it."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)


class ForecastingModule(RecipeModule):
    """Wraps ``create_model(model_name, ...)``: ``x`` [B, L, V] (+ ``x_mark`` [B, L, F]) ->
    forecast [B, H, V].

    Trains on the MSE, logs ``train_loss`` (per step and epoch) and ``val_loss`` (the MSE over
    every validation window, exact across processes); the test logs ``test_mse`` and
    ``test_mae`` overall and ``test_mse_step{h}`` / ``test_mae_step{h}`` per horizon step
    ``h = 1..H``, all on the normalised scale. After ``trainer.test``, ``test_results`` holds
    those numbers and, when ``keep_test_outputs``, ``test_outputs`` the window starts
    ``index`` [N], ``prediction`` and ``truth`` [N, H, V] (CPU).

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        lookback, horizon, n_variates, n_time_features: the data's shapes.
        use_time_features: feed ``x_mark`` to the model (else ``None``).
        lr, weight_decay, lr_decay: AdamW, its learning rate multiplied by ``lr_decay`` after
            every epoch (1.0: constant; 0.5: Time-Series-Library's "type1" schedule).
        seed: base of the per-step seeds (see ``on_train_batch_start``).
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
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(
            model_name, lookback=lookback, horizon=horizon, n_variates=n_variates,
            n_time_features=n_time_features if use_time_features else 0, **model_options,
        )
        self.keep_test_outputs = False
        self.test_results: dict[str, Any] = {}
        self.test_outputs: dict[str, torch.Tensor] = {}
        self._kept: list[tuple[torch.Tensor, ...]] = []

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, L, V], ``x_mark`` [B, L, F] or None -> [B, H, V]."""
        return self.model(x, x_mark if self.hparams.use_time_features else None)

    def _predict(self, batch: Batch) -> torch.Tensor:
        return self(batch["x"], batch["x_mark"])

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = F.mse_loss(self._predict(batch), batch["y"])
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["y"]))
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
        self._kept = []

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        prediction = self._predict(batch)
        error = (prediction - batch["y"]).double()  # [B, H, V]
        self.add_sums(se=error.square().sum(dim=(0, 2)), ae=error.abs().sum(dim=(0, 2)),
                      n=error.shape[0] * error.shape[2])
        if self.keep_test_outputs:
            self._kept.append((batch["index"].cpu(), prediction.cpu(), batch["y"].cpu()))

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
        if self._kept:
            index, prediction, truth = (torch.cat(parts) for parts in zip(*self._kept, strict=True))
            self.test_outputs = {"index": index, "prediction": prediction, "truth": truth}
            self._kept = []
