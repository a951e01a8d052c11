"""``StudyRun``: a search over a recipe's ``[tune]`` space in one run folder (its files are
listed in :mod:`tsssm.runs.study`).

Each trial draws values for the space, trains the recipe's tuned model alone with them
through the ordinary recipe path (``Recipe`` -> ``tsssm.training.fit``) in its own run
folder under ``trials/``, reports the objective after every validation epoch (pruning) and
returns its best value; no trial ever touches the test split. When ``--trials`` trials are
done, the best trial's values make ``best.toml`` (the whole recipe, ready for ``tsssm run``),
and the tuned model of ``best.toml`` and of the untuned recipe are trained and tested once,
side by side: the study folder's ``metrics.json`` holds both.

Resuming (``StudyRun.resume``) reopens the study: trials already finished are not run again
(``--trials`` counts every trial of the study), trials that a crash left running are marked
failed and retried with the same values. Several processes (machines) can share one study
through a database server (``--storage``); Optuna's heartbeats retry the trials of a process
that died.
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import polars as pl

from tsssm import runs
from tsssm.recipes import _toml
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ConfigError, RecipeConfig, dump_config, from_dict, load_config
from tsssm.recipes.search_space import TuneConfig, apply_values, trial_recipe
from tsssm.runs import CONFIG, METRICS, PREDICTIONS, RunFolder
from tsssm.runs.study import (
    BEST_RECIPE,
    FINAL_DIR,
    RECIPE,
    STUDY_DB,
    STUDY_JSON,
    TRIALS_DIR,
)

from .pruning import TrialReporter, make_pruner
from .results import best_of, counted, write_results
from .space import make_sampler, suggest
from .storage import open_storage, redact, retry_callback

DEFAULT = "default"  # final/default: the untuned recipe's model
Report = Callable[[str], None]


@dataclass
class StudyRun:
    """A study and its run folder. ``storage`` is None for the folder's own SQLite file."""

    config: RecipeConfig
    folder: RunFolder
    study_name: str
    storage: str | None = None
    trials: int | None = None  # asked for when the study started (resumes keep it)

    # Starting and resuming --------------------------------------------------------------

    @classmethod
    def start(cls, config: RecipeConfig, output_dir: str | Path, study_name: str | None = None,
              storage: str | None = None) -> StudyRun:
        """A new study folder ``<output_dir>/<run.name>-tune-<time>`` for ``config``.

        Raises:
            ConfigError: the recipe has no ``[tune]`` table, Lightning rejects its trainer
                settings, or ``storage`` cannot be opened; nothing is created then.
        """
        from tsssm.training import check_trainer_settings

        tune = _tune_of(config)
        check_trainer_settings(config.train, config.source)
        if "ddp" in config.train.strategy or config.train.devices not in (1, "1", "auto"):
            raise ConfigError(f"{config.source}: `tsssm tune` trains each trial in one process "
                              f"(train.strategy={config.train.strategy!r}, train.devices="
                              f"{config.train.devices!r}); to use several GPUs, start one "
                              "`tsssm tune` per GPU on a shared --storage")
        if storage is not None:
            open_storage(storage)  # fails before any folder exists
        try:
            folder = RunFolder.create(output_dir, f"{config.run.name}-tune")
        except OSError as error:
            raise ConfigError(f"{config.source}: cannot create a run folder in {output_dir}: "
                              f"{error.strerror or error}") from None
        base = _without_tune(config)
        runs.write_text(folder.file(RECIPE), dump_config(config))
        study_config = {**trial_recipe(base, tune.model, {}), "tune": tune.table()}
        runs.write_text(folder.file(CONFIG), _toml.dumps(study_config))
        study = cls(config, folder, study_name or folder.path.name, storage)
        runs.write_json(folder.file(STUDY_JSON), study.summary(tune.trials))
        return study

    @classmethod
    def resume(cls, run_dir: str | Path, storage: str | None = None) -> StudyRun:
        """The study of an existing study folder; ``storage`` replaces the stored URL (whose
        password study.json never keeps).

        Raises:
            ConfigError: not a study folder, still running, or its storage needs a password.
        """
        folder = RunFolder(Path(run_dir))
        summary = runs.read_json(folder.file(STUDY_JSON))
        if not isinstance(summary, dict) or not folder.file(RECIPE).is_file():
            raise ConfigError(f"{run_dir}: not a study folder (no {STUDY_JSON} and {RECIPE}); "
                              "`tsssm tune --resume` continues what `tsssm tune` started")
        if runs.is_live(folder.status()):
            raise ConfigError(f"{run_dir}: still running (process {folder.status()['pid']}); "
                              "resume it once that has ended, or start another process on "
                              "its storage with --storage")
        stored = summary.get("storage")
        if storage is None and stored and "***" in stored:
            raise ConfigError(f"{run_dir}: its storage {stored} needs a password: give the "
                              "full URL with --storage")
        config = load_config(folder.file(RECIPE))
        own = stored == STUDY_DB  # the folder's own SQLite file, wherever it now lies
        return cls(config, folder, summary["study"], storage or (None if own else stored),
                   summary.get("trials"))

    # The study --------------------------------------------------------------------------

    @property
    def tune(self) -> TuneConfig:
        return _tune_of(self.config)

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{self.folder.file(STUDY_DB).resolve()}"

    def summary(self, trials: int) -> dict[str, Any]:
        tune = self.tune
        return {"study": self.study_name,
                "storage": redact(self.storage) if self.storage else STUDY_DB,
                "objective": tune.objective, "direction": tune.direction, "model": tune.model,
                "space": {k: p.table() for k, p in tune.space.items()},
                "sampler": tune.sampler, "pruner": tune.pruner, "trials": trials,
                "recipe": self.config.source}

    def open(self) -> optuna.Study:
        """The Optuna study (created on first use); raises ConfigError when a study of that
        name exists in the storage with another direction."""
        tune = self.tune
        storage = open_storage(self.storage_url())
        seed = tune.seed if tune.seed is not None else self.config.train.seed
        if self.storage is not None:
            # Processes sharing a study must not draw the same start-up points.
            seed += zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            storage=storage, study_name=self.study_name, direction=tune.direction,
            sampler=make_sampler(tune.sampler, seed), pruner=make_pruner(tune.pruner),
            load_if_exists=True)
        if study.direction.name.lower() != tune.direction:
            raise ConfigError(f"study {self.study_name!r} in {redact(self.storage_url())} "
                              f"{study.direction.name.lower()}s its objective, the recipe "
                              f"says {tune.direction}; use another --study")
        return study

    def run(self, trials: int | None = None, timeout: float | None = None, test: bool = True,
            report: Report = print) -> dict[str, Any]:
        """Run trials until the study holds ``trials`` finished ones (default:
        ``tune.trials``) or ``timeout`` seconds pass (no trial starts after it), then
        (``test``) write best.toml and test the best trial so far and the default model, once
        at least one trial has completed. Returns study.json's content."""
        trials = trials or self.trials or self.tune.trials
        self.folder.start_attempt([self.tune.model, f"{self.tune.model}_{DEFAULT}"])
        try:
            study = self.open()
            self._retry_crashed(study, report)
            summary = self.summary(trials)
            done = len(counted(study.get_trials(deepcopy=False)))
            if done < trials:
                study.optimize(self._objective, n_trials=trials - done, timeout=timeout,
                               callbacks=[self._after_trial(trials, summary, report)])
            content = write_results(study, self.tune, self.folder.path, summary)
            done = content["trials_done"]
            if done < trials:
                report(f"{done} of {trials} trials done (timeout): `tsssm tune --resume "
                       f"{self.folder.path}` runs the rest (and tests again)")
            if test and content["best"] is not None:
                self._final(study, report)
            elif test:
                report("no trial completed with a finite objective before the timeout: "
                       "nothing to test yet")
        except SystemExit:  # a trial stopped by SIGTERM / Ctrl+C: resumable
            self.folder.update_status(state="interrupted", interrupted=runs.now(), pid=None)
            raise
        except BaseException as error:
            self.folder.update_status(state="failed", error=f"{type(error).__name__}: {error}",
                                      failed=runs.now())
            raise
        self.folder.update_status(state="finished", finished=runs.now())
        return content

    def _after_trial(self, trials: int, summary: dict[str, Any], report: Report
                     ) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
        def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            content = write_results(study, self.tune, self.folder.path, summary)
            value = "-" if trial.value is None else f"{trial.value:.5g}"
            values = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
            report(f"trial {trial.number} {trial.state.name.lower()}: {self.tune.objective} "
                   f"{value} ({values}); best so far: {(content['best'] or {}).get('value')}")
            if content["trials_done"] >= trials:  # other processes may have run some
                study.stop()
        return after

    def _retry_crashed(self, study: optuna.Study, report: Report) -> None:
        """Trials of this host left running by a process that is gone (a crash, a kill):
        mark them failed and queue them again with the same values."""
        retry = retry_callback(max_retry=None)
        for trial in study.get_trials(deepcopy=False,
                                      states=(optuna.trial.TrialState.RUNNING,)):
            owner = {"state": "running", "host": trial.user_attrs.get("host"),
                     "pid": trial.user_attrs.get("pid")}
            # This process runs one trial at a time, so none of its own is running now.
            ours = owner["host"] == socket.gethostname() and owner["pid"] == os.getpid()
            if not ours and runs.run_state(owner) != "interrupted":
                continue  # another machine's, or still running: heartbeats watch those
            study._storage.set_trial_state_values(trial._trial_id,
                                                  optuna.trial.TrialState.FAIL)
            retry(study, study._storage.get_trial(trial._trial_id))
            report(f"trial {trial.number} was left running by a crash: queued again")

    def _objective(self, trial: optuna.Trial) -> float:
        tune = self.tune
        values = suggest(trial, tune.space)
        run_dir = self.folder.path / TRIALS_DIR / f"trial-{trial.number:04d}"
        for key, value in (("run_dir", str(run_dir.resolve())), ("host", socket.gethostname()),
                           ("pid", os.getpid())):
            trial.set_user_attr(key, value)
        config = from_dict(trial_recipe(_without_tune(self.config), tune.model, values),
                           source=f"{self.config.source} (trial {trial.number})")
        recipe = Recipe.start(config, run_dir.parent, run_dir=run_dir)
        reporter = TrialReporter(trial, tune.objective, tune.direction)
        try:
            recipe.run(test=False, callbacks=[reporter])
        except optuna.TrialPruned as pruned:
            recipe.folder.update_status(state="pruned", error=str(pruned))
            raise
        if reporter.best is None:
            raise RuntimeError(f"trial {trial.number}: no validation epoch gave a finite "
                               f"{tune.objective}")
        entry = recipe.folder.metrics().get(tune.model, {})
        recipe.folder.record_metrics(tune.model, {**entry, "objective": {
            tune.objective: reporter.best}, "trial": trial.number, "params": values})
        return reporter.best

    # The end: best.toml, then the best and the default tested once -----------------------

    def _final(self, study: optuna.Study, report: Report) -> None:
        best = best_of(study)
        if best is None:
            raise RuntimeError(f"study {self.study_name!r}: no trial completed with a finite "
                               f"{self.tune.objective}; nothing to test")
        tune, base = self.tune, _without_tune(self.config)
        tuned = apply_values(base, best.params)
        from_dict(tuned, source=f"{self.folder.file(BEST_RECIPE)}")  # as `tsssm run` reads it
        header = (f"# The best of study {self.study_name!r} (trial {best.number}: "
                  f"{tune.objective} {best.value:.6g} on the validation split), from "
                  f"{self.config.source}.\n#   tsssm run {BEST_RECIPE}\n\n")
        runs.write_text(self.folder.file(BEST_RECIPE), header + _toml.dumps(tuned))
        report(f"best trial {best.number}: {tune.objective} {best.value:.5g}; wrote "
               f"{self.folder.file(BEST_RECIPE)}")
        finals = {tune.model: (f"trial-{best.number:04d}", best.params),
                  f"{tune.model}_{DEFAULT}": (DEFAULT, {})}
        metrics: dict[str, Any] = {}
        frames = []
        for name, (folder_name, values) in finals.items():
            config = from_dict(trial_recipe(base, tune.model, values),
                               source=f"{self.config.source} ({folder_name})")
            folder = self._final_run(config, self.folder.path / FINAL_DIR / folder_name)
            self.folder.update_status(models={name: "finished"})
            entry = folder.metrics()[tune.model]
            metrics[name] = {**entry, "role": "tuned" if values else DEFAULT,
                             "params": values, "trial": best.number if values else None,
                             "run": str(folder.path.relative_to(self.folder.path))}
            if folder.file(PREDICTIONS).is_file():
                frames.append(pl.read_parquet(folder.file(PREDICTIONS))
                              .with_columns(model=pl.lit(name)))
        runs.write_json(self.folder.file(METRICS), metrics)
        if frames:
            runs.write_parquet(self.folder.file(PREDICTIONS),
                               pl.concat(frames, how="vertical_relaxed"))

    def _final_run(self, config: RecipeConfig, path: Path) -> RunFolder:
        """Train and test ``config`` at ``path``, or finish what an earlier attempt began."""
        if path.is_dir() and RunFolder(path).status().get("state") == "finished":
            return RunFolder(path)
        recipe = Recipe.resume(path) if path.is_dir() else Recipe.start(config, path.parent,
                                                                        run_dir=path)
        recipe.run()
        return recipe.folder


def _tune_of(config: RecipeConfig) -> TuneConfig:
    if config.tune is None:
        raise ConfigError(f"{config.source}: no [tune] table: `tsssm tune` searches the space "
                          "it declares, e.g. [tune.space] train.lr = { low = 1e-5, high = "
                          "1e-3, log = true }")
    return config.tune


def _without_tune(config: RecipeConfig) -> dict[str, Any]:
    """The resolved recipe as a dict, without its [tune] table."""
    table = config.to_dict()
    table.pop("tune", None)
    return table
