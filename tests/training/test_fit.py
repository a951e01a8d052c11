"""``tsssm.training.fit``: the best validation epoch is kept, and a non-finite loss stops
training with a clear error."""

from __future__ import annotations

import pytest
import torch

from tsssm.data import ForecastingWindows
from tsssm.training import (
    ForecastingModule,
    SplitDataModule,
    estimator_train_config,
    fit,
    optimization_dict,
)


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
