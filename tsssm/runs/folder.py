"""Run folders: ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>/`` and everything written in them.

Every file is written atomically: into a temporary file of the same folder, then renamed over
the target (``os.replace``), so a reader (the app, ``tsssm runs``) or a killed run never sees
a half-written file. Layout::

    config.toml        the resolved config          metrics.json   one entry per model
    status.json        running / finished / failed  environment.json
    predictions.parquet                             checkpoints/<model>/*.ckpt
    logs/<model>/version_<k>/metrics.csv (Lightning's CSVLogger; one version per attempt)

Checkpoints go through the same atomic write (``tsssm.training.callbacks.AtomicCheckpointIO``);
the CSV logs are Lightning's own append-only files.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

CONFIG, METRICS, STATUS = "config.toml", "metrics.json", "status.json"
ENVIRONMENT, PREDICTIONS = "environment.json", "predictions.parquet"
TIME_FORMAT = "%Y%m%d-%H%M%S"


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so that no other thread ever
    creates a file while the umask is briefly changed to read it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` (binary, or UTF-8 text for ``mode="w"``); when
    the block ends without an error it replaces ``path``, else it is removed.

    The temporary file is created exclusively (``mkstemp``: never through a symlink someone
    put in its place) and ends with the permissions a plain ``open`` would give it
    (``0o666`` less the umask); ``os.replace`` replaces ``path`` itself, never a file a
    symlink at ``path`` points to.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp makes it private (0o600)
    try:
        with os.fdopen(handle, mode, encoding=None if "b" in mode else "utf-8") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path, "w") as file:
        file.write(text)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    """Write ``frame`` as Parquet (zstd) to ``path`` atomically."""
    with atomic_file(path) as file:
        frame.write_parquet(file, compression="zstd")


def read_json(path: Path) -> Any:
    """The JSON content of ``path``, or None when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def now() -> str:
    """The current local time, ISO 8601 with seconds."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunFolder:
    """One run folder (its files are described in the module docstring)."""

    path: Path

    @classmethod
    def create(cls, output_dir: str | Path, name: str) -> RunFolder:
        """A new, empty ``<output_dir>/<name>-<time>`` (``-2``, ``-3``... if taken)."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{datetime.now().strftime(TIME_FORMAT)}"
        for attempt in range(1, 1000):
            path = output_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                path.mkdir()  # fails if it exists: two runs started in the same second
            except FileExistsError:
                continue
            return cls(path)
        raise FileExistsError(f"cannot create a run folder {stem} in {output_dir}")

    @classmethod
    def create_at(cls, path: str | Path) -> RunFolder:
        """A new, empty run folder at exactly ``path`` (which must not exist yet)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def checkpoints(self, model: str) -> Path:
        return self.path / "checkpoints" / model

    def logs(self) -> Path:
        return self.path / "logs"

    # status.json -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """status.json ({} before the first write).

        Raises:
            RunFileError: it is damaged (not JSON, not a table); the message says what the
                user can do.
        """
        return self._table(STATUS)

    def _table(self, name: str) -> dict[str, Any]:
        from .reading import RunFileError

        try:
            content = read_json(self.file(name))
        except (ValueError, UnicodeDecodeError) as error:
            raise RunFileError(
                f"{self.file(name)} is damaged ({type(error).__name__}); the run cannot be "
                "resumed from it: start the recipe again (the checkpoints stay in "
                f"{self.path / 'checkpoints'})") from None
        if content is not None and not isinstance(content, dict):
            raise RunFileError(f"{self.file(name)} holds a {type(content).__name__}, not a "
                               "table: the run folder is damaged; start the recipe again")
        return content or {}

    def update_status(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into status.json (``models`` entries merge one level deeper)."""
        status = self.status()
        models = {**status.get("models", {}), **changes.pop("models", {})}
        status.update(changes, models=models, updated=now())
        write_json(self.file(STATUS), status)
        return status

    def start_attempt(self, models: list[str]) -> None:
        """Mark the run as running in this process (first start or resume)."""
        status = self.status()
        states = {m: status.get("models", {}).get(m, "pending") for m in models}
        self.update_status(
            state="running", created=status.get("created", now()), finished=None, error=None,
            pid=os.getpid(), host=socket.gethostname(), attempts=status.get("attempts", 0) + 1,
            models=states,
        )

    # metrics.json and predictions.parquet ----------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """metrics.json ({} before the first write); damage raises RunFileError."""
        return self._table(METRICS)

    def record_metrics(self, model: str, entry: dict[str, Any]) -> None:
        write_json(self.file(METRICS), {**self.metrics(), model: entry})

    def record_predictions(self, model: str, frame: pl.DataFrame) -> None:
        """Put ``frame`` in predictions.parquet in place of any earlier rows of ``model``."""
        path = self.file(PREDICTIONS)
        if path.exists():
            kept = pl.read_parquet(path).filter(pl.col("model") != model)
            frame = pl.concat([kept, frame], how="vertical_relaxed")
        write_parquet(path, frame)


def _alive(status: dict[str, Any]) -> bool | None:
    """Whether the process of a "running" run still exists; None when it ran on another host
    (or left no pid), where that cannot be known."""
    if status.get("host") != socket.gethostname() or not status.get("pid"):
        return None
    try:
        os.kill(status["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def run_state(status: dict[str, Any]) -> str:
    """running / finished / failed, or "interrupted" for a running run whose process died."""
    state = status.get("state", "unknown")
    return "interrupted" if state == "running" and _alive(status) is False else state


def is_live(status: dict[str, Any]) -> bool:
    """Whether a process of this host is known to be running the run right now."""
    return status.get("state") == "running" and _alive(status) is True


def list_runs(runs_dir: str | Path) -> list[RunFolder]:
    """The run folders in ``runs_dir`` (those holding a status.json), oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = [RunFolder(p) for p in runs_dir.iterdir() if (p / STATUS).is_file()]
    return sorted(runs, key=lambda run: (run.status().get("created", ""), run.path.name))
