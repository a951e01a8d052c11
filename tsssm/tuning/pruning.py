"""Pruning through Lightning's per-epoch validation: :class:`TrialReporter` reports the
objective to the Optuna trial after every validation epoch and stops a trial the pruner
gives up on by raising ``optuna.TrialPruned``.

It is written for ``lightning`` (optuna-integration's callback imports the older
``pytorch_lightning`` package, whose classes Lightning's Trainer does not accept).
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import optuna
from lightning.pytorch.callbacks import Callback

from tsssm.training.config import ConfigError

# Successive halving's rungs are epochs: the first after this many, then x reduction_factor.
_HALVING_MIN_EPOCHS = 1
_MEDIAN_STARTUP_TRIALS = 2


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """``"median"`` (prune a trial whose best value so far is worse than the median of the
    earlier trials at the same epoch, once 2 trials have finished), ``"successive_halving"``
    (asynchronous successive halving, rungs at epochs 1, 4, 16...) or ``"none"``."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=_MEDIAN_STARTUP_TRIALS)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=_HALVING_MIN_EPOCHS)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}")


class TrialReporter(Callback):
    """Reports ``objective`` (a metric the module logs in validation) to ``trial`` at every
    epoch (step = epoch), keeps its best value (``best``: lowest for ``"minimize"``), and
    raises ``optuna.TrialPruned`` when ``trial.should_prune()``.

    Lightning's sanity check (a couple of validation batches before training) is never
    reported; it only checks that the module logs ``objective`` at all.
    """

    def __init__(self, trial: optuna.Trial, objective: str, direction: str) -> None:
        self.trial, self.objective, self.direction = trial, objective, direction
        self.best: float | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.objective)
        if value is None:
            logged = sorted(k for k in trainer.callback_metrics if k.startswith("val_"))
            raise ConfigError(f"tune.objective {self.objective!r} is not logged in validation "
                              f"by {type(pl_module).__name__}; it logs {logged}")
        if trainer.sanity_checking:
            return
        value, epoch = float(value), trainer.current_epoch
        self.trial.report(value, epoch)
        if math.isfinite(value) and (self.best is None or self._better(value, self.best)):
            self.best = value
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.objective} "
                                     f"{value:.5g}")

    def _better(self, value: float, than: float) -> bool:
        return value < than if self.direction == "minimize" else value > than
