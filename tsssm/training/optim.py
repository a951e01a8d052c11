"""Optimiser and learning-rate schedule of every LightningModule of ``tsssm.training``.

AdamW over two parameter groups: weight decay for the weight matrices, none for the
parameters that must keep their scale, as mamba-ssm marks them: the scan's ``A_log`` and
``D`` (decaying them would push the state's memory and the skip towards zero), the weights of
normalisation layers, biases, positional embeddings and mask tokens. A module can mark more
with ``param._no_weight_decay = True``.

Schedules: ``"exponential"`` multiplies the rate by ``lr_decay`` after every epoch (1.0:
constant; 0.5: Time-Series-Library's "type1"); ``"cosine"`` warms up linearly over
``warmup_epochs`` (fractions allowed), then follows a half cosine down to ``min_lr`` at the
last step, stepped per optimiser step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from .config import SCHEDULES

# Parameter names (last part) that never get weight decay.
_NO_DECAY_NAMES = ("A_log", "D", "bias", "pos_embed", "position", "positions", "mask_token")
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm1d)


@dataclass(frozen=True)
class Optimization:
    """The optimiser settings of one training (all plain numbers, so they live in a
    checkpoint's hyperparameters)."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "exponential"
    lr_decay: float = 1.0
    warmup_epochs: float = 0.0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, not {self.schedule!r}")
        if not self.lr >= 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number >= 0, not {self.lr}")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.min_lr < 0:
            raise ValueError("weight_decay, warmup_epochs and min_lr must not be negative")


def _is_norm(module: nn.Module) -> bool:
    # RMSNorm (torch >= 2.4) and tsssm's own norms are recognised by name.
    return isinstance(module, _NORMS) or "Norm" in type(module).__name__


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names of the parameters of ``model`` that get no weight decay (see the module
    docstring)."""
    names = set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if (_is_norm(module) or name in _NO_DECAY_NAMES
                    or getattr(param, "_no_weight_decay", False)):
                names.add(full)
    return names


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups of the trainable parameters of ``model``: with ``weight_decay``, and
    without it for :func:`no_weight_decay_names` (empty groups left out)."""
    skip = no_weight_decay_names(model)
    decay, plain = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (plain if name in skip else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def cosine_factor(settings: Optimization, step: int, steps_per_epoch: int,
                  total_steps: int) -> float:
    """The multiple of ``settings.lr`` of the cosine schedule at optimiser step ``step``
    (0-based): linear warm-up over ``warmup_epochs``, then a half cosine to ``min_lr``."""
    warmup = settings.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    floor = settings.min_lr / settings.lr
    progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def configure(model: nn.Module, settings: Optimization, steps_per_epoch: int,
              total_steps: int) -> dict[str, Any]:
    """What ``LightningModule.configure_optimizers`` returns: AdamW over
    :func:`parameter_groups` and the schedule of ``settings`` (per epoch for
    ``"exponential"``, per step for ``"cosine"``)."""
    optimizer = torch.optim.AdamW(parameter_groups(model, settings.weight_decay), lr=settings.lr)
    if settings.schedule == "exponential":
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.lr_decay)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(cosine_factor, settings, steps_per_epoch=steps_per_epoch,
                           total_steps=total_steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
