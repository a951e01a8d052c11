"""``PretrainModule``: masked-reconstruction pre-training of an EEG encoder
(``femba_pretrain``) on unlabelled windows [B, C, T]."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tsssm.data.windows import WindowDataset
from tsssm.models import masked_reconstruction_loss

from .module import Batch, WindowTaskModule

# Masks of held-out windows are drawn from (this, the module's seed, the window's index).
_EVAL_MASK_STREAM = 7


class PretrainModule(WindowTaskModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=...)``, a masked-reconstruction
    model (``femba_pretrain``): ``model(x [B, C, T], patch_mask=None)`` -> ``reconstruction``
    [B, C, T] and ``mask`` [B, C, T] (True on hidden samples).

    Trains on ``masked_reconstruction_loss`` with fresh random masks (seeded per step);
    logs ``train_loss`` and ``val_loss``, the loss over every hidden sample of the validation
    windows with masks fixed per window (see :meth:`eval_patch_mask`), exact however the
    windows are batched.

    Args: those of :class:`~tsssm.training.module.WindowTaskModule`.
    """

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        x = batch["x"]
        out = self.model(x)
        loss = masked_reconstruction_loss(out["reconstruction"], x, out["mask"])
        self.log_train_loss(loss, len(x))
        return loss

    def eval_patch_mask(self, index: torch.Tensor) -> torch.Tensor:
        """Bool patch masks [B, G, N] of the windows ``index`` [B]: each drawn from
        (``seed``, its index) alone."""
        masks = [self.model.random_patch_mask(1, torch.Generator().manual_seed(int(
            np.random.SeedSequence([_EVAL_MASK_STREAM, self.hparams.seed, int(i)])
            .generate_state(1)[0]))) for i in index.tolist()]
        return torch.cat(masks).to(self.device)

    def _sum_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Summed Smooth-L1 of the model and of zeros over the hidden samples, and their
        number."""
        x = batch["x"]
        out = self.model(x, patch_mask=self.eval_patch_mask(batch["index"]))
        hidden = out["mask"].sum().double()
        return {
            "loss": masked_reconstruction_loss(out["reconstruction"], x, out["mask"]).double()
            * hidden,
            "zero": masked_reconstruction_loss(torch.zeros_like(x), x, out["mask"]).double()
            * hidden,
            "hidden": hidden,
        }

    def on_validation_epoch_start(self) -> None:
        self.start_sums(loss=(), zero=(), hidden=())

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.add_sums(**self._sum_losses(batch))

    def on_validation_epoch_end(self) -> None:
        sums = self.reduced_sums()
        self.log("val_loss", (sums["loss"] / sums["hidden"].clamp(min=1)).float(),
                 prog_bar=True)

    @torch.no_grad()
    def reconstruction_scores(self, windows: Dataset, batch_size: int = 64) -> dict[str, float]:
        """``reconstruction_loss`` and ``zero_loss`` (see the module docstring) over every
        window of ``windows`` (items ``(x [C, T], y)``), in eval mode."""
        totals = dict.fromkeys(("loss", "zero", "hidden"), 0.0)
        with self.evaluating():
            for batch in DataLoader(WindowDataset(windows), batch_size=batch_size):
                batch = {key: value.to(self.device) for key, value in batch.items()}
                for key, value in self._sum_losses(batch).items():
                    totals[key] += float(value)
        return {"reconstruction_loss": totals["loss"] / totals["hidden"],
                "zero_loss": totals["zero"] / totals["hidden"], "windows": len(windows)}
