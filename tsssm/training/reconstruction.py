"""``ReconstructionModule``: reconstruction-based anomaly scoring, shared by the
``anomaly_detection`` task and ``tsssm.estimators.AnomalyDetector``: a registered
``"reconstruction"`` model learns to reproduce windows of normal data; a time step's anomaly
score is the squared reconstruction error (averaged over channels) of the windows that cover
it, averaged over those windows.

Shapes: T time steps, C channels, W windows of L steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tsssm.data.anomaly import fold_window_scores, sliding_windows

from .module import Batch, WindowTaskModule


class ReconstructionModule(WindowTaskModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=...)``, a ``"reconstruction"``
    model: ``x`` [B, C, L] -> reconstruction [B, C, L].

    Trains on the mean squared error; logs ``train_loss`` and ``val_loss`` (the mean squared
    error over every validation value, exact however the windows are batched).

    Args: those of :class:`~tsssm.training.module.WindowTaskModule`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, L] -> reconstruction [B, C, L]."""
        return self.model(x)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = F.mse_loss(self(batch["x"]), batch["x"])
        self.log_train_loss(loss, len(batch["x"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self.start_sums(se=(), n=())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        error = (self(batch["x"]) - batch["x"]).double()
        self.add_sums(se=error.square().sum(), n=error.numel())

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        self.log("val_loss", (sums["se"] / sums["n"].clamp(min=1)).float(), prog_bar=True)

    @torch.no_grad()
    def window_errors(self, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Squared reconstruction error per step, averaged over channels: windows [W, C, L]
        -> float64 [W, L], in eval mode."""
        errors = []
        with self.evaluating():
            for batch in torch.as_tensor(windows, dtype=torch.float32).split(batch_size):
                batch = batch.to(self.device)
                errors.append((self(batch) - batch).double().square().mean(dim=1).cpu())
        return torch.cat(errors).numpy()

    def series_scores(self, values: np.ndarray, stride: int = 1, batch_size: int = 256
                      ) -> np.ndarray:
        """Anomaly score of every step of a series ``values`` [T, C] (at least one window
        long): the mean of :meth:`window_errors` over the windows, ``stride`` apart, that
        cover the step, leaving out a window's first ``model.score_from`` steps (a model's
        optional attribute, 0 if absent: steps it predicts with too little past) wherever
        another window covers the step. Returns float64 [T]; higher is more anomalous."""
        length = self.hparams.n_times
        windows = sliding_windows(values, length, stride)  # [W, C, L]
        errors = self.window_errors(windows, batch_size)
        return fold_window_scores(errors, len(values), length, stride, reduce="mean",
                                  skip=getattr(self.model, "score_from", 0))
