"""``fit``: the one way tsssm trains a model, for recipes and estimators alike.

It builds the Lightning ``Trainer`` from a :class:`~tsssm.training.config.TrainConfig`, trains
with early stopping on ``val_loss`` when there is validation data, and leaves the module
holding the weights of the best validation epoch (the last epoch without validation data).
With a ``checkpoint_dir`` (recipes) the best, last and every-N-steps checkpoints are written
there atomically and a fit can resume from one; without it (estimators) the best weights are
kept in memory and nothing is written.

Training is deterministic by default (``deterministic=True``, per-step seeds in
:class:`~tsssm.training.module.TaskModule`, seeded sampling in the loaders).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.loggers import Logger

from .callbacks import (
    BEST,
    AtomicCheckpointIO,
    BestWeights,
    EpochHistory,
    FiniteMetrics,
    GracefulStop,
    TrainingClock,
    latest_checkpoint,
    training_callbacks,
)
from .config import ConfigError, TrainConfig
from .loaders import SplitDataModule

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@dataclass
class FitResult:
    """What a fit did: the best ``val_loss`` (None without validation), epochs and steps
    run, whether early stopping ended it, wall time, training throughput (items per second
    of training steps), the best checkpoint (recipes), the per-epoch ``history`` and the
    ``trainer``."""

    val_loss: float | None
    epochs: int
    steps: int
    stopped_early: bool
    train_time_s: float
    items_per_s: float
    best_checkpoint: Path | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    trainer: pl.Trainer | None = None

    def summary(self) -> dict[str, Any]:
        """The numbers metrics.json keeps."""
        return {"val_loss": self.val_loss, "epochs": self.epochs, "steps": self.steps,
                "stopped_early": self.stopped_early,
                "train_time_s": round(self.train_time_s, 3),
                "windows_per_s": round(self.items_per_s, 1)}


@contextlib.contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Silence Lightning's start-up notices (devices, tips, "no val_dataloader") unless
    ``verbose``."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [log.level for log in loggers]
    if not verbose:
        for log in loggers:
            log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _limit(value: int | float) -> int | float | None:
    # None (not 1.0) for "all batches": Lightning logs a line for every explicit value.
    return None if value == 1.0 and isinstance(value, float) else value


def trainer_options(train: TrainConfig) -> dict[str, Any]:
    """The ``Trainer`` arguments of ``train`` that every fit and test shares."""
    return {"accelerator": train.accelerator, "precision": train.precision,
            "deterministic": train.deterministic, "enable_progress_bar": train.progress_bar}


def check_trainer_settings(train: TrainConfig, source: str = "train") -> None:
    """Raise a ConfigError now, before anything is written, if Lightning rejects the
    accelerator, devices, nodes, strategy or precision (it checks them when a Trainer is
    built; nothing is launched)."""
    settings = {key: getattr(train, key) for key in
                ("accelerator", "devices", "num_nodes", "strategy", "precision")}
    try:
        with quiet_lightning(False):
            pl.Trainer(**settings, logger=False, enable_checkpointing=False,
                       enable_progress_bar=False, enable_model_summary=False)
    # TypeError: Lightning's CPU accelerator refuses devices=-1 ("all") with one.
    except (ValueError, TypeError, ImportError, MisconfigurationException) as error:
        shown = ", ".join(f"train.{k}={v!r}" for k, v in settings.items())
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"{source}: Lightning cannot run {shown}: {first_line}") from None


def fit(
    module: pl.LightningModule,
    data: SplitDataModule,
    train: TrainConfig,
    checkpoint_dir: Path | None = None,
    logger: Logger | bool = False,
    resume_from: Path | None = None,
    callbacks: list[Callback] | None = None,
    verbose: bool = True,
) -> FitResult:
    """Train ``module`` on ``data`` as ``train`` says; the module ends with the best weights.

    Args:
        module: a LightningModule logging ``val_loss`` (every ``tsssm.training`` module does).
        data: the loaders; without a validation split (``val`` None) there is no early
            stopping and the last epoch is kept.
        train: epochs, steps, patience, devices, strategy, precision, clipping...
        checkpoint_dir: write checkpoints there (best, last, every
            ``train.checkpoint_every_n_steps`` steps, and ``interrupted.ckpt`` when SIGTERM
            or SIGINT stops the fit, which then raises
            :class:`~tsssm.training.callbacks.TrainingInterrupted`); None keeps the best
            weights in memory.
        logger: a Lightning logger (recipes: CSV logs in the run folder), or False.
        resume_from: a checkpoint (of ``checkpoint_dir``) to continue from.
        callbacks: further callbacks.
        verbose: Lightning's notices and model summary (the progress bar follows
            ``train.progress_bar``).
    """
    has_val = data.splits.get("val") is not None and len(data.splits["val"]) > 0
    history = EpochHistory()
    extra = [history, FiniteMetrics(), *(callbacks or [])]
    memory = None
    if checkpoint_dir is not None:
        best, stop, clock, own = training_callbacks(
            checkpoint_dir, train.patience, train.checkpoint_every_n_steps)
        own = [*own, GracefulStop(checkpoint_dir)]
        plugins: list[Any] = [AtomicCheckpointIO()]
    else:
        best, clock, plugins = None, TrainingClock(), []
        memory = BestWeights()
        stop = EarlyStopping("val_loss", patience=train.patience, mode="min")
        own = [clock, memory, stop] if has_val else [clock]
    with quiet_lightning(verbose), warnings.catch_warnings():
        if not verbose:  # Lightning's advice (logging intervals, workers) is noise here
            warnings.filterwarnings("ignore", module=r"lightning\.")
        trainer = pl.Trainer(
            **trainer_options(train), devices=train.devices, num_nodes=train.num_nodes,
            strategy=train.strategy, max_epochs=train.max_epochs, max_steps=train.max_steps,
            limit_train_batches=_limit(train.limit_train_batches),
            limit_val_batches=_limit(train.limit_val_batches) if has_val else 0,
            num_sanity_val_steps=None if has_val else 0,
            log_every_n_steps=train.log_every_n_steps,
            gradient_clip_val=train.gradient_clip_val or None,
            callbacks=[*own, *extra], logger=logger,
            enable_checkpointing=checkpoint_dir is not None,
            enable_model_summary=verbose,
            default_root_dir=checkpoint_dir, plugins=plugins,
            # The loaders' EpochSampler shards the data itself.
            use_distributed_sampler=False,
        )
        # Lightning >= 2.6 loads the checkpoint with torch's safe (weights-only) unpickler
        # when asked; its checkpoints hold nothing that needs more.
        safe = {"weights_only": True} if "weights_only" in inspect.signature(
            trainer.fit).parameters else {}
        trainer.fit(module, datamodule=data, ckpt_path=resume_from, **safe)
    best_path = None
    if best is not None:
        score = best.best_model_score
        best_path = checkpoint_dir / f"{BEST}.ckpt"
        if not best_path.is_file():  # no validation ever ran (max_steps inside epoch 1)
            best_path = latest_checkpoint(checkpoint_dir)
    else:
        score = None if memory is None or memory.state is None else memory.best_score
        if memory is not None and memory.state is not None:
            module.load_state_dict(memory.state)
    return FitResult(
        val_loss=None if score is None else float(score), epochs=trainer.current_epoch,
        steps=trainer.global_step, stopped_early=stop.stopped_epoch > 0 if has_val else False,
        train_time_s=clock.wall_s, items_per_s=clock.windows_per_s, best_checkpoint=best_path,
        history=history.epochs, trainer=trainer,
    )


def test_trainer(train: TrainConfig, logger: Logger | bool = False) -> pl.Trainer:
    """A one-process ``Trainer`` for testing a trained module (recipes' evaluation)."""
    return pl.Trainer(**trainer_options(train), devices=1, num_nodes=1, logger=logger,
                      enable_checkpointing=False, enable_model_summary=False,
                      callbacks=[FiniteMetrics()])


def estimator_train_config(device: str, **settings: Any) -> TrainConfig:
    """A :class:`TrainConfig` for an estimator: ``device`` is ``"auto"`` (a GPU when one is
    available), ``"cpu"``, ``"cuda"`` or ``"cuda:<k>"``; no progress bar unless asked."""
    if device == "auto":
        accelerator, devices = "auto", 1
    elif device == "cpu":
        accelerator, devices = "cpu", 1
    elif device == "cuda" or device.startswith("cuda:"):
        index = device.partition(":")[2]
        if index and not index.isdigit():
            raise ValueError(f"device {device!r}: expected 'cuda' or 'cuda:<index>'")
        accelerator, devices = "gpu", [int(index)] if index else 1
    else:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', not "
                         f"{device!r}")
    settings.setdefault("progress_bar", False)
    return TrainConfig(accelerator=accelerator, devices=devices, **settings)


def estimator_device(device: str) -> torch.device:
    """Where a fitted estimator's module predicts: ``device`` as
    :func:`estimator_train_config` reads it, ``"auto"`` being a GPU when available. (Lightning
    hands a module back on the CPU after training.)"""
    estimator_train_config(device)  # the same errors for a device it does not know
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    # Lightning's "auto" accelerator also trains on Apple's GPU.
    return torch.device("mps" if torch.backends.mps.is_available() else "cpu")


def environment(trainer: pl.Trainer) -> dict[str, Any]:
    """Versions and hardware of this process and ``trainer`` (for environment.json)."""
    import lightning
    import polars

    import tsssm

    device = str(trainer.strategy.root_device)
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name(trainer.strategy.root_device)})"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "polars": polars.__version__,
        "tsssm": tsssm.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": device,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "command": sys.argv,
        "strategy": type(trainer.strategy).__name__,
        "world_size": trainer.world_size,
    }
