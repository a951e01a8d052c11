"""``PhaseModule``: any registered phase recogniser trained through Lightning on whole
recordings, and the dataset/collation that batch recordings of different lengths.

A batch holds whole recordings padded to the longest: ``x`` [B, T, F], ``labels`` [B, T],
``progress`` [B, T], ``video_progress`` [B, T], ``lengths`` [B] and ``index`` [B] (position of
each recording in its split). Losses and metrics count valid steps only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from tsssm.data import PhaseSequence, StandardScaler
from tsssm.models import create_model, length_mask, phase_loss

from .lightning_module import Batch, RecipeModule


class PhaseDataset(Dataset):
    """Recordings as training items, inputs standardised by ``scaler`` (when given)."""

    def __init__(self, sequences: Sequence[PhaseSequence],
                 scaler: StandardScaler | None = None) -> None:
        self.sequences, self.scaler = list(sequences), scaler

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sequence = self.sequences[index]
        x = sequence.inputs if self.scaler is None else self.scaler.transform(sequence.inputs)
        return {"x": x, "labels": sequence.labels, "progress": sequence.progress,
                "video_progress": sequence.video_progress, "index": torch.tensor(index)}


def pad_recordings(items: list[dict[str, torch.Tensor]]) -> Batch:
    """Stack items of different lengths, zero-padded at the end, with their ``lengths``."""
    lengths = torch.tensor([len(item["labels"]) for item in items])
    batch: Batch = {"lengths": lengths, "index": torch.stack([item["index"] for item in items])}
    for key in ("x", "labels", "progress", "video_progress"):
        batch[key] = torch.nn.utils.rnn.pad_sequence([item[key] for item in items],
                                                     batch_first=True)
    return batch


def fit_input_scaler(sequences: Sequence[PhaseSequence]) -> StandardScaler:
    """Per-feature mean and std over every step of ``sequences`` (the training part)."""
    return StandardScaler.fit(torch.cat([s.inputs for s in sequences]).double().numpy())


class PhaseModule(RecipeModule):
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
        lr, weight_decay, lr_decay, seed: see :class:`RecipeModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_inputs: int,
        n_phases: int,
        progress_weight: float = 1.0,
        video_progress_weight: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(
            model_name, n_inputs=n_inputs, n_phases=n_phases,
            predict_video_progress=video_progress_weight > 0, **model_options,
        )

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
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["lengths"]))
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
