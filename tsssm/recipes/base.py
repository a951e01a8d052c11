"""The ``Recipe`` base: config -> data -> model -> Lightning fit -> evaluate -> run folder.

A recipe trains its main model and each baseline in turn, in one run folder (see
``run_folder``). Per model, status.json moves through pending -> training -> evaluating ->
finished, so ``Recipe.resume`` knows what is left: a model still training continues from its
newest checkpoint (Lightning restores weights, optimiser, loops, callbacks and the data
loader's place in the epoch); a trained one is only evaluated again.

Distributed runs: with ``strategy = "ddp"`` Lightning starts the other processes by running
the same command again; they find the run folder in ``$TSSSM_RUN_DIR`` (set here), train in
step with process 0 and write nothing. Only process 0 evaluates and writes files.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as pl
import polars
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from . import run_folder
from .callbacks import BEST, AtomicCheckpointIO, latest_checkpoint, load_weights, training_callbacks
from .config import ConfigError, ModelConfig, RecipeConfig, TrainConfig, dump_config, load_config
from .run_folder import CONFIG, ENVIRONMENT, RunFolder

RUN_DIR_ENV = "TSSSM_RUN_DIR"
_RECIPES: dict[str, type[Recipe]] = {}


def _process_rank() -> int:
    """This process's rank as set by a distributed launcher (0 when there is none)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


class Recipe(ABC):
    """Trains and evaluates the models of ``config`` into ``folder``.

    Subclasses set ``task`` and implement :meth:`setup`, :meth:`build_module`,
    :meth:`datamodule` and :meth:`evaluate`. Use :meth:`start` or :meth:`resume`, then
    :meth:`run`.
    """

    task: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "task" in cls.__dict__:
            _RECIPES[cls.task] = cls

    def __init__(self, config: RecipeConfig, folder: RunFolder) -> None:
        self.config, self.folder = config, folder
        self.rank = _process_rank()
        states = folder.status().get("models", {})
        self.states = {m.name: states.get(m.name, "pending") for m in config.models()}
        # Decided once, before any training, so that every process of a distributed run
        # resumes each model from the same checkpoint.
        self.resume_from = {m.name: latest_checkpoint(folder.checkpoints(m.name))
                            if self.states[m.name] == "training" else None
                            for m in config.models()}
        self._environment_written = False

    # Starting and resuming --------------------------------------------------------------

    @classmethod
    def for_config(cls, config: RecipeConfig) -> type[Recipe]:
        """The recipe class of ``config.run.task``."""
        return _RECIPES[config.run.task]

    @classmethod
    def start(cls, config: RecipeConfig, output_dir: str | Path) -> Recipe:
        """A recipe in a new run folder under ``output_dir`` (in a process started by a
        distributed launcher: the folder of process 0, from ``$TSSSM_RUN_DIR``)."""
        recipe_cls = cls.for_config(config)
        if _process_rank() != 0:
            return recipe_cls(config, RunFolder(Path(_shared_run_dir())))
        check_trainer_settings(config)
        # An external launcher (torchrun, SLURM) starts every process itself: they agree on
        # the folder through $TSSSM_RUN_DIR, which process 0 then creates.
        preset = os.environ.get(RUN_DIR_ENV)
        if preset and not Path(preset).exists():
            folder = RunFolder.create_at(preset)
        else:
            folder = RunFolder.create(output_dir, config.run.name)
        run_folder.write_text(folder.file(CONFIG), dump_config(config))
        recipe = recipe_cls(config, folder)
        folder.start_attempt([m.name for m in config.models()])
        os.environ[RUN_DIR_ENV] = str(folder.path.resolve())
        return recipe

    @classmethod
    def resume(cls, run_dir: str | Path) -> Recipe:
        """The recipe of an existing run folder, with the config saved in it."""
        folder = RunFolder(Path(run_dir))
        if not folder.file(CONFIG).is_file():
            raise ConfigError(f"{run_dir}: not a run folder (no {CONFIG})")
        config = load_config(folder.file(CONFIG))
        recipe = cls.for_config(config)(config, folder)
        if recipe.rank == 0:
            if run_folder.is_live(folder.status()):
                raise ConfigError(f"{run_dir}: still running (process "
                                  f"{folder.status()['pid']}); resume it once that has ended")
            folder.start_attempt([m.name for m in config.models()])
            os.environ[RUN_DIR_ENV] = str(folder.path.resolve())
        return recipe

    # What a task provides ---------------------------------------------------------------

    @abstractmethod
    def setup(self) -> None:
        """Load the data (called once, before the first model)."""

    @abstractmethod
    def build_module(self, model: ModelConfig, train: TrainConfig) -> pl.LightningModule:
        """The LightningModule of ``model``."""

    @abstractmethod
    def datamodule(self, train: TrainConfig) -> pl.LightningDataModule:
        """The data of the run, batched as ``train`` says."""

    @abstractmethod
    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame | None]:
        """Test ``module`` with ``trainer`` (one process): its metrics and its predictions."""

    # Running ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train and evaluate every model not finished yet; returns metrics.json's content."""
        threads = torch.get_num_threads()
        if self.config.train.threads:
            # On a small or shared CPU, fewer threads than cores avoids costly oversubscription.
            torch.set_num_threads(self.config.train.threads)
        try:
            self.setup()
            for model in self.config.models():
                if self.states[model.name] != "finished":
                    self._run_model(model)
        except BaseException as error:
            if self.rank == 0:
                reason = "interrupted" if isinstance(error, KeyboardInterrupt) else (
                    f"{type(error).__name__}: {error}")
                self.folder.update_status(state="failed", error=reason, failed=run_folder.now())
            raise
        finally:
            torch.set_num_threads(threads)  # the caller's setting, as it was
        if self.rank == 0:
            self.folder.update_status(state="finished", finished=run_folder.now())
        return self.folder.metrics()

    def _set_state(self, model: ModelConfig, state: str) -> None:
        self.states[model.name] = state
        if self.rank == 0:
            self.folder.update_status(models={model.name: state})

    def _run_model(self, model: ModelConfig) -> None:
        train = self.config.train_for(model)
        # Every model starts from the same seed, whatever ran (or was resumed) before it.
        pl.seed_everything(train.seed, workers=True, verbose=False)
        module = self.build_module(model, train)
        logger = CSVLogger(self.folder.logs(), name=model.name)
        if self.states[model.name] != "evaluating":
            self._set_state(model, "training")
            summary = self._fit(model, train, module, logger)
            if self.rank == 0:  # recorded now, so that a run killed while evaluating keeps it
                self.folder.record_metrics(model.name, summary)
        if self.rank == 0:
            self._set_state(model, "evaluating")
            self._evaluate(model, train, module, logger)
            self._set_state(model, "finished")

    def _evaluate(self, model: ModelConfig, train: TrainConfig, module: pl.LightningModule,
                  logger: CSVLogger) -> None:
        """Test the best checkpoint (lowest validation loss) in this process alone."""
        checkpoints = self.folder.checkpoints(model.name)
        best: Path | None = checkpoints / f"{BEST}.ckpt"
        if not best.is_file():  # no validation ever ran (e.g. max_steps inside epoch 1)
            best = latest_checkpoint(checkpoints)
        if best is None:
            raise RuntimeError(f"{model.name}: training left no checkpoint in {checkpoints}")
        load_weights(module, best)
        tester = pl.Trainer(
            accelerator=train.accelerator, devices=1, num_nodes=1, precision=train.precision,
            logger=logger, enable_checkpointing=False, enable_model_summary=False,
            enable_progress_bar=train.progress_bar, deterministic=train.deterministic,
        )
        test, predictions = self.evaluate(model, module, tester)
        if predictions is not None:
            self.folder.record_predictions(model.name, predictions)
        entry = {
            "role": "main" if model is self.config.model else "baseline",
            **self.folder.metrics().get(model.name, {}),
            **test,
            "parameters": sum(p.numel() for p in module.parameters()),
            "checkpoint": str(best.relative_to(self.folder.path)),
            "options": model.options,
            "train": dataclasses.asdict(train),
        }
        self.folder.record_metrics(model.name, entry)

    def _fit(self, model: ModelConfig, train: TrainConfig, module: pl.LightningModule,
             logger: CSVLogger) -> dict[str, Any]:
        best, stop, clock, callbacks = training_callbacks(
            self.folder.checkpoints(model.name), train.patience, train.checkpoint_every_n_steps
        )
        trainer = pl.Trainer(
            accelerator=train.accelerator, devices=train.devices, num_nodes=train.num_nodes,
            strategy=train.strategy, precision=train.precision, deterministic=train.deterministic,
            max_epochs=train.max_epochs, max_steps=train.max_steps,
            # None (not 1.0) for "all batches": Lightning logs a line for every explicit value.
            limit_train_batches=_limit(train.limit_train_batches),
            limit_val_batches=_limit(train.limit_val_batches),
            log_every_n_steps=train.log_every_n_steps,
            callbacks=callbacks, logger=logger, default_root_dir=self.folder.path,
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=train.progress_bar,
            # Our sampler shards the data itself (see loaders.EpochSampler).
            use_distributed_sampler=False,
        )
        self._write_environment(trainer)
        # Lightning >= 2.6 loads the checkpoint with torch's safe (weights-only) unpickler
        # when asked; its checkpoints hold nothing that needs more.
        safe = {"weights_only": True} if "weights_only" in inspect.signature(
            trainer.fit).parameters else {}
        trainer.fit(module, datamodule=self.datamodule(train),
                    ckpt_path=self.resume_from[model.name], **safe)
        score = best.best_model_score
        return {
            "val_loss": None if score is None else float(score),
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "stopped_early": stop.stopped_epoch > 0,
            "train_time_s": round(clock.wall_s, 3),
            "windows_per_s": round(clock.windows_per_s, 1),
        }

    def _write_environment(self, trainer: pl.Trainer) -> None:
        if self.rank != 0 or self._environment_written:
            return
        device = str(trainer.strategy.root_device)
        if device.startswith("cuda"):
            device += f" ({torch.cuda.get_device_name(trainer.strategy.root_device)})"
        info = run_folder.environment(device)
        info.update(strategy=type(trainer.strategy).__name__, world_size=trainer.world_size)
        run_folder.write_json(self.folder.file(ENVIRONMENT), info)
        self._environment_written = True


def _limit(value: int | float) -> int | float | None:
    return None if value == 1.0 and isinstance(value, float) else value


def check_trainer_settings(config: RecipeConfig) -> None:
    """Raise a ConfigError now, before a run folder exists, if Lightning rejects the run's
    accelerator, devices, nodes, strategy or precision (it checks them when a Trainer is
    built; nothing is launched)."""
    train = config.train
    settings = {key: getattr(train, key) for key in
                ("accelerator", "devices", "num_nodes", "strategy", "precision")}
    # No "GPU available: ..." lines for this probe; the real Trainers print them.
    loggers = [logging.getLogger(f"lightning.{part}.utilities.rank_zero")
               for part in ("pytorch", "fabric")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        pl.Trainer(**settings, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False)
    except (ValueError, ImportError, MisconfigurationException) as error:
        shown = ", ".join(f"train.{k}={v!r}" for k, v in settings.items())
        first_line = str(error).strip().splitlines()[0]
        raise ConfigError(f"{config.source}: Lightning cannot run {shown}: {first_line}") from None
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _shared_run_dir() -> str:
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        raise RuntimeError(
            f"this process has rank {_process_rank()} but ${RUN_DIR_ENV} is not set: processes "
            f"of a distributed run must share process 0's run folder; set ${RUN_DIR_ENV} to it "
            "when an external launcher (torchrun, SLURM) starts them all"
        )
    return run_dir
