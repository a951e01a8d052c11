"""``TaskModule``: what every LightningModule of tsssm shares.

One LightningModule per model task (``forecasting``, ``classification``, ``pretraining``,
``reconstruction``, ``phase``) subclasses it: the model is built from the registry by name
(so a checkpoint's hyperparameters rebuild it), the optimiser and schedule come from
:mod:`tsssm.training.optim`, dropout draws are seeded per step, validation and test metrics
are exact sums over every item, and prediction runs in eval mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch

from tsssm.models import create_model

from .optim import Optimization, configure

Batch = dict[str, torch.Tensor]


class TaskModule(pl.LightningModule):
    """The shared constructor and habits of tsssm's LightningModules.

    Args:
        model_name, model_options: the registered model and its options
            (``tsssm.models.create_model``).
        shape: the model options that come from the data (``n_chans``, ``lookback``, ...).
        optimization: :class:`~tsssm.training.optim.Optimization` fields as a dict (plain
            values, so that checkpoints stay loadable with ``weights_only=True``).
        seed: base of the per-step seeds of the random draws (dropout, masks).

    Subclasses take their shape as named arguments, pass them here as ``shape`` and keep
    ``model_name``, ``model_options``, ``optimization`` and ``seed`` as their own arguments
    of the same names: ``save_hyperparameters`` records the subclass's arguments.
    """

    _sums: dict[str, torch.Tensor]  # set by start_sums

    def __init__(self, model_name: str, model_options: dict[str, Any], shape: dict[str, Any],
                 optimization: dict[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["shape"])
        self.optimization = Optimization(**(optimization or {}))
        self.model = create_model(model_name, **shape, **model_options)

    def configure_optimizers(self) -> dict[str, Any]:
        steps_per_epoch = total = 0
        if self.optimization.schedule == "cosine":
            # Only the cosine schedule needs the step count: estimating it builds the training
            # loader early, which a mid-epoch resume must not see.
            total = int(self.trainer.estimated_stepping_batches)
            steps_per_epoch = max(total // max(self.trainer.max_epochs or 1, 1), 1)
        return configure(self.model, self.optimization, steps_per_epoch, total)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Random draws (dropout) depend on (seed, step, rank) only, not on what ran before:
        # a run resumed from a mid-epoch checkpoint then draws exactly what an uninterrupted
        # run draws, without checkpointing RNG states (data-loader set-up also draws numbers).
        torch.manual_seed(hash((self.hparams.seed, self.global_step, self.global_rank)) % 2**62)

    def log_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """Log ``train_loss`` per step and per epoch (shown in the progress bar).

        Raises:
            FloatingPointError: the loss is NaN or infinite (training could only go on
                producing garbage; the message says what to try).
        """
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(
                f"the training loss is {loss.item()} at step {self.global_step}: lower the "
                "learning rate, clip gradients (train.gradient_clip_val) or check the data "
                "for values whose scale overflows float32")
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=batch_size)

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


class WindowTaskModule(TaskModule):
    """A :class:`TaskModule` over windows ``x`` [B, C, T] (pre-training, reconstruction).

    Args:
        model_name, model_options: passed to ``tsssm.models.create_model``.
        n_chans, n_times: the windows' shape.
        optimization, seed: see :class:`TaskModule`.
    """

    def __init__(
        self,
        model_name: str,
        model_options: dict[str, Any],
        n_chans: int,
        n_times: int,
        optimization: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(model_name, model_options, {"n_chans": n_chans, "n_times": n_times},
                         optimization, seed)


def optimization_dict(**settings: Any) -> dict[str, Any]:
    """:class:`Optimization` fields as the plain dict modules take (checked now)."""
    return dataclasses.asdict(Optimization(**settings))
