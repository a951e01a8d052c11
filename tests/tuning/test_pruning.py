"""The pruning callback, with a fake trial and a fake trainer (no training)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import optuna
import pytest
import torch

from tsssm.recipes import ConfigError
from tsssm.tuning import TrialReporter, make_pruner


class FakeTrial:
    """Records reports; prunes once a reported value exceeds ``limit``."""

    def __init__(self, limit: float) -> None:
        self.limit, self.reports = limit, []

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return self.reports[-1][1] > self.limit


def trainer(epoch: int, sanity: bool = False, **metrics: float) -> Any:
    return SimpleNamespace(current_epoch=epoch, sanity_checking=sanity,
                           callback_metrics={k: torch.tensor(v) for k, v in metrics.items()})


def test_reports_every_epoch_keeps_the_best_and_prunes_a_bad_trial() -> None:
    trial = FakeTrial(limit=1.0)
    reporter = TrialReporter(trial, "val_loss", "minimize")  # type: ignore[arg-type]
    reporter.on_validation_end(trainer(0, sanity=True, val_loss=9.0), None)  # not reported
    for epoch, loss in enumerate([0.8, 0.6, 0.7]):
        reporter.on_validation_end(trainer(epoch, val_loss=loss), None)
    assert [step for step, _ in trial.reports] == [0, 1, 2]
    assert reporter.best == pytest.approx(0.6)
    with pytest.raises(optuna.TrialPruned, match=r"pruned after epoch 3: val_loss 1\.5"):
        reporter.on_validation_end(trainer(3, val_loss=1.5), None)


def test_maximised_objective() -> None:
    reporter = TrialReporter(FakeTrial(limit=2.0), "val_accuracy", "maximize")  # type: ignore
    for epoch, value in enumerate([0.5, 0.9, 0.7]):
        reporter.on_validation_end(trainer(epoch, val_accuracy=value), None)
    assert reporter.best == pytest.approx(0.9)


def test_an_objective_the_module_does_not_log_is_named() -> None:
    reporter = TrialReporter(FakeTrial(limit=1.0), "val_mse", "minimize")  # type: ignore
    with pytest.raises(ConfigError, match=r"'val_mse' is not logged .* \['val_loss'\]"):
        reporter.on_validation_end(trainer(0, sanity=True, val_loss=1.0), torch.nn.Linear(1, 1))


def test_median_pruner_prunes_a_trial_worse_than_the_others() -> None:
    study = optuna.create_study(pruner=make_pruner("median"))
    for loss in (0.5, 0.6):  # two finished trials: the median pruner's start-up
        trial = study.ask()
        trial.report(loss, 0)
        study.tell(trial, loss)
    bad = study.ask()
    reporter = TrialReporter(bad, "val_loss", "minimize")
    with pytest.raises(optuna.TrialPruned):
        reporter.on_validation_end(trainer(0, val_loss=5.0), None)
    good = study.ask()
    TrialReporter(good, "val_loss", "minimize").on_validation_end(trainer(0, val_loss=0.4),
                                                                  None)
    assert isinstance(make_pruner("successive_halving"), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)
