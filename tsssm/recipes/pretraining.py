"""``EEGPretrainRecipe`` (task ``"eeg_pretrain"``): masked-patch reconstruction pre-training of
an EEG encoder (``femba_pretrain``) on unlabelled windows, for ``EEGRecipe`` to fine-tune.

Data (``EEGPretrainDataConfig``): the windows of ``data.dataset``'s ``train`` subjects, plus
every recording of the bundled ``extra_datasets``, through one preprocessing chain (it must
bring them to the same channels and rate, e.g. ``pick_channels`` + ``resample``); the
``val`` subjects pick the best checkpoint, the ``test`` subjects score the held-out
reconstruction. Labels play no part. To fine-tune without leaking, give the ``eeg`` recipe the
same split: its test subjects are then never trained on, here or there.

Checkpoints: ``checkpoints/<model>/best.ckpt`` (lowest validation reconstruction loss) in the
run folder; ``data.pretrained`` of an ``eeg`` recipe takes the folder or the file.

Metrics: ``test.reconstruction_loss`` (Smooth-L1 over the hidden samples of every test window,
masks drawn from (seed, window) so every evaluation hides the same patches) beside
``test.zero_loss``, the same loss of reconstructing every hidden sample as 0 (the median of
robust-scaled EEG): a model worth fine-tuning scores well below it.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import polars
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from tsssm.data.eeg import EEGWindows
from tsssm.data.series import DataError
from tsssm.models import create_model, masked_reconstruction_loss

from .base import Recipe
from .classification import WindowDataModule, WindowDataset
from .config import ModelConfig, TrainConfig
from .eeg import listed_subjects, load_recordings, make_windows, split_windows
from .lightning_module import Batch, RecipeModule
from .tasks import EEGPretrainDataConfig

# Masks of held-out windows are drawn from (this, the module's seed, the window's index).
_EVAL_MASK_STREAM = 7


class PretrainModule(RecipeModule):
    """Wraps ``create_model(model_name, n_chans=..., n_times=...)``, a masked-reconstruction
    model (``femba_pretrain``): ``model(x [B, C, T], patch_mask=None)`` -> ``reconstruction``
    [B, C, T] and ``mask`` [B, C, T] (True on hidden samples).

    Trains on ``masked_reconstruction_loss`` with fresh random masks (seeded per step);
    logs ``train_loss`` and ``val_loss``, the loss over every hidden sample of the validation
    windows with masks fixed per window (see :meth:`eval_patch_mask`), exact however the
    windows are batched.

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        n_chans, n_times: the windows' shape.
        lr, weight_decay, lr_decay, seed: see :class:`RecipeModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_chans: int,
        n_times: int,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model_name, n_chans=n_chans, n_times=n_times, **model_options)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        x = batch["x"]
        out = self.model(x)
        loss = masked_reconstruction_loss(out["reconstruction"], x, out["mask"])
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(x))
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


class EEGPretrainRecipe(Recipe):
    """Masked-reconstruction pre-training on EEG windows; see the module docstring."""

    task = "eeg_pretrain"
    train_windows: Dataset
    val_windows: EEGWindows
    test_windows: EEGWindows

    @property
    def data(self) -> EEGPretrainDataConfig:
        return self.config.data

    def setup(self) -> None:
        data = self.data
        recordings = listed_subjects(data, load_recordings(data.layout, data.dataset))
        parts = split_windows(data, make_windows(data, recordings, labels=None))
        extra = [make_windows(data, load_recordings(name, name), labels=None)
                 for name in data.extra_datasets]
        for name, windows in zip(data.extra_datasets, extra, strict=True):
            _check_same_windows(parts.train, windows, name)
        self.train_windows = ConcatDataset([parts.train, *extra])
        self.val_windows, self.test_windows = parts.val, parts.test
        self.window_info = {
            "ch_names": list(parts.train.ch_names), "sfreq": parts.train.sfreq,
            "n_times": parts.train.n_times,
            "train_windows": len(self.train_windows),
            "subjects": {name: sorted(set(getattr(parts, name).metadata["subject"]))
                         for name in ("train", "val", "test")},
            "extra_datasets": list(data.extra_datasets),
        }

    def build_module(self, model: ModelConfig, train: TrainConfig) -> PretrainModule:
        return PretrainModule(
            model.name, model.options, n_chans=self.val_windows.n_chans,
            n_times=self.val_windows.n_times, lr=train.lr, weight_decay=train.weight_decay,
            lr_decay=train.lr_decay, seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> WindowDataModule:
        return WindowDataModule(
            WindowDataset(self.train_windows), WindowDataset(self.val_windows),
            WindowDataset(self.test_windows), batch_size=train.batch_size, seed=train.seed,
            num_workers=train.num_workers,
        )

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame | None]:
        if not isinstance(module, PretrainModule):
            raise TypeError(f"EEGPretrainRecipe evaluates a PretrainModule, not "
                            f"{type(module).__name__}")
        batch_size = self.config.train_for(model).batch_size
        test = module.reconstruction_scores(self.test_windows, batch_size)
        return {"test": test, "windows": self.window_info}, None


def _check_same_windows(reference: EEGWindows, other: EEGWindows, name: str) -> None:
    """Raise a DataError unless ``other`` has the channels, rate and length of
    ``reference``."""
    mine = (reference.ch_names, reference.sfreq, reference.n_times)
    theirs = (other.ch_names, other.sfreq, other.n_times)
    if mine != theirs:
        raise DataError(
            f"data.extra_datasets: {name} gives windows of channels {list(other.ch_names)} at "
            f"{other.sfreq:g} Hz, {other.n_times} samples; data.dataset gives "
            f"{list(reference.ch_names)} at {reference.sfreq:g} Hz, {reference.n_times} "
            "samples: add pick_channels and resample steps to data.preprocessing"
        )
