"""Run folders in the states the app must explain, made by hand from copies of a real run's
small files: damaged files (bad JSON, unreadable Parquet, no config), still running, and
interrupted after a resume. Every other run of the app tests is a real one (``real_runs``).
"""

from __future__ import annotations

import os
from pathlib import Path

from tsssm.runs import RunFolder


def troubled_runs(runs_dir: Path, source: Path) -> dict[str, Path]:
    """Run folders the app must explain, made from copies of the small files of the real run
    ``source``: bad JSON, unreadable Parquet, no config, still running, interrupted after a
    resume."""
    made = {}
    for name in ("bad-json", "bad-parquet", "no-config", "running", "interrupted"):
        path = runs_dir / name
        path.mkdir(parents=True)
        for file in ("config.toml", "status.json", "metrics.json", "predictions.parquet"):
            (path / file).write_bytes((source / file).read_bytes())
        made[name] = path
    (made["bad-json"] / "metrics.json").write_text('{"smamba": {"test": ')
    (made["bad-parquet"] / "predictions.parquet").write_bytes(b"not parquet")
    (made["no-config"] / "config.toml").unlink()
    for name, pid in (("running", os.getpid()), ("interrupted", _dead_pid())):
        folder = RunFolder(made[name])
        (folder.file("metrics.json")).unlink()
        (folder.file("predictions.parquet")).unlink()
        folder.start_attempt(["smamba"])  # a second attempt: resumed
        folder.update_status(pid=pid)
    return made


def _dead_pid() -> int:
    """A process id that no process of this machine has now."""
    pid = 2**22 - 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
