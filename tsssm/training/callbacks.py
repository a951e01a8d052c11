"""Lightning callbacks of :func:`tsssm.training.fit`, and finding where to resume from."""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from tsssm.runs import atomic_file

BEST, LAST, INTERRUPTED = "best", "last", "interrupted"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # a scheduler's pre-emption; Ctrl+C


class TrainingInterrupted(Exception):  # noqa: N818 (a stop asked for, not an error)
    """A fit stopped by ``signum`` (SIGTERM, SIGINT) after saving a resumable checkpoint."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} after step-boundary "
                         f"checkpoint {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint

    @property
    def exit_status(self) -> int:
        """What a process stopped by the signal exits with (143 for SIGTERM, 130 for SIGINT),
        so that a scheduler sees an interruption and can requeue the job."""
        return 128 + self.signum


class GracefulStop(Callback):
    """On SIGTERM or SIGINT during a fit: finish the current training step, save
    ``interrupted.ckpt`` (resumable like any step checkpoint) and stop with
    :class:`TrainingInterrupted`. A signal during validation lets the validation finish, then
    stops after the next training step, or at the end of training if there is none. A second
    signal while stopping is ignored.

    The handlers are installed when the sanity check or training starts, after Lightning has
    installed its own, and replace them: Lightning's SIGTERM notifier raises a ``SystemExit``
    with status 0 at the next epoch end or validation batch, which would read as a run that
    finished. They apply in the main thread only; the process's handlers from before the fit
    are restored after it.
    """

    def __init__(self, checkpoints: Path) -> None:
        self.checkpoints = checkpoints
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = self.received or signum

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def _install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                signal.signal(signum, self._handle)

    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install()

    def _stop(self, trainer: pl.Trainer) -> None:
        if self.received is None:
            return
        path = self.checkpoints / f"{INTERRUPTED}.ckpt"
        trainer.save_checkpoint(path)
        raise TrainingInterrupted(self.received, path)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._stop(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop(trainer)  # a signal during the last validation: no training step follows

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in self._previous.items():
                if handler is not None:
                    signal.signal(signum, handler)
        self._previous = {}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written atomically (a temporary file, then renamed): a run killed
    while saving keeps its previous checkpoint whole, so it can always be resumed."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        with atomic_file(Path(path)) as file:
            torch.save(checkpoint, file)


class TrainingClock(Callback):
    """Wall time of the fit and the training throughput (training items per second of time
    spent in training steps: windows, or whole recordings for phase recognition), kept in the
    checkpoints so that a resumed fit keeps counting. Batches carry an ``index`` [B]."""

    def __init__(self) -> None:
        self.wall_s = self.busy_s = 0.0
        self.windows = 0
        self._fit_start = self._wall_before = self._step_start = 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start, self._wall_before = time.perf_counter(), self.wall_s

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.busy_s += time.perf_counter() - self._step_start
        self.windows += len(batch["index"]) * trainer.world_size
        self.wall_s = self._wall_before + time.perf_counter() - self._fit_start

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.wall_s = self._wall_before + time.perf_counter() - self._fit_start

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.busy_s if self.busy_s else 0.0

    def state_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "busy_s": self.busy_s, "windows": self.windows}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.wall_s, self.busy_s = state_dict["wall_s"], state_dict["busy_s"]
        self.windows = int(state_dict["windows"])


class BestWeights(Callback):
    """Keeps, in memory, a copy of the weights of the epoch with the lowest ``val_loss``
    (the estimators' way to keep the best epoch without writing checkpoints)."""

    def __init__(self) -> None:
        self.best_score = math.inf
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        score = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or score is None or not float(score) < self.best_score:
            return
        self.best_score, self.best_epoch = float(score), trainer.current_epoch
        self.state = copy.deepcopy(pl_module.state_dict())


def check_finite_metrics(metrics: dict[str, Any], stage: str, allow_nan: bool = False) -> None:
    """Raise a FloatingPointError naming the first infinite (or, unless ``allow_nan``, NaN)
    value of ``metrics`` (numbers or one-element tensors; other values are skipped).

    A non-finite loss or metric means the model's outputs (or the data's scale) overflowed;
    going on would record garbage as a result. ``allow_nan`` is for reports whose NaN means
    "undefined" (an AUROC over a split that lacks a class).
    """
    for name, value in metrics.items():
        number = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 \
            else value
        if isinstance(number, float) and (math.isinf(number) or (
                math.isnan(number) and not allow_nan)):
            raise FloatingPointError(
                f"the {stage} metric {name} is {number}: the model's outputs overflowed; "
                "lower the learning rate, clip gradients (train.gradient_clip_val) or check "
                "the data for values whose scale overflows float32")


class FiniteMetrics(Callback):
    """Stops a fit (or test) whose logged validation or test metrics are NaN or infinite."""

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        check_finite_metrics(dict(trainer.callback_metrics), "validation")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        check_finite_metrics(dict(trainer.callback_metrics), "test")


class EpochHistory(Callback):
    """The logged epoch metrics (``train_loss``, ``val_loss``, ...), one dict per epoch."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = {"epoch": float(trainer.current_epoch)}
        for key, value in trainer.callback_metrics.items():
            if not key.endswith("_step"):
                record[key.removesuffix("_epoch")] = float(value)
        self.epochs.append(record)


def training_callbacks(
    checkpoints: Path, patience: int, every_n_steps: int
) -> tuple[ModelCheckpoint, EarlyStopping, TrainingClock, list[Callback]]:
    """Best (lowest ``val_loss``) + last checkpoints, a checkpoint every ``every_n_steps``
    training steps (``step=<n>.ckpt``, only the newest kept), early stopping, the clock.

    Returns the best-checkpoint callback, the early stopping, the clock, and all callbacks.
    """
    # Fixed file names (no version counter): a resumed fit overwrites the files it restored.
    best = ModelCheckpoint(checkpoints, filename=BEST, monitor="val_loss", mode="min",
                           save_top_k=1, save_last=True, enable_version_counter=False)
    steps = ModelCheckpoint(checkpoints, filename="{step}", every_n_train_steps=every_n_steps,
                            save_top_k=1, enable_version_counter=False)
    stop = EarlyStopping("val_loss", patience=patience, mode="min")
    clock = TrainingClock()
    return best, stop, clock, [best, steps, stop, clock]


def checkpoint_step(path: Path) -> int | None:
    """The global step stored in the Lightning checkpoint ``path``; None if it cannot be read
    (a file cut short when its run was killed while writing it)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(checkpoint["global_step"])
    except Exception:  # any unreadable file is simply not a candidate
        return None


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The readable checkpoint of ``checkpoints`` with the highest global step: ``last.ckpt``
    (saved after validation), ``step=<n>.ckpt`` (saved mid-epoch) or ``interrupted.ckpt``
    (saved when a signal stopped the fit); None if there is none."""
    candidates = [checkpoints / f"{LAST}.ckpt", checkpoints / f"{INTERRUPTED}.ckpt",
                  *checkpoints.glob("step=*.ckpt")]
    steps = {path: checkpoint_step(path) for path in candidates if path.is_file()}
    readable = {path: step for path, step in steps.items() if step is not None}
    return max(readable, key=readable.__getitem__) if readable else None


def load_weights(module: torch.nn.Module, checkpoint: Path) -> None:
    """Load the ``state_dict`` of a Lightning checkpoint into ``module`` (weights only)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    module.load_state_dict(state["state_dict"])
