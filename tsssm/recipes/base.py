"""The ``Recipe`` base: config -> data -> model -> ``tsssm.training.fit`` -> evaluate -> run
folder.

A recipe trains its main model and each baseline in turn, in one run folder (see
``run_folder``). Per model, status.json moves through pending -> training -> evaluating ->
finished, so ``Recipe.resume`` knows what is left: a model still training continues from its
newest checkpoint (Lightning restores weights, optimiser, loops, callbacks and the data
loader's place in the epoch); a trained one is only evaluated again.

Distributed runs: with ``strategy = "ddp"`` Lightning starts the other processes by running
the same command again; they find the run folder in ``$TSSSM_RUN_DIR`` (set here), train in
step with process 0 and write nothing. Only process 0 evaluates and writes files.


This module is imported by every task module, and the task registry by light readers (the
app, ``tsssm runs``): it loads torch and Lightning only when a recipe runs, through the lazy
``tsssm.training`` package.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tsssm import runs, training
from tsssm.runs import CONFIG, ENVIRONMENT, PREPROCESSING, PredictionWriter, RunFolder
from tsssm.runs.study import is_study

from .config import ConfigError, ModelConfig, RecipeConfig, TrainConfig, dump_config, load_config

if TYPE_CHECKING:
    import lightning.pytorch as pl

RUN_DIR_ENV = "TSSSM_RUN_DIR"
# The environment variables through which launchers (Lightning's DDP, torchrun, SLURM) give
# a process its rank, in the order Lightning reads them.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _process_rank() -> int:
    """This process's rank as set by a distributed launcher (0 when there is none)."""
    for name in _RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


class Recipe(ABC):
    """Trains and evaluates the models of ``config`` into ``folder``.

    Subclasses (one per task module of ``tsssm.tasks``) set ``task`` and implement
    :meth:`setup`, :meth:`build_module`, :meth:`datamodule` and :meth:`evaluate`. Use
    :meth:`start` or :meth:`resume`, then :meth:`run`.
    """

    task: ClassVar[str]

    def __init__(self, config: RecipeConfig, folder: RunFolder | None) -> None:
        """``folder`` None: no folder yet (:meth:`start` checks the data and models first)."""
        self.config = config
        self.folder: RunFolder | None = None
        self.rank = _process_rank()
        self._environment_written = False
        self._data_loaded = False
        self.states = {m.name: "pending" for m in config.models()}
        self.resume_from: dict[str, Path | None] = dict.fromkeys(self.states)
        if folder is not None:
            self._attach(folder)

    def _attach(self, folder: RunFolder) -> None:
        """Work in ``folder``: read which models it has finished and where each resumes."""
        self.folder = folder
        states = folder.status().get("models", {})
        self.states = {m.name: states.get(m.name, "pending") for m in self.config.models()}
        # Decided once, before any training, so that every process of a distributed run
        # resumes each model from the same checkpoint.
        self.resume_from = {m.name: _resume_checkpoint(folder.checkpoints(m.name))
                            if self.states[m.name] == "training" else None
                            for m in self.config.models()}

    # Starting and resuming --------------------------------------------------------------

    @classmethod
    def for_config(cls, config: RecipeConfig) -> type[Recipe]:
        """The recipe class of ``config.run.task``."""
        from tsssm.tasks import get_task

        return get_task(config.run.task).recipe

    @classmethod
    def start(cls, config: RecipeConfig, output_dir: str | Path,
              run_dir: str | Path | None = None) -> Recipe:
        """A recipe in a new run folder under ``output_dir``, or at exactly ``run_dir`` (which
        must not exist yet; ``tsssm tune`` puts each trial there); in a process started by a
        distributed launcher: the folder of process 0, from ``$TSSSM_RUN_DIR``."""
        recipe_cls = cls.for_config(config)
        if _process_rank() != 0:
            return recipe_cls(config, RunFolder(Path(_shared_run_dir())))
        training.check_trainer_settings(config.train, config.source)
        # Data and every model are checked before the folder exists: bad data or a model
        # option out of range is a one-line error, not a failed run.
        recipe = recipe_cls(config, None)
        recipe._check_data_and_models()
        # An external launcher (torchrun, SLURM) starts every process itself: they agree on
        # the folder through $TSSSM_RUN_DIR, which process 0 then creates.
        preset = os.environ.get(RUN_DIR_ENV)
        try:
            if run_dir is not None:
                folder = RunFolder.create_at(run_dir)
            elif preset and not Path(preset).exists():
                folder = RunFolder.create_at(preset)
            else:
                folder = RunFolder.create(output_dir, config.run.name)
        except OSError as error:
            where = run_dir or preset or output_dir
            raise ConfigError(f"{config.source}: cannot create a run folder in {where}: "
                              f"{error.strerror or error}") from None
        runs.write_text(folder.file(CONFIG), dump_config(config))
        recipe._attach(folder)
        recipe.write_inputs()
        folder.start_attempt([m.name for m in config.models()])
        os.environ[RUN_DIR_ENV] = str(folder.path.resolve())
        return recipe

    @classmethod
    def resume(cls, run_dir: str | Path) -> Recipe:
        """The recipe of an existing run folder, with the config saved in it."""
        folder = RunFolder(Path(run_dir))
        if not folder.file(CONFIG).is_file():
            raise ConfigError(f"{run_dir}: not a run folder (no {CONFIG})")
        if is_study(folder.path):
            raise ConfigError(f"{run_dir}: a study of `tsssm tune`; continue it with "
                              f"`tsssm tune --resume {run_dir}`")
        config = load_config(folder.file(CONFIG))
        recipe = cls.for_config(config)(config, folder)
        if recipe.rank == 0:
            if runs.is_live(folder.status()):
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
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Test ``module`` with ``trainer`` (one process): returns its metrics and writes its
        predictions (the task's ``prediction_columns``) to ``predictions``, chunk by chunk
        (a task that writes none never calls it, and predictions.parquet stays as it was)."""

    def prediction_inputs(self) -> dict[str, Any] | None:
        """What predicting new data needs beyond config.toml and the checkpoints, as plain
        JSON values (the train split's scaling statistics, the class names, ...), read from
        :meth:`setup`'s data and written to preprocessing.json (``tsssm.serving``). None:
        the task has no predictor."""
        return None

    def write_inputs(self) -> None:
        """Write what the app and the predictors read besides the predictions into the run
        folder, once the folder exists and the data are loaded: preprocessing.json (from
        :meth:`prediction_inputs`); tasks add their own files."""
        record = self.prediction_inputs()
        if self.rank == 0 and record is not None:
            runs.write_json(self.folder.file(PREPROCESSING), record)

    def _load_data(self) -> None:
        if not self._data_loaded:
            self.setup()
            self._data_loaded = True
            if self.folder is not None:
                self.write_inputs()

    def _check_data_and_models(self) -> None:
        """Load the data and build every model once (their configs check their values
        against the data: sizes, ranges, a seasonal lag that fits the lookback, ...).

        Raises:
            ConfigError: a model's options are out of range; the message names the recipe
                file, the model's table and the model's complaint.
            DataError: the data cannot be used as they are.
        """
        from tsssm.data.series import DataError

        self._load_data()
        for model in self.config.models():
            section = "model" if model is self.config.model else f"baselines.{model.name}"
            try:
                self.build_module(model, self.config.train_for(model))
            except (ConfigError, DataError):
                raise  # already names the file and the setting
            except ValueError as error:
                raise ConfigError(f"{self.config.source}: [{section}] {model.name}: "
                                  f"{error}") from None

    # Running ----------------------------------------------------------------------------

    def run(self, test: bool = True, callbacks: Sequence[pl.Callback] = ()) -> dict[str, Any]:
        """Train and evaluate every model not finished yet; returns metrics.json's content.

        Args:
            test: evaluate each trained model on the test split. ``tsssm tune``'s trials
                pass False: they train and validate only, and each model ends "trained".
            callbacks: further Lightning callbacks of every fit (a trial's pruning).
        """
        import torch

        from tsssm.training.callbacks import TrainingInterrupted

        threads = torch.get_num_threads()
        if self.config.train.threads:
            # On a small or shared CPU, fewer threads than cores avoids costly oversubscription.
            torch.set_num_threads(self.config.train.threads)
        try:
            self._load_data()
            for model in self.config.models():
                if self.states[model.name] not in ("finished", "trained"):
                    self._run_model(model, test, list(callbacks))
        except TrainingInterrupted as stop:
            # Pre-emption (SIGTERM) or Ctrl+C: resumable, so "interrupted", and the exit
            # status a scheduler reads as a signal (143 / 130) so that it can requeue.
            if self.rank == 0:
                self.folder.update_status(state="interrupted", error=str(stop),
                                          interrupted=runs.now(), pid=None)
            raise SystemExit(stop.exit_status) from None
        except BaseException as error:
            if self.rank == 0:
                reason = "interrupted" if isinstance(error, KeyboardInterrupt) else (
                    f"{type(error).__name__}: {error}")
                self.folder.update_status(state="failed", error=reason, failed=runs.now())
            raise
        finally:
            torch.set_num_threads(threads)  # the caller's setting, as it was
        if self.rank == 0:
            self.folder.update_status(state="finished", finished=runs.now())
        return self.folder.metrics()

    def _set_state(self, model: ModelConfig, state: str) -> None:
        self.states[model.name] = state
        if self.rank == 0:
            self.folder.update_status(models={model.name: state})

    def _run_model(self, model: ModelConfig, test: bool, callbacks: list[pl.Callback]) -> None:
        import lightning.pytorch as pl
        from lightning.pytorch.loggers import CSVLogger

        train = self.config.train_for(model)
        # Every model starts from the same seed, whatever ran (or was resumed) before it.
        pl.seed_everything(train.seed, workers=True, verbose=False)
        module = self.build_module(model, train)
        logger = CSVLogger(self.folder.logs(), name=model.name)
        if self.states[model.name] != "evaluating":
            self._set_state(model, "training")
            result = training.fit(
                module, self.datamodule(train), train,
                checkpoint_dir=self.folder.checkpoints(model.name), logger=logger,
                resume_from=self.resume_from[model.name], callbacks=callbacks,
            )
            self._write_environment(result.trainer)
            if self.rank == 0:  # recorded now, so that a run killed while evaluating keeps it
                self.folder.record_metrics(model.name, result.summary())
        if not test:
            self._set_state(model, "trained")
        elif self.rank == 0:
            self._set_state(model, "evaluating")
            self._evaluate(model, train, module, logger)
            self._set_state(model, "finished")

    def _evaluate(self, model: ModelConfig, train: TrainConfig, module: pl.LightningModule,
                  logger: Any) -> None:
        """Test the best checkpoint (lowest validation loss) in this process alone."""
        from tsssm.training.callbacks import (
            BEST,
            check_finite_metrics,
            latest_checkpoint,
            load_weights,
        )

        checkpoints = self.folder.checkpoints(model.name)
        best: Path | None = checkpoints / f"{BEST}.ckpt"
        if not best.is_file():  # no validation ever ran (e.g. max_steps inside epoch 1)
            best = latest_checkpoint(checkpoints)
        if best is None:
            raise RuntimeError(f"{model.name}: training left no checkpoint in {checkpoints}")
        load_weights(module, best)
        from tsssm.tasks import get_task

        # The recipe's own prediction columns where it declares them (window tasks), else
        # its task's.
        required = getattr(self, "prediction_columns", None) or get_task(
            self.config.run.task).prediction_columns
        with self.folder.prediction_writer(model.name, required=required) as predictions:
            test = self.evaluate(model, module, training.test_trainer(train, logger),
                                 predictions)
            # NaN may mean "undefined" in a task's report (see check_finite_metrics); the
            # logged test losses were checked for NaN as well by the test trainer.
            check_finite_metrics(test.get("test", {}), "test", allow_nan=True)
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

    def _write_environment(self, trainer: pl.Trainer) -> None:
        if self.rank != 0 or self._environment_written:
            return
        runs.write_json(self.folder.file(ENVIRONMENT), training.environment(trainer))
        self._environment_written = True


def _resume_checkpoint(checkpoints: Path) -> Path | None:
    """The newest readable checkpoint to continue a model from; None when it never wrote
    one (it then trains from the start).

    Raises:
        ConfigError: it wrote checkpoints but none can be read (truncated, damaged).
    """
    from tsssm.training.callbacks import latest_checkpoint

    found = latest_checkpoint(checkpoints)
    written = sorted(p.name for p in checkpoints.glob("*.ckpt")) if checkpoints.is_dir() else []
    if found is None and written:
        raise ConfigError(f"{checkpoints}: no checkpoint can be read ({', '.join(written)}: "
                          "truncated or damaged); delete them to train this model from the "
                          "start, or start the recipe again")
    return found


def _shared_run_dir() -> str:
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        raise RuntimeError(
            f"this process has rank {_process_rank()} but ${RUN_DIR_ENV} is not set: processes "
            f"of a distributed run must share process 0's run folder; set ${RUN_DIR_ENV} to it "
            "when an external launcher (torchrun, SLURM) starts them all"
        )
    return run_dir
