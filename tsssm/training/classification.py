"""``ClassificationModule``: any registered window classifier, windows ``x`` [B, C, T] ->
logits [B, n_outputs], trained on cross-entropy."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tsssm.data.windows import WindowDataset

from .module import Batch, TaskModule


class WindowPredictions(NamedTuple):
    """``probabilities`` float32 [N, n_outputs] and ``labels`` int64 [N] of N windows."""

    probabilities: torch.Tensor
    labels: torch.Tensor


class ClassificationModule(TaskModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=..., n_outputs=...)``: windows
    ``x`` [B, C, T] -> logits [B, n_outputs].

    Batches are dicts of ``x`` [B, C, T], ``y`` [B] and ``index`` [B]. Trains on
    cross-entropy; logs ``train_loss`` (per step and epoch) and, over every validation
    window (exact across batches and processes), ``val_loss`` (mean cross-entropy) and
    ``val_balanced_accuracy`` (mean recall over the classes present, from the summed
    confusion matrix).

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        n_chans, n_times, n_outputs: the windows' shape and the number of classes.
        optimization, seed: see :class:`~tsssm.training.module.TaskModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_chans: int,
        n_times: int,
        n_outputs: int,
        optimization: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(model_name, model_options,
                         {"n_chans": n_chans, "n_times": n_times, "n_outputs": n_outputs},
                         optimization, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T] -> logits [B, n_outputs]."""
        return self.model(x)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = F.cross_entropy(self(batch["x"]), batch["y"])
        self.log_train_loss(loss, len(batch["y"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        n = self.hparams.n_outputs
        self.start_sums(loss=(), confusion=(n, n))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self(batch["x"])
        n = self.hparams.n_outputs
        pairs = batch["y"] * n + logits.argmax(-1)  # truth-major cells
        self.add_sums(loss=F.cross_entropy(logits.double(), batch["y"], reduction="sum"),
                      confusion=torch.bincount(pairs, minlength=n * n).reshape(n, n))

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        confusion = sums["confusion"]  # [truth, prediction]
        windows = confusion.sum().clamp(min=1)
        per_class = confusion.sum(dim=1)
        recall = confusion.diagonal()[per_class > 0] / per_class[per_class > 0]
        self.log("val_loss", (sums["loss"] / windows).float(), prog_bar=True)
        self.log("val_balanced_accuracy", recall.mean().float() if len(recall) else
                 torch.tensor(float("nan")))

    @torch.no_grad()
    def predict_probabilities(self, windows: Dataset, batch_size: int = 64
                              ) -> WindowPredictions:
        """Class probabilities [N, n_outputs] (and labels [N]) of every window of
        ``windows`` (items ``(x [C, T], y)``, in order), in eval mode, on the CPU."""
        probabilities, labels = [], []
        with self.evaluating():
            for batch in DataLoader(WindowDataset(windows), batch_size=batch_size):
                logits = self(batch["x"].to(self.device))
                probabilities.append(logits.float().softmax(-1).cpu())
                labels.append(batch["y"])
        return WindowPredictions(torch.cat(probabilities), torch.cat(labels))
