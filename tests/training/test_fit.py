"""``tsssm.training.fit``: the best validation epoch is kept, and a non-finite loss stops
training with a clear error."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from tsssm.data import ForecastingWindows
from tsssm.training import (
    ForecastingModule,
    SplitDataModule,
    estimator_train_config,
    fit,
    optimization_dict,
)
from tsssm.training.callbacks import TrainingInterrupted


def windows(values: torch.Tensor) -> ForecastingWindows:
    return ForecastingWindows(values, values.new_zeros(len(values), 0), 16, 4)


def module(lr: float = 1e-2) -> ForecastingModule:
    torch.manual_seed(0)
    return ForecastingModule("dlinear", {"moving_average": 5}, 16, 4, n_variates=2,
                             n_time_features=0, use_time_features=False,
                             optimization=optimization_dict(lr=lr))


def series(n: int, seed: int = 0) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float32)[:, None]
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return torch.sin(t / 3 + torch.tensor([0.0, 1.0])) + 0.1 * noise


def test_the_module_ends_with_the_best_validation_epoch() -> None:
    model = module(lr=0.5)  # a rate that makes later epochs worse
    settings = estimator_train_config("cpu", max_epochs=6, patience=6, batch_size=16)
    result = fit(model, SplitDataModule(windows(series(200)), windows(series(60, 1)), None,
                                        16, 0), settings, verbose=False)
    losses = [r["val_loss"] for r in result.history]
    assert result.val_loss == pytest.approx(min(losses))
    trainer = result.trainer
    trainer.validate(model, dataloaders=SplitDataModule(
        windows(series(200)), windows(series(60, 1)), None, 16, 0), verbose=False)
    assert trainer.callback_metrics["val_loss"].item() == pytest.approx(min(losses), rel=1e-5)


def test_a_non_finite_loss_stops_with_a_clear_error() -> None:
    values = series(120) * 1e30  # squares overflow float32
    settings = estimator_train_config("cpu", max_epochs=1, batch_size=16)
    with pytest.raises(FloatingPointError, match="training loss is inf at step 0"):
        fit(module(), SplitDataModule(windows(values), None, None, 16, 0), settings,
            verbose=False)


@pytest.mark.parametrize("device", ["tpu", "cuda:x"])
def test_an_unknown_device_is_named(device: str) -> None:
    with pytest.raises(ValueError, match=f"not {device!r}|'cuda' or 'cuda:<index>'"):
        estimator_train_config(device)


class SignalDuringValidation(Callback):
    """Sends the process SIGTERM at the first validation batch of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.sent = epoch, False

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx,
                                  dataloader_idx=0) -> None:
        if not trainer.sanity_checking and trainer.current_epoch == self.epoch and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("epoch", [0, 1])
def test_a_sigterm_during_validation_stops_with_a_resumable_checkpoint(epoch: int,
                                                                       tmp_path: Path) -> None:
    # Lightning's own SIGTERM notifier would end such a fit with SystemExit(0) (a run that
    # looks finished); the fit must instead stop after the next training step, or at the end
    # of training when the signal came during the last validation.
    before = signal.getsignal(signal.SIGTERM)
    settings = estimator_train_config("cpu", max_epochs=2, patience=5, batch_size=16)
    data = SplitDataModule(windows(series(200)), windows(series(60, 1)), None, 16, 0)
    with pytest.raises(TrainingInterrupted) as stopped:
        fit(module(), data, settings, checkpoint_dir=tmp_path,
            callbacks=[SignalDuringValidation(epoch)], verbose=False)
    assert stopped.value.exit_status == 128 + signal.SIGTERM
    checkpoint = torch.load(stopped.value.checkpoint, weights_only=True)
    steps_per_epoch = len(data.train_dataloader())
    assert checkpoint["global_step"] == (steps_per_epoch + 1 if epoch == 0
                                         else 2 * steps_per_epoch)
    assert signal.getsignal(signal.SIGTERM) is before
