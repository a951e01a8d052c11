"""The ``tsssm`` command: run recipes and look at their run folders.

    tsssm run etth1_smamba --set train.max_epochs=3      # a shipped recipe, by name
    tsssm run my_recipe.toml
    tsssm run --resume runs/etth1_smamba-20250101-120000
    tsssm tune recipes/etth1_smamba.toml --trials 20
    tsssm runs
    tsssm show runs/etth1_smamba-20250101-120000
    tsssm predict runs/etth1_smamba-20250101-120000 new.csv --out forecasts.parquet
    tsssm app --runs runs
    tsssm bench --quick

A usage error (bad recipe, missing file, unknown model or key) prints one line to stderr and
exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2

DESCRIPTION = """\
tsssm: state-space models for time series. Train and evaluate recipes, and read their runs.

commands:
  run      train and evaluate a recipe (a TOML file, or a shipped recipe by name) into a new
           run folder, or resume one
  tune     search the recipe's [tune] space with Optuna, then test the best beside the default
  runs     list the run folders of a directory, newest last, with their headline test metrics
  show     print one run's status, metrics and files
  predict  predict new data with a run's trained model (or one of its baselines)
  app      open the Streamlit app that inspects run folders (in the browser)
  bench    time the selective-scan kernels; results go to a new folder under runs/

examples:
  tsssm run etth1_smamba
  tsssm run recipes/etth1_smamba.toml --set train.max_epochs=3 --set model.d_model=128
  tsssm run --resume runs/etth1_smamba-20250101-120000
  tsssm tune recipes/etth1_smamba.toml --trials 20 --timeout 3600
  tsssm runs --runs runs
  tsssm show runs/etth1_smamba-20250101-120000
  tsssm predict runs/etth1_smamba-20250101-120000 new.csv --model dlinear --out new.parquet
  tsssm app --runs runs --port 8501
  tsssm bench --quick
"""

RUN_HELP = """\
Train the recipe's main model and each of its baselines (run.baselines), evaluate them on the
test split, and write runs/<name>-<YYYYmmdd-HHMMSS>/: config.toml (the resolved config),
metrics.json, predictions.parquet, checkpoints/, logs/ (CSV), environment.json, status.json.
Prints the run folder first and a table of test metrics at the end."""

TUNE_HELP = """\
Search the space of the recipe's [tune] table with Optuna (TPE sampler, median or
successive-halving pruning after each validation epoch) into runs/<name>-tune-<time>/: every
trial trains the tuned model alone in trials/trial-<number>/ and is scored on the VALIDATION
split (tune.objective); the study lives in study.db there (or in --storage). At the end, the
best trial's values make best.toml (the whole recipe: `tsssm run best.toml`), and the tuned
model of best.toml and of the untuned recipe are trained and tested once, side by side, in
final/ (metrics.json, predictions.parquet). trials.parquet and study.json list the trials.
--resume continues a study after a crash: finished trials are not run again, trials a crash
left running are retried with the same values, and --trials counts every trial of the study.
Several processes on several machines share one study through --storage (a PostgreSQL or
MySQL URL) and --study NAME; start the extra ones with --no-test."""

APP_HELP = """\
Start the Streamlit app on the run folders of DIR and print its address; open it in a
browser. Pages: every run (recipe, models, data, date, status, headline metrics; filter, sort),
one run (metrics, training curves, and the view of its task: forecasts with their lookback,
phase ribbons, EEG timelines with ROC curves, anomaly scores), and runs compared side by side.
The app only reads the run folders. Stop it with Ctrl+C."""

BENCH_HELP = """\
Run the selective-scan kernel benchmark (benchmarks/kernels/bench.py, shipped with tsssm) with
the arguments given after `bench` (e.g. --quick, --shapes 8x512x2048x16, --device cuda,
--threads 2); `tsssm bench -- --help` lists them all. It times every backend against a plain
loop and mambapy's pscan (pip install "tsssm[bench]") and writes its JSON and markdown report
to --out DIR, by default a new folder runs/bench-<YYYYmmdd-HHMMSS>/; it never writes into the
recorded results of the source checkout (benchmarks/kernels/results/)."""

PREDICT_HELP = """\
Rebuild a model of a finished run from its config.toml and best checkpoint (read with
weights_only=True), preprocess DATA as the run's recipe did and write one row per prediction,
in the columns of the run's predictions.parquet. DATA is, by task: forecasting, a CSV/Parquet
series with the run's date column and variates (every window of `lookback` rows is forecast;
the last one reaches past the end of the file); eeg_classification, phase and
series_classification, a data set name or folder in the run's layout (all its recordings,
videos or cases are predicted). Tasks without a predictor (anomaly_detection, eeg_pretraining)
are refused with a message."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), not usage + message."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see `{self.prog} --help`)")


def _fail(message: str) -> NoReturn:
    print(f"tsssm: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tsssm", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", help="train and evaluate a recipe", description=RUN_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("recipe", nargs="?", metavar="RECIPE",
                     help="a recipe file, or the name of a shipped recipe (etth1_smamba, "
                          "cholec80_phase, ...); leave out with --resume")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE",
                     help="change one setting, e.g. --set train.lr=1e-3 --set model.d_model=128 "
                          "(the value is read as TOML, else as a string); repeatable")
    run.add_argument("--output-dir", metavar="DIR",
                     help="where to create the run folder (default: run.output_dir of the "
                          "recipe, itself 'runs' by default)")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue an interrupted run from its newest checkpoints, with the "
                          "config saved in it; finished models are not trained again")

    tune = commands.add_parser("tune", help="search a recipe's [tune] space with Optuna",
                               description=TUNE_HELP,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_argument("recipe", nargs="?", metavar="RECIPE.toml",
                      help="the recipe file, with a [tune] table (leave out with --resume)")
    tune.add_argument("--trials", type=int, metavar="N",
                      help="finished trials the study should hold (default: tune.trials)")
    tune.add_argument("--study", metavar="NAME",
                      help="the study's name in its storage (default: the run folder's name)")
    tune.add_argument("--storage", metavar="URL",
                      help="an Optuna RDB storage shared by several processes, e.g. "
                           "postgresql://user:password@host/db (default: sqlite study.db in "
                           "the run folder)")
    tune.add_argument("--timeout", type=float, metavar="S",
                      help="start no trial after S seconds (the running one finishes), "
                           "then test the best trial so far")
    tune.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="change one setting of the recipe (as for "
                                                "`tsssm run`); repeatable")
    tune.add_argument("--output-dir", metavar="DIR",
                      help="where to create the study's run folder (default: run.output_dir)")
    tune.add_argument("--resume", metavar="RUN_DIR",
                      help="continue the study of a study folder")
    tune.add_argument("--no-test", dest="test", action="store_false",
                      help="only run trials: no best.toml, no test (extra processes of a "
                           "shared study)")

    runs = commands.add_parser("runs", help="list runs with their headline test metrics",
                               description="List the run folders of DIR, oldest first: name, "
                                           "start time, status and the headline test metrics "
                                           "of every model (those of the run's task).")
    runs.add_argument("--runs", default="runs", metavar="DIR",
                      help="the folder holding run folders (default: runs)")

    show = commands.add_parser("show", help="print one run's metrics and files",
                               description="Print a run's status, the test metrics of every "
                                           "model and the paths of its files.")
    show.add_argument("run", metavar="RUN", help="a run folder (or its name inside --runs)")
    show.add_argument("--runs", default="runs", metavar="DIR",
                      help="where to look for RUN when it is a bare name (default: runs)")

    predict = commands.add_parser("predict", help="predict new data with a run's model",
                                  description=PREDICT_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("run", metavar="RUN", help="a finished run folder")
    predict.add_argument("data", metavar="DATA",
                         help="the data to predict (a file, folder or bundled name; see above)")
    predict.add_argument("--model", metavar="M",
                         help="the run's model to use (default: its main model)")
    predict.add_argument("--out", metavar="FILE",
                         help="write the predictions to FILE (.parquet or .csv; default: "
                              "print the first rows)")

    app = commands.add_parser("app", help="open the app that inspects run folders",
                              description=APP_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    app.add_argument("--runs", default="runs", metavar="DIR",
                     help="the folder holding run folders (default: runs)")
    app.add_argument("--port", type=int, default=8501, metavar="N",
                     help="the port to serve on (default: 8501)")
    app.add_argument("--address", default="localhost", metavar="HOST",
                     help="the address to serve on (default: localhost; 0.0.0.0 to share it "
                          "on the network)")

    commands.add_parser("bench", help="time the selective-scan kernels",
                        description=BENCH_HELP, usage="tsssm bench [--out DIR] [BENCH ARGS...]",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsssm`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":  # everything after `bench` is the benchmark's
        return _bench(argv[argv.index("bench") + 1:])
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "app":
        return _app(Path(args.runs), args.port, args.address)
    # Imported here: `tsssm --help` stays fast, and import errors show as command errors.
    from tsssm.data.series import DataError
    from tsssm.runs import RunFileError
    from tsssm.training.config import ConfigError

    try:
        if args.command == "run":
            return _run(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "runs":
            return _runs(Path(args.runs))
        if args.command == "predict":
            return _predict(args)
        return _show(args.run, Path(args.runs))
    except (ConfigError, DataError, RunFileError, FileNotFoundError) as error:
        _fail(str(error))
    except FloatingPointError as error:  # a NaN or infinite loss or metric (status: failed)
        _fail(f"the run stopped: {error}")
    except BrokenPipeError:  # `tsssm runs | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0


def _hide_lightning_tips() -> None:
    """Lightning advertises its cloud services each time a Trainer is built; keep the run's
    output to the run (its other messages stay)."""
    import lightning.pytorch  # noqa: F401  (sets up the "lightning.pytorch" log handler)

    tip = "\N{ELECTRIC LIGHT BULB} Tip"
    for handler in logging.getLogger("lightning.pytorch").handlers:
        handler.addFilter(lambda record: not record.getMessage().startswith(tip))


def _run(args: argparse.Namespace) -> int:
    from tsssm.recipes import Recipe, load_config
    from tsssm.resources import recipe_path

    _hide_lightning_tips()

    if args.resume:
        if args.recipe or args.overrides:
            _fail("--resume continues a run with the config saved in it; "
                  "leave out RECIPE and --set")
        if not Path(args.resume).is_dir():
            _fail(f"no run folder {args.resume}")
        recipe = Recipe.resume(args.resume)
    else:
        if not args.recipe:
            _fail("give a RECIPE.toml to run, or --resume RUN_DIR")
        config = load_config(recipe_path(args.recipe), args.overrides)
        recipe = Recipe.start(config, args.output_dir or config.run.output_dir)
    leader = recipe.rank == 0  # the other processes of a distributed run stay silent
    if leader:
        print(f"run folder: {recipe.folder.path}", flush=True)
    metrics = recipe.run()
    if leader:
        print(_metrics_table(metrics, _headline(recipe.config.run.task)))
        print(f"run folder: {recipe.folder.path}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from tsssm.recipes import load_config
    from tsssm.resources import recipe_path

    if args.trials is not None and args.trials < 1:
        _fail(f"--trials must be at least 1, not {args.trials}")
    if args.timeout is not None and not args.timeout > 0:
        _fail(f"--timeout must be a positive number of seconds, not {args.timeout}")
    if args.resume:
        if args.recipe or args.overrides or args.study:
            _fail("--resume continues a study with the recipe saved in it; leave out RECIPE, "
                  "--set and --study")
        if not Path(args.resume).is_dir():
            _fail(f"no run folder {args.resume}")
    elif not args.recipe:
        _fail("give a RECIPE.toml with a [tune] table, or --resume RUN_DIR")
    _hide_lightning_tips()
    from tsssm.tuning import StudyRun

    if args.resume:
        study = StudyRun.resume(args.resume, args.storage)
    else:
        config = load_config(recipe_path(args.recipe), args.overrides)
        study = StudyRun.start(config, args.output_dir or config.run.output_dir, args.study,
                               args.storage)
    print(f"study folder: {study.folder.path}", flush=True)
    summary = study.run(args.trials, args.timeout, args.test,
                        report=lambda line: print(line, flush=True))
    metrics = study.folder.metrics()
    if metrics:
        print(_metrics_table(metrics, _headline(study.config.run.task)))
    print(f"{summary['trials_done']} trials done; best: {summary['best']}")
    print(f"study folder: {study.folder.path}")
    return 0


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in lines)


def _headline(task: str) -> tuple[str, ...]:
    """The headline test metrics of ``task`` (none for an unknown one)."""
    from tsssm.tasks import TASKS

    return TASKS[task].headline_metrics if task in TASKS else ()


def _metrics_table(metrics: dict[str, Any], headline: tuple[str, ...]) -> str:
    header = ["model", "role", *(f"test {name}" for name in headline), "val loss", "epochs",
              "train s", "items/s"]
    rows = []
    for name, entry in metrics.items():
        test = entry.get("test", {})
        rows.append([name, entry.get("role", "-"), *(_fmt(test.get(k)) for k in headline),
                     _fmt(entry.get("val_loss")), _fmt(entry.get("epochs")),
                     _fmt(entry.get("train_time_s"), 1), _fmt(entry.get("windows_per_s"), 0)])
    return _table(header, rows)


def _runs(runs_dir: Path) -> int:
    from tsssm.runs import find_runs, read_run, run_state

    if not runs_dir.is_dir():
        _fail(f"no runs folder {runs_dir}")
    infos = sorted((read_run(path) for path in find_runs(runs_dir)),
                   key=lambda info: (str(info.status.get("created", "")), info.name))
    if not infos:
        print(f"no runs in {runs_dir}")
        return 0
    rows = []
    for info in infos:
        if info.problems:  # damaged: one line that says what, the rest of the list goes on
            rows.append([info.name, "-", "damaged", "; ".join(info.problems)])
            continue
        headline, scores = _headline(info.task), []
        for model in info.models:
            test = info.test_metrics(model)
            values = " ".join(f"{k}={_fmt(test.get(k))}" for k in headline) if test else "-"
            scores.append(f"{model} {values}")
        created = info.created[:19].replace("T", " ")
        rows.append([info.name, created, run_state(info.status), ", ".join(scores)])
    print(_table(["run", "started", "status", "test metrics per model"], rows))
    return 0


def _show(run: str, runs_dir: Path) -> int:
    from tsssm.runs import read_run, run_state

    path = Path(run)
    if not path.is_dir() and (runs_dir / run).is_dir():
        path = runs_dir / run
    if not path.is_dir() or not (path / "status.json").exists():
        _fail(f"{run} is not a run folder (no status.json)")
    info = read_run(path)
    status = info.status
    print(f"run:      {path}")
    for problem in info.problems:
        print(f"damaged:  {problem}")
    print(f"status:   {run_state(status)}  (started {status.get('created', '-')}, "
          f"finished {status.get('finished') or '-'})")
    if status.get("error"):
        print(f"error:    {status['error']}")
    models = status.get("models", {})
    states = ", ".join(f"{m} {s}" for m, s in models.items()) if isinstance(models, dict) else "-"
    print(f"models:   {states}")
    if info.metrics:
        print()
        print(_metrics_table(info.metrics, _headline(info.task)))
    print("\nfiles:")
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        print(f"  {file.relative_to(path)}  ({file.stat().st_size:,} bytes)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tsssm.serving import load_run

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".parquet", ".csv"):
        _fail(f"--out {out}: write predictions to a .parquet or .csv file")
    predictor = load_run(args.run, args.model)
    data: str | Path = args.data
    if Path(args.data).exists():
        data = Path(args.data)
    frame = predictor.predict(data)
    if out is None:
        print(frame)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            frame.write_csv(out)
        else:
            frame.write_parquet(out)
        print(f"{frame.height:,} predictions of {predictor.model} written to {out}")
    return 0


def _app(runs_dir: Path, port: int, address: str) -> int:
    import subprocess

    from tsssm.app import RUNS_DIR_ENV
    from tsssm.app.serve import server_command

    if not runs_dir.is_dir():
        _fail(f"no runs folder {runs_dir}: pass --runs DIR, the folder holding your run "
              "folders (where `tsssm run --output-dir DIR` writes them)")
    if not 0 < port < 65536:
        _fail(f"--port {port} is not a port number (1-65535)")
    env = {**os.environ, RUNS_DIR_ENV: str(runs_dir.resolve())}
    try:
        return subprocess.call(server_command(port, address), env=env)
    except KeyboardInterrupt:  # Ctrl+C stops streamlit too; not an error
        return 0


def bench_script() -> Path | None:
    """benchmarks/kernels/bench.py as shipped with tsssm (checkout or wheel), if present."""
    from tsssm.resources import resource_dir

    script = resource_dir("benchmarks") / "kernels" / "bench.py"
    return script if script.is_file() else None


def _bench_out_dir(args: list[str]) -> tuple[Path, list[str]]:
    """The benchmark's output folder (``--out DIR``, ``--out-dir DIR``, or a new
    ``runs/bench-<time>/``) and the remaining arguments for the script."""
    from datetime import datetime

    from tsssm.runs.folder import TIME_FORMAT

    rest, out = [], None
    items = iter(args)
    for item in items:
        name, _, value = item.partition("=")
        if name in ("--out", "--out-dir"):
            out = value or next(items, None)
            if not out:
                _fail(f"bench: {name} needs a folder")
        else:
            rest.append(item)
    folder = Path(out) if out else Path("runs") / f"bench-{datetime.now().strftime(TIME_FORMAT)}"
    recorded = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels" / "results"
    if folder.resolve() == recorded:
        _fail(f"bench: {folder} holds the recorded results of the source checkout; write to "
              "another folder (--out DIR) and copy what you mean to record")
    return folder, rest


def _bench(args: list[str]) -> int:
    import subprocess

    script = bench_script()
    if script is None:
        _fail("the kernel benchmark (benchmarks/kernels/bench.py) is missing from this "
              "installation: reinstall tsssm (the wheel ships it), or run `tsssm bench` in a "
              "clone of the tsssm repository")
    if args[:1] == ["--"]:
        args = args[1:]
    if "-h" in args or "--help" in args:
        return subprocess.call([sys.executable, str(script), "--help"])
    out_dir, args = _bench_out_dir(args)
    print(f"bench results: {out_dir}", flush=True)
    try:
        return subprocess.call([sys.executable, str(script), *args, "--out-dir", str(out_dir)])
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
