"""The settings of one training, and the error for settings that cannot work. Plain
dataclasses, no torch: recipes parse their ``[train]`` table into :class:`TrainConfig` before
anything heavy loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCHEDULES = ("exponential", "cosine")  # learning-rate schedules (see tsssm.training.optim)


class ConfigError(ValueError):
    """Settings that cannot be used as written; the message names the setting (and, for a
    recipe, the file and key)."""


@dataclass
class TrainConfig:
    """Optimisation and Lightning ``Trainer`` settings of one training (a recipe's
    ``[train]`` table; the estimators fill one from their parameters)."""

    max_epochs: int = 10
    max_steps: int = -1
    batch_size: int = 32  # global: divided among the processes of a distributed run
    lr: float = 1e-4
    lr_decay: float = 1.0  # "exponential" schedule: the rate is multiplied by this per epoch
    weight_decay: float = 0.0  # never on A_log, D, norms, biases (see tsssm.training.optim)
    schedule: str = "exponential"  # or "cosine": linear warm-up, then cosine to min_lr
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    layer_decay: float = 1.0  # < 1: each layer's rate is this times the one above it
    gradient_clip_val: float = 0.0  # clip the gradients' global norm to this; 0: no clipping
    patience: int = 3  # early stopping: epochs without a better validation loss
    seed: int = 2024
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    num_workers: int = 0
    threads: int = 0  # torch intra-op threads per process; 0 keeps PyTorch's choice
    precision: str = "32-true"
    deterministic: bool = True
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    checkpoint_every_n_steps: int = 100
    log_every_n_steps: int = 50
    progress_bar: bool = True


    def optimization(self) -> dict[str, Any]:
        """The optimiser settings, as :class:`~tsssm.training.module.TaskModule` takes them."""
        return {"lr": self.lr, "weight_decay": self.weight_decay, "schedule": self.schedule,
                "lr_decay": self.lr_decay, "warmup_epochs": self.warmup_epochs,
                "min_lr": self.min_lr, "layer_decay": self.layer_decay}
