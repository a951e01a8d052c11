"""Run folders: ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>/`` and everything written in them.

Every file is written atomically: into a temporary file of the same folder, then renamed over
the target (``os.replace``), so a reader (the app, ``tsssm runs``) or a killed run never sees
a half-written file. Layout::

    config.toml        the resolved config          metrics.json   one entry per model
    status.json        running / finished / failed  environment.json
    predictions.parquet                             checkpoints/<model>/*.ckpt
    inputs.parquet     forecasting: the test rows the windows read (the app's lookbacks)
    preprocessing.json what predicting new data needs beyond config.toml (train statistics,
                       class names; ``tsssm.serving``)
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:  # pyarrow is imported when predictions are written, not by readers
    import pyarrow as pa
    import pyarrow.parquet as pq

CONFIG, METRICS, STATUS = "config.toml", "metrics.json", "status.json"
ENVIRONMENT, PREDICTIONS = "environment.json", "predictions.parquet"
INPUTS = "inputs.parquet"
PREPROCESSING = "preprocessing.json"
TIME_FORMAT = "%Y%m%d-%H%M%S"
# Rows of predictions.parquet held in memory at most while writing, and its row-group size.
CHUNK_ROWS = 2**18


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


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new temporary file in ``path``'s folder (created if needed): descriptor and path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp makes it private (0o600)
    return handle, Path(temp)


def _commit(file: IO[Any], temp: Path, path: Path) -> None:
    """Flush and close ``file`` (the temporary ``temp``), then rename it over ``path``."""
    file.flush()
    os.fsync(file.fileno())
    file.close()
    os.replace(temp, path)


def _discard(file: IO[Any], temp: Path) -> None:
    file.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` (binary, or UTF-8 text for ``mode="w"``); when
    the block ends without an error it replaces ``path``, else it is removed.

    The temporary file is created exclusively (``mkstemp``: never through a symlink someone
    put in its place) and ends with the permissions a plain ``open`` would give it
    (``0o666`` less the umask); ``os.replace`` replaces ``path`` itself, never a file a
    symlink at ``path`` points to.
    """
    handle, temp = _temporary_beside(path)
    file = os.fdopen(handle, mode, encoding=None if "b" in mode else "utf-8")
    try:
        yield file
        _commit(file, temp, path)
    except BaseException:
        _discard(file, temp)
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

    @contextlib.contextmanager
    def prediction_writer(self, model: str, chunk_rows: int | None = None,
                          required: tuple[str, ...] = ()) -> Iterator[PredictionWriter]:
        """A :class:`PredictionWriter` (chunks of ``chunk_rows``, default :data:`CHUNK_ROWS`;
        ``required``: the columns every model's rows have) that puts ``model``'s rows in
        predictions.parquet in place of its earlier ones; the file is replaced when the block
        ends without an error, and only if the block wrote (even an empty frame)."""
        writer = PredictionWriter(self.file(PREDICTIONS), model, chunk_rows or CHUNK_ROWS,
                                  required)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()

    def record_predictions(self, model: str, frame: pl.DataFrame,
                           required: tuple[str, ...] = ()) -> None:
        """Put ``frame`` in predictions.parquet in place of any earlier rows of ``model``;
        columns that only some models have (a quantile model's) are null for the others."""
        with self.prediction_writer(model, required=required) as writer:
            writer.write(frame)


class PredictionWriter:
    """Writes one model's predictions into ``path`` (predictions.parquet) chunk by chunk, so
    that memory stays flat in the number of rows.

    The rows of the other models are copied first, batch by batch, from the current file;
    then every frame given to :meth:`write` follows, in order, as row groups of exactly
    ``chunk_rows`` rows (the last one shorter): at most one chunk of rows is held at a time.
    Everything goes into a temporary file that :meth:`close` renames over ``path`` (see
    :func:`atomic_file`); :meth:`abort` removes it. Frames must have the columns and types of
    the file's other rows (the same task writes them all), except that columns only some
    models have (a quantile model's ``q0.1``...) are null in the rows of the others; a frame
    without one of the ``required`` columns (the task's prediction columns) is refused.
    """

    def __init__(self, path: Path, model: str, chunk_rows: int = CHUNK_ROWS,
                 required: tuple[str, ...] = ()) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
        self.path, self.model, self.chunk_rows = path, model, chunk_rows
        self.required = required
        self.rows = 0  # rows of ``model`` written so far
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._file: IO[bytes] | None = None
        self._temp = path
        self._writer: pq.ParquetWriter | None = None

    @property
    def pending_rows(self) -> int:
        """Rows held in memory, waiting for their chunk to fill (fewer than ``chunk_rows``
        between calls)."""
        return self._pending_rows

    def write(self, frame: pl.DataFrame) -> None:
        """Append ``frame``'s rows (a ``model`` column equal to this writer's model)."""
        import pyarrow as pa

        table = frame.to_arrow()
        missing = [name for name in self.required if name not in table.schema.names]
        if missing:
            raise ValueError(f"{self.path.name}: the rows of {self.model!r} have the columns "
                             f"{table.schema.names}, without {missing} (every model's rows "
                             f"have {list(self.required)})")
        try:
            if self._writer is None:
                self._open(table.schema)
            assert self._writer is not None
            if not table.schema.equals(self._writer.schema):
                table = _conform(table, self._writer.schema)
        except (KeyError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(
                f"{self.path.name}: the rows of {self.model!r} have the columns "
                f"{table.schema.names}, unlike the file's (or their types differ: {error})"
            ) from None
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self.chunk_rows:
            self._flush(whole_chunks_only=True)

    def write_slices(self, n_rows: int,
                     frame_of: Callable[[int, int], pl.DataFrame]) -> None:
        """Write ``n_rows`` rows made ``chunk_rows`` at a time: ``frame_of(start, stop)`` is
        the frame of rows ``start..stop-1`` (so no frame of all rows is ever built)."""
        for start in range(0, n_rows, self.chunk_rows):
            self.write(frame_of(start, min(start + self.chunk_rows, n_rows)))
        if n_rows == 0:
            self.write(frame_of(0, 0))

    def close(self) -> None:
        """Write what is pending and replace ``path`` (nothing happens if nothing was
        written)."""
        if self._writer is None or self._file is None:
            return
        self._flush(whole_chunks_only=False)
        self._writer.close()
        _commit(self._file, self._temp, self.path)
        self._writer = self._file = None

    def abort(self) -> None:
        """Drop everything written; ``path`` stays as it was."""
        if self._writer is None or self._file is None:
            return
        self._writer.close()
        _discard(self._file, self._temp)
        self._writer = self._file = None
        self._pending, self._pending_rows = [], 0

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        earlier = pq.ParquetFile(self.path) if self.path.exists() else None
        if earlier is not None:  # the file's columns first, then any only this model has
            schema = pa.unify_schemas([earlier.schema_arrow, schema])
        handle, self._temp = _temporary_beside(self.path)
        self._file = os.fdopen(handle, "wb")
        self._writer = pq.ParquetWriter(self._file, schema, compression="zstd")
        if earlier is None:
            return
        with earlier:  # the other models' rows, one batch at a time
            for batch in earlier.iter_batches(batch_size=self.chunk_rows):
                kept = batch.filter(pc.not_equal(batch.column("model"), self.model))
                if kept.num_rows:
                    self._writer.write_table(_conform(pa.Table.from_batches([kept]), schema))

    def _flush(self, whole_chunks_only: bool) -> None:
        assert self._writer is not None
        if not self._pending:
            return
        import pyarrow as pa

        table = pa.concat_tables(self._pending)
        cut = (table.num_rows // self.chunk_rows * self.chunk_rows if whole_chunks_only
               else table.num_rows)
        if cut:
            self._writer.write_table(table.slice(0, cut), row_group_size=self.chunk_rows)
        rest = table.slice(cut)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order and types; a column ``table`` lacks
    is null (another model's quantile columns). A column ``schema`` lacks is a KeyError."""
    import pyarrow as pa

    extra = [name for name in table.schema.names if name not in schema.names]
    if extra:
        raise KeyError(f"columns {extra} are not in the file")
    columns = [table.column(field.name).cast(field.type) if field.name in table.schema.names
               else pa.nulls(table.num_rows, field.type) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


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
