"""``ClassificationModule``: any registered window classifier, windows ``x`` [B, C, T] ->
logits, trained on the loss the shape of the labels calls for:

- ``y`` [B] (one class per window), logits [B, K]: cross-entropy;
- ``y`` [B, M] (M independent binary outputs, e.g. artifact or not per channel), logits
  [B, M]: binary cross-entropy on the logits (BCE-with-logits), K = 2;
- ``y`` [B, M] (one class of K per output, e.g. the artifact type per channel), logits
  [B, M, K]: cross-entropy over the K classes of each output.

Every loss is the mean over all (window, output) labels; K is ``n_outputs``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tsssm.data.windows import WindowDataset

from .module import Batch, TaskModule


class WindowPredictions(NamedTuple):
    """``probabilities`` float32 [N, K] and ``labels`` int64 [N] of N windows, or [N, M, K]
    and [N, M] for M outputs per window (K = 2 for independent binary outputs)."""

    probabilities: torch.Tensor
    labels: torch.Tensor


def _per_output_binary(logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether ``logits`` are one binary logit per label of ``y`` (else K class logits per
    label, on the last axis).

    Raises:
        ValueError: the shapes fit neither (both named).
    """
    if y.dim() == 2 and logits.shape == y.shape:
        return True
    if logits.dim() == y.dim() + 1 and logits.shape[:-1] == y.shape:
        return False
    raise ValueError(f"the model's logits {tuple(logits.shape)} fit neither one class per "
                     f"label of {tuple(y.shape)} ([..., K]) nor one binary logit per label")


def classification_loss(logits: torch.Tensor, y: torch.Tensor,
                        reduction: str = "mean") -> torch.Tensor:
    """The loss of ``logits`` against labels ``y`` (see the module docstring): BCE-with-
    logits for one binary logit per label, else cross-entropy over the last axis."""
    if _per_output_binary(logits, y):
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype),
                                                  reduction=reduction)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                           reduction=reduction)


def class_probabilities(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Probabilities [*y.shape, K] of the classes of each label: the softmax of K class
    logits, or (1 - sigmoid, sigmoid) of one binary logit (K = 2)."""
    if _per_output_binary(logits, y):
        positive = logits.sigmoid()
        return torch.stack([1 - positive, positive], dim=-1)
    return logits.softmax(-1)


class ClassificationModule(TaskModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=..., n_outputs=...)``: windows
    ``x`` [B, C, T] -> logits [B, n_outputs] (or per output, see the module docstring).

    Batches are dicts of ``x`` [B, C, T], ``y`` [B] (or [B, M]) and ``index`` [B]. Trains on
    :func:`classification_loss`; logs ``train_loss`` (per step and epoch) and, over every
    validation label (exact across batches and processes), ``val_loss`` (the mean loss) and
    ``val_balanced_accuracy`` (mean recall over the classes present, from the summed
    confusion matrix of all (window, output) labels).

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
        """``x`` [B, C, T] -> logits [B, n_outputs] (or [B, M], [B, M, n_outputs])."""
        return self.model(x)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = classification_loss(self(batch["x"]), batch["y"])
        self.log_train_loss(loss, len(batch["y"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        n = self.hparams.n_outputs
        self.start_sums(loss=(), confusion=(n, n))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits, y = self(batch["x"]), batch["y"]
        n = self.hparams.n_outputs
        predicted = (logits > 0).long() if _per_output_binary(logits, y) else logits.argmax(-1)
        pairs = (y * n + predicted).reshape(-1)  # truth-major cells
        self.add_sums(loss=classification_loss(logits.double(), y, reduction="sum"),
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
        ``windows`` (items ``(x [C, T], y)``, in order), in eval mode, on the CPU; [N, M,
        K] and [N, M] for M outputs per window (see :class:`WindowPredictions`)."""
        probabilities, labels = [], []
        with self.evaluating():
            for batch in DataLoader(WindowDataset(windows), batch_size=batch_size):
                logits = self(batch["x"].to(self.device)).float().cpu()
                probabilities.append(class_probabilities(logits, batch["y"]))
                labels.append(batch["y"])
        return WindowPredictions(torch.cat(probabilities), torch.cat(labels))
