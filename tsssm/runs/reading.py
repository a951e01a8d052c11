"""Reading run folders (for the app, ``tsssm runs`` and ``tsssm show``): plain functions, no
Streamlit, no torch, never a write.

Everything here reads with json, tomllib and polars only (nothing is unpickled; checkpoints
are never opened). A damaged file never raises out of :func:`read_run`: it becomes a line in
``RunInfo.problems`` that the app shows. The other readers raise :class:`RunFileError` with a
message naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .folder import CONFIG, ENVIRONMENT, METRICS, PREDICTIONS, STATUS

RUN_FILES = (CONFIG, STATUS, METRICS, ENVIRONMENT)
LOGS = "logs"
LOG_FILE = "metrics.csv"
# Columns of Lightning's CSV logs that are not per-epoch curves.
_LOG_INDEX = ("epoch", "step")
# The small files of a run folder are kilobytes; a bigger one is damage, never read whole.
MAX_SMALL_FILE_BYTES = 16 * 2**20


class RunFileError(Exception):
    """A file of a run folder is missing, unreadable or not what the app expects."""


@dataclass(frozen=True)
class RunInfo:
    """What the small files of one run folder say.

    ``config``, ``status``, ``metrics`` and ``environment`` are the parsed files ({} when a
    file is missing or damaged; ``problems`` then says why).
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def recipe(self) -> str:
        return str(self.config.get("run", {}).get("name", "?"))

    @property
    def task(self) -> str:
        return str(self.config.get("run", {}).get("task", "?"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("data", {}).get("dataset", "?"))

    @property
    def models(self) -> list[str]:
        """Main model first, then the baselines (from the config, else status/metrics), then
        any other model metrics.json holds (a study's untuned ``<model>_default``)."""
        run, model = self.config.get("run", {}), self.config.get("model", {})
        if "name" in model:
            named = [model["name"], *run.get("baselines", [])]
            return named + [m for m in self.metrics if m not in named]
        return list(self.status.get("models", {})) or list(self.metrics)

    @property
    def main_model(self) -> str | None:
        return self.models[0] if self.models else None

    @property
    def created(self) -> str:
        return str(self.status.get("created", ""))

    @property
    def attempts(self) -> int:
        return int(self.status.get("attempts", 0) or 0)

    def test_metrics(self, model: str) -> dict[str, float]:
        """The scalar test metrics of ``model`` (lists such as ``mse_per_step`` left out)."""
        test = self.metrics.get(model, {}).get("test", {})
        return {k: v for k, v in test.items() if isinstance(v, int | float)
                and not isinstance(v, bool)}


def find_runs(runs_dir: Path) -> list[Path]:
    """The folders of ``runs_dir`` that hold any run file (damaged ones included), by name.

    Raises:
        RunFileError: ``runs_dir`` does not exist or is not a folder.
    """
    if not runs_dir.is_dir():
        raise RunFileError(f"{runs_dir} is not a folder")
    return sorted(p for p in runs_dir.iterdir()
                  if p.is_dir() and not p.is_symlink()
                  and any((p / name).exists() or (p / name).is_symlink() for name in RUN_FILES))


def file_stamp(path: Path) -> int:
    """Modification time of ``path`` in ns (0 when it does not exist): a cache key part."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def read_small_file(file: Path) -> str:
    """The UTF-8 text of one small run file, read without following a symbolic link, without
    blocking (a FIFO or device is refused unopened) and never past
    :data:`MAX_SMALL_FILE_BYTES`.

    Raises:
        FileNotFoundError: no such file.
        RunFileError: not a regular file, too large, or not UTF-8 (the message says which,
            never the content).
    """
    info = os.lstat(file)
    if not stat.S_ISREG(info.st_mode):
        raise RunFileError("is not a regular file")
    if info.st_size > MAX_SMALL_FILE_BYTES:
        raise RunFileError(f"is {info.st_size:,} bytes, too large for a run file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(file, flags)
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_SMALL_FILE_BYTES + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFileError("is not UTF-8 text") from None


def read_run(path: Path) -> RunInfo:
    """The config, status, metrics and environment of the run folder ``path``."""
    problems: list[str] = []
    parsed: dict[str, dict[str, Any]] = {}
    for name in RUN_FILES:
        file = path / name
        try:
            text = read_small_file(file)
        except FileNotFoundError:
            if name in (CONFIG, STATUS):  # metrics and environment come later in a run
                problems.append(f"{name} is missing")
            parsed[name] = {}
            continue
        except (OSError, RunFileError) as error:
            problems.append(f"{name} {error}" if isinstance(error, RunFileError)
                            else f"{name} cannot be read: {error.strerror}")
            parsed[name] = {}
            continue
        try:
            content = tomllib.loads(text) if name == CONFIG else json.loads(text)
        except ValueError as error:
            problems.append(f"{name} is not valid {'TOML' if name == CONFIG else 'JSON'} "
                            f"({type(error).__name__} at {_where(error)})")
            parsed[name] = {}
            continue
        if not isinstance(content, dict):
            problems.append(f"{name} holds a {type(content).__name__}, not a table")
            content = {}
        parsed[name] = content
    problems += _drop_malformed(parsed)
    return RunInfo(path, parsed[CONFIG], parsed[STATUS], parsed[METRICS], parsed[ENVIRONMENT],
                   tuple(problems))


# Entries whose values must be tables (dicts): file -> keys (None: every value of the file).
_TABLES: dict[str, tuple[str, ...] | None] = {
    CONFIG: ("run", "data", "model", "train"), STATUS: ("models",), METRICS: None}


def _drop_malformed(parsed: dict[str, dict[str, Any]]) -> list[str]:
    """Remove, in place, the entries of parsed run files that are not tables where readers
    expect tables (``metrics.json``'s per-model entries, ``status.json``'s ``models``...);
    one problem line for each."""
    problems = []
    for name, keys in _TABLES.items():
        content = parsed[name]
        for key in list(content) if keys is None else [k for k in keys if k in content]:
            if not isinstance(content[key], dict):
                problems.append(f"{name}: {key!r} holds a {type(content[key]).__name__}, "
                                "not a table")
                del content[key]
    for model, entry in parsed[METRICS].items():
        if "test" in entry and not isinstance(entry["test"], dict):
            problems.append(f"{METRICS}: {model!r}.test holds a "
                            f"{type(entry['test']).__name__}, not a table")
            del entry["test"]
    return problems


def _where(error: ValueError) -> str:
    """Line and column of a JSON or TOML error (its message may quote the file)."""
    line, column = getattr(error, "lineno", None), getattr(error, "colno", None)
    return f"line {line}, column {column}" if line is not None else "an unknown place"


def inside_run(path: Path, file: Path) -> bool:
    """Whether ``file`` is a regular file of the run folder ``path`` once every symbolic
    link is resolved: a link out of the folder (or to a FIFO, a device) is not followed."""
    try:
        resolved = file.resolve(strict=True)
        return resolved.is_relative_to(path.resolve(strict=True)) and resolved.is_file()
    except (OSError, RuntimeError):  # missing, a loop of links
        return False


def scan_run_parquet(path: Path, name: str) -> pl.LazyFrame:
    """A lazy scan of the Parquet file ``name`` of the run folder ``path`` (nothing is read
    until it is collected; filters read only the row groups they need).

    Raises:
        RunFileError: the file is missing, outside the run folder (a link out of it), or not
            Parquet (the message names the file, never its content).
    """
    file = path / name
    if not (file.exists() or file.is_symlink()):
        raise RunFileError(f"{name} is missing: the run has not written it yet")
    if not inside_run(path, file):
        raise RunFileError(f"{name} is not a regular file inside the run folder (a link out "
                           "of it is not followed)")
    scan = pl.scan_parquet(file)
    try:
        scan.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as error:
        raise RunFileError(f"{name} cannot be read as Parquet ({type(error).__name__})") from None
    return scan


def scan_predictions(path: Path, task: str, columns: Sequence[str]) -> pl.LazyFrame:
    """predictions.parquet of the run folder ``path``, scanned lazily (see
    :func:`scan_run_parquet`) and checked against the prediction ``columns`` of its
    ``task`` (``tsssm.tasks.get_task(task).prediction_columns``).

    Raises:
        RunFileError: the file is missing, not Parquet, or lacks one of ``columns``.
    """
    scan = scan_run_parquet(path, PREDICTIONS)
    present = scan.collect_schema().names()
    missing = [name for name in columns if name not in present]
    if missing:
        raise RunFileError(f"{PREDICTIONS} lacks the {task} column(s) {missing} "
                           f"(it has {present})")
    return scan


def read_predictions(path: Path, task: str, columns: Sequence[str],
                     where: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """The rows of predictions.parquet (see :func:`scan_predictions`) whose columns equal
    ``where``'s values (``{"model": "smamba", "window": 96}``; all rows when None), read
    through a filtered scan: only the row groups that can hold them are decoded.

    Raises:
        RunFileError: as :func:`scan_predictions`, or a column of ``where`` is not in the
            file, or the file is damaged past its metadata.
    """
    scan = scan_predictions(path, task, columns)
    unknown = sorted(set(where or {}) - set(scan.collect_schema().names()))
    if unknown:
        raise RunFileError(f"{PREDICTIONS} has no column(s) {unknown}")
    for column, value in (where or {}).items():
        scan = scan.filter(pl.col(column) == value)
    return collect(scan, PREDICTIONS)


def collect(scan: pl.LazyFrame, name: str) -> pl.DataFrame:
    """``scan.collect()`` with polars' streaming engine (memory bounded by its batches, not
    the file); a damaged file ``name`` raises RunFileError."""
    try:
        return scan.collect(engine="streaming")
    except (OSError, pl.exceptions.PolarsError) as error:
        raise RunFileError(f"{name} cannot be read ({type(error).__name__})") from None


def log_files(path: Path) -> list[Path]:
    """Lightning CSV logs of the run folder ``path``: logs/<model>/version_<k>/metrics.csv
    (those inside it: links out of it are not followed)."""
    return sorted(file for file in (path / LOGS).glob(f"*/version_*/{LOG_FILE}")
                  if inside_run(path, file))


def read_curves(path: Path) -> pl.DataFrame:
    """Per-epoch training curves of every model of the run folder ``path``.

    Returns a long frame with columns ``model``, ``epoch``, ``metric``, ``value``: for each
    logged metric (test metrics left out) its last value in each epoch. A resumed run logs
    each attempt in a new ``version_<k>``; for an epoch logged by several, the newest wins.

    Raises:
        RunFileError: a log file is not a readable CSV.
    """
    parts = []
    for file in log_files(path):
        model, version = file.parent.parent.name, file.parent.name
        try:
            frame = pl.read_csv(file, infer_schema_length=None)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise RunFileError(f"{file.relative_to(path)} cannot be read as CSV "
                               f"({type(error).__name__})") from None
        curves = [c for c in frame.columns if c not in _LOG_INDEX and not c.startswith("test_")]
        if "epoch" not in frame.columns or not curves:
            continue
        long = (frame.select("epoch", *curves)
                .with_columns(pl.col(curves).cast(pl.Float64, strict=False))
                .unpivot(index="epoch", variable_name="metric")
                .drop_nulls("value"))
        version_number = int(version.removeprefix("version_") or 0)
        parts.append(long.with_columns(model=pl.lit(model), version=pl.lit(version_number)))
    if not parts:
        return pl.DataFrame(schema={"model": pl.String, "epoch": pl.Int64,
                                    "metric": pl.String, "value": pl.Float64})
    return (pl.concat(parts, how="vertical_relaxed")
            .with_row_index("order")
            .sort("version", "order")
            .group_by("model", "epoch", "metric", maintain_order=True)
            .agg(pl.col("value").last())
            .sort("model", "metric", "epoch")
            .select("model", pl.col("epoch").cast(pl.Int64), "metric", "value"))
