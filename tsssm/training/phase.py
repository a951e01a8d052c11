"""``PhaseModule``: any registered phase recogniser trained on whole recordings.

A batch holds whole recordings padded to the longest (``tsssm.data.pad_recordings``):
``x`` [B, T, F], ``labels`` [B, T], ``progress`` [B, T], ``video_progress`` [B, T], ``lengths``
[B] and ``index`` [B] (position of each recording in its split). Losses and metrics count
valid steps only.
"""

from __future__ import annotations

from typing import Any

import torch

from tsssm.models import length_mask, phase_loss

from .module import Batch, TaskModule


class PhaseModule(TaskModule):
    """Wraps ``create_model(model_name, ...)``: ``x`` [B, T, F] -> ``logits`` [B, T, C],
    ``progress`` [B, T] (and ``video_progress``).

    Trains on ``phase_loss`` (cross-entropy + ``progress_weight`` x L1 on progress +
    ``video_progress_weight`` x L1 on the elapsed fraction, when positive); logs
    ``train_loss`` and, over every valid step of the validation recordings, ``val_loss``
    (the same loss) and ``val_accuracy``.

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        n_inputs, n_phases: F and C.
        progress_weight, video_progress_weight: loss weights.
        optimization, seed: see :class:`~tsssm.training.module.TaskModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_inputs: int,
        n_phases: int,
        progress_weight: float = 1.0,
        video_progress_weight: float = 0.0,
        optimization: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        shape = {"n_inputs": n_inputs, "n_phases": n_phases,
                 "predict_video_progress": video_progress_weight > 0}
        super().__init__(model_name, model_options, shape, optimization, seed)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``x`` [B, T, F], ``lengths`` [B] or None -> the model's outputs."""
        return self.model(x, lengths)

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor],
                                            torch.Tensor]:
        outputs = self(batch["x"], batch["lengths"])
        mask = length_mask(batch["lengths"], batch["x"].shape[1])
        weight = self.hparams.video_progress_weight
        loss, _ = phase_loss(
            outputs, batch["labels"], batch["progress"],
            batch["video_progress"] if weight > 0 else None, mask,
            self.hparams.progress_weight, weight,
        )
        return loss, outputs, mask

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._loss(batch)
        self.log_train_loss(loss, len(batch["lengths"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self.start_sums(loss=(), correct=(), steps=())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        # The loss is a mean over the batch's valid steps: times their number, it sums, so the
        # epoch's value is the mean over all valid steps however recordings are batched.
        loss, outputs, mask = self._loss(batch)
        steps = mask.sum()
        correct = (outputs["logits"].argmax(-1) == batch["labels"]) & mask
        self.add_sums(loss=loss.double() * steps, correct=correct.sum(), steps=steps)

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        steps = sums["steps"].clamp(min=1)
        self.log("val_loss", (sums["loss"] / steps).float(), prog_bar=True)
        self.log("val_accuracy", (sums["correct"] / steps).float())

    @torch.no_grad()
    def predict_recording(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One whole recording ``x`` [T, F] (already scaled) -> ``probabilities`` [T, C],
        ``progress`` [T] (and ``video_progress`` [T]), on the CPU, in eval mode."""
        with self.evaluating():
            outputs = self(x[None].to(self.device))
        result = {key: value[0].float().cpu() for key, value in outputs.items()
                  if key != "logits"}
        result["probabilities"] = outputs["logits"][0].float().softmax(-1).cpu()
        return result
