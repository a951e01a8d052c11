"""S-Mamba as a pytorch-forecasting model, trained on a ``TimeSeriesDataSet``.

pytorch-forecasting users get S-Mamba with their own data pipeline, normalisers, metrics and
Lightning trainer::

    dataset = TimeSeriesDataSet(frame, time_idx="t", target=["a", "b", "c"], group_ids=["g"],
                                time_varying_unknown_reals=["a", "b", "c"],
                                max_encoder_length=96, max_prediction_length=24, ...)
    model = SMambaForecastingModel.from_dataset(dataset, d_model=128)
    lightning.pytorch.Trainer(max_epochs=5).fit(model, dataset.to_dataloader(train=True))

The variates the model mixes are the dataset's targets (one token each); every target must
also be a time-varying unknown real so that its history is in the encoder input.

Quantile forecasts: pass pytorch-forecasting's ``QuantileLoss`` (a ``MultiLoss`` of them, all
with the same levels, for several targets). S-Mamba then forecasts those levels through its
non-crossing quantile output (``tsssm.layers.QuantileOutput``; the levels must be increasing
and hold 0.5, which ``QuantileLoss.to_prediction`` needs too), the network output has the
levels last (``[batch, prediction_length, n_quantiles]`` per target), and ``to_prediction``,
``to_quantiles`` and ``predict(..., mode="quantiles")`` work as for PF's own models.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_forecasting.data import TimeSeriesDataSet
from pytorch_forecasting.metrics import MAE, RMSE, MultiLoss, QuantileLoss
from pytorch_forecasting.metrics.base_metrics import MultiHorizonMetric
from pytorch_forecasting.models.base_model import BaseModel
from torch import nn

from tsssm.models.shapes import check_quantiles
from tsssm.models.smamba import SMamba, SMambaConfig


class MSE(MultiHorizonMetric):
    """Mean squared error, the loss of the long-term forecasting literature
    (pytorch-forecasting ships MAE and RMSE but no MSE)."""

    def loss(self, y_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (self.to_prediction(y_pred) - target) ** 2


def loss_quantiles(loss: nn.Module) -> tuple[float, ...] | None:
    """The quantile levels ``loss`` trains (a ``QuantileLoss``, or a ``MultiLoss`` of them
    with equal levels), checked; None for point losses.

    Raises:
        ValueError: a ``MultiLoss`` mixes quantile and point losses or different levels, or
            the levels are not increasing numbers in (0, 1) holding 0.5.
    """
    parts = list(loss.metrics) if isinstance(loss, MultiLoss) else [loss]
    levels = {tuple(part.quantiles) if isinstance(part, QuantileLoss) else None
              for part in parts}
    if len(levels) > 1:
        raise ValueError("SMambaForecastingModel forecasts every target the same way: the "
                         "MultiLoss must hold point losses only, or QuantileLosses with the "
                         f"same quantiles (got {sorted(map(str, levels))})")
    return check_quantiles(levels.pop(), "QuantileLoss.quantiles")


class SMambaForecastingModel(BaseModel):
    """S-Mamba over the targets of a ``TimeSeriesDataSet`` (point or quantile forecasts).

    Args:
        context_length, prediction_length: encoder and decoder lengths of the dataset.
        target_positions: where each target sits among the dataset's reals (set by
            :meth:`from_dataset`).
        d_model, d_ff, n_layers, d_state, dropout: S-Mamba hyper-parameters.
        loss: a point loss (MSE by default), or a ``QuantileLoss`` for quantile forecasts
            (a ``MultiLoss`` of either kind for several targets).
        **kwargs: passed to pytorch-forecasting's ``BaseModel`` (learning_rate, ...).
    """

    def __init__(
        self,
        context_length: int,
        prediction_length: int,
        target_positions: list[int],
        d_model: int = 128,
        d_ff: int = 128,
        n_layers: int = 2,
        d_state: int = 2,
        dropout: float = 0.1,
        loss: nn.Module | None = None,
        logging_metrics: nn.ModuleList | None = None,
        **kwargs: Any,
    ) -> None:
        n_targets = len(target_positions)
        if loss is None:
            loss = MSE() if n_targets == 1 else MultiLoss([MSE() for _ in range(n_targets)])
        if logging_metrics is None:
            logging_metrics = nn.ModuleList([MAE(), RMSE()])
        self.save_hyperparameters(ignore=["loss", "logging_metrics"])
        super().__init__(loss=loss, logging_metrics=logging_metrics, **kwargs)
        self.network = SMamba(
            SMambaConfig(
                lookback=context_length, horizon=prediction_length, n_variates=n_targets,
                d_model=d_model, d_ff=d_ff, n_layers=n_layers, d_state=d_state,
                dropout=dropout, quantiles=loss_quantiles(loss),
            )
        )

    def forward(self, x: dict[str, torch.Tensor]) -> dict[str, Any]:
        """``x["encoder_cont"]`` [batch, context, reals] -> forecasts of every target
        [batch, prediction_length] (quantile losses: [batch, prediction_length,
        n_quantiles]) in the targets' own scale."""
        history = x["encoder_cont"][..., self.hparams.target_positions]  # [b, ctx, targets]
        forecast = self.network(history)  # [b, horizon, targets(, q)], normalised scale
        quantiles = self.network.config.quantiles is not None
        if len(self.hparams.target_positions) == 1:
            prediction = forecast[:, :, 0] if quantiles else forecast
        elif quantiles:
            prediction = list(forecast.unbind(dim=2))  # each [b, horizon, q]
        else:
            prediction = list(forecast.split(1, dim=-1))
        prediction = self.transform_output(prediction, target_scale=x["target_scale"])
        return self.to_network_output(prediction=prediction)

    @classmethod
    def from_dataset(cls, dataset: TimeSeriesDataSet, **kwargs: Any) -> SMambaForecastingModel:
        """Build the model for ``dataset``; checks the dataset fits S-Mamba's contract."""
        if dataset.min_encoder_length != dataset.max_encoder_length:
            raise ValueError(
                "SMambaForecastingModel needs a fixed encoder length: the dataset has "
                f"min_encoder_length={dataset.min_encoder_length} and "
                f"max_encoder_length={dataset.max_encoder_length}"
            )
        if dataset.min_prediction_length != dataset.max_prediction_length:
            raise ValueError(
                "SMambaForecastingModel needs a fixed prediction length: the dataset has "
                f"min_prediction_length={dataset.min_prediction_length} and "
                f"max_prediction_length={dataset.max_prediction_length}"
            )
        missing = [t for t in dataset.target_names if t not in dataset.reals]
        if missing:
            raise ValueError(
                f"SMambaForecastingModel reads each target's history from the encoder: add "
                f"{missing} to time_varying_unknown_reals"
            )
        kwargs.setdefault("context_length", dataset.max_encoder_length)
        kwargs.setdefault("prediction_length", dataset.max_prediction_length)
        kwargs["target_positions"] = [dataset.reals.index(t) for t in dataset.target_names]
        return super().from_dataset(dataset, **kwargs)
