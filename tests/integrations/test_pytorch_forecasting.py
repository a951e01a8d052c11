"""S-Mamba trains on a pytorch-forecasting TimeSeriesDataSet with its metrics."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_forecasting import TimeSeriesDataSet
from pytorch_forecasting.metrics import MAE, MultiLoss, QuantileLoss

from tsssm.integrations.pytorch_forecasting import SMambaForecastingModel


def frame(n: int = 400) -> pd.DataFrame:
    t = np.arange(n)
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "t": t,
        "series": "s0",
        "a": np.sin(t / 5) * 10 + 50 + rng.normal(0, 0.1, n),
        "b": np.cos(t / 7) * 3 - 4 + rng.normal(0, 0.1, n),
    })


def dataset(data: pd.DataFrame, targets: list[str]) -> TimeSeriesDataSet:
    return TimeSeriesDataSet(
        data, time_idx="t", target=targets if len(targets) > 1 else targets[0],
        group_ids=["series"], time_varying_unknown_reals=["a", "b"],
        max_encoder_length=32, min_encoder_length=32, max_prediction_length=8,
        min_prediction_length=8,
    )


@pytest.mark.parametrize("targets", [["a", "b"], ["b"]])
def test_trains_and_beats_the_untrained_model(targets: list[str]) -> None:
    pl.seed_everything(0)
    data = frame()
    training = dataset(data[data.t < 320], targets)
    validation = TimeSeriesDataSet.from_dataset(training, data, min_prediction_idx=320)
    model = SMambaForecastingModel.from_dataset(
        training, d_model=16, d_ff=16, learning_rate=3e-3,
        logging_metrics=torch.nn.ModuleList([MAE()]),
    )
    val_loader = validation.to_dataloader(train=False, batch_size=64)

    def val_mae() -> float:
        predictions = model.predict(val_loader, return_y=True, trainer_kwargs={
            "logger": False, "enable_progress_bar": False, "accelerator": "cpu"})
        output = predictions.output if len(targets) > 1 else [predictions.output]
        truth = predictions.y[0] if len(targets) > 1 else [predictions.y[0]]
        return float(np.mean([MAE()(o, t).item() for o, t in zip(output, truth, strict=True)]))

    before = val_mae()
    trainer = pl.Trainer(max_epochs=4, enable_progress_bar=False, logger=False,
                         enable_checkpointing=False, accelerator="cpu")
    trainer.fit(model, training.to_dataloader(train=True, batch_size=32))
    after = val_mae()
    assert after < 0.5 * before


def test_rejects_targets_missing_from_the_encoder() -> None:
    data = frame()
    ds = TimeSeriesDataSet(
        data, time_idx="t", target="a", group_ids=["series"], time_varying_unknown_reals=["b"],
        max_encoder_length=16, min_encoder_length=16, max_prediction_length=4,
        min_prediction_length=4,
    )
    with pytest.raises(ValueError, match=r"add \['a'\] to time_varying_unknown_reals"):
        SMambaForecastingModel.from_dataset(ds)


@pytest.mark.parametrize("targets", [["b"], ["a", "b"]])
def test_quantile_loss_trains_quantiles_that_never_cross(targets: list[str]) -> None:
    pl.seed_everything(0)
    data = frame()
    training = dataset(data[data.t < 320], targets)
    levels = [0.1, 0.5, 0.9]
    loss = QuantileLoss(levels) if len(targets) == 1 else MultiLoss(
        [QuantileLoss(levels) for _ in targets])
    model = SMambaForecastingModel.from_dataset(training, d_model=16, d_ff=16, loss=loss,
                                                learning_rate=3e-3)
    pl.Trainer(max_epochs=1, enable_progress_bar=False, logger=False,
               enable_checkpointing=False, accelerator="cpu",
               limit_train_batches=4).fit(model, training.to_dataloader(train=True,
                                                                         batch_size=32))
    loader = TimeSeriesDataSet.from_dataset(training, data, min_prediction_idx=320
                                            ).to_dataloader(train=False, batch_size=64)

    def predict(mode: str) -> list[torch.Tensor]:
        # A fresh dict each call: pytorch-forecasting adds its callback to the one it is given.
        out = model.predict(loader, mode=mode, trainer_kwargs={
            "logger": False, "enable_progress_bar": False, "accelerator": "cpu"})
        return out if len(targets) > 1 else [out]

    quantiles, points = predict("quantiles"), predict("prediction")
    for per_target, point in zip(quantiles, points, strict=True):
        assert per_target.shape == (*point.shape, 3)  # levels last, as PF's loss wants
        assert (per_target.diff(dim=-1) >= 0).all()
        torch.testing.assert_close(per_target[..., 1], point)  # the median


def test_quantile_loss_without_the_median_is_refused() -> None:
    training = dataset(frame(), ["b"])
    with pytest.raises(ValueError, match=r"must include the median 0\.5"):
        SMambaForecastingModel.from_dataset(training, loss=QuantileLoss([0.1, 0.9]))
