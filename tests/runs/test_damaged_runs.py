"""Damaged run folders: `tsssm runs` and `tsssm show` list every readable run and name each
damaged one in one line, never block, never read unbounded, never print a file's content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tsssm.cli import main
from tsssm.runs import MAX_SMALL_FILE_BYTES, RunFolder, read_run, write_json, write_text

SECRET = "root:x:0:0:do-not-print"


def healthy(runs_dir: Path, name: str = "good") -> RunFolder:
    folder = RunFolder.create(runs_dir, name)
    write_text(folder.file("config.toml"), f'[run]\nname = "{name}"\ntask = "forecasting"\n'
                                           '[model]\nname = "smamba"\n')
    folder.start_attempt(["smamba"])
    write_json(folder.file("metrics.json"), {"smamba": {"test": {"mse": 0.25, "mae": 0.5}}})
    return folder


def truncate(file: Path) -> None:
    file.write_text(file.read_text()[:7])


def fifo(file: Path) -> None:
    file.unlink()
    os.mkfifo(file)


def huge(file: Path) -> None:
    with open(file, "wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_SMALL_FILE_BYTES + 1)


def secret_link(file: Path) -> None:
    secret = file.parent.parent / "secret.txt"
    secret.write_text(SECRET)
    file.unlink()
    file.symlink_to(secret)


DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "truncated status": ("status.json", truncate, "not valid JSON"),
    "empty status": ("status.json", lambda f: f.write_text(""), "not valid JSON"),
    "status is a list": ("status.json", lambda f: f.write_text("[1, 2]"), "holds a list"),
    "metrics entry is a number": ("metrics.json", lambda f: f.write_text('{"smamba": 5}'),
                                  "holds a int"),
    "test is a string": ("metrics.json",
                         lambda f: f.write_text('{"smamba": {"test": "x"}}'), "test holds"),
    "models is a string": ("status.json",
                           lambda f: f.write_text('{"models": "smamba"}'), "'models' holds"),
    "binary config": ("config.toml", lambda f: f.write_bytes(b"\xff\xfe\x00"), "not UTF-8"),
    "bad toml": ("config.toml", lambda f: f.write_text(f"[run\n{SECRET}"), "not valid TOML"),
    "fifo": ("config.toml", fifo, "not a regular file"),
    "1 GiB-class file": ("metrics.json", huge, "too large"),
    "link outside": ("metrics.json", secret_link, "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_run_is_named_in_one_line(case: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    runs_dir = tmp_path / "runs"
    healthy(runs_dir, "good")
    bad = healthy(runs_dir, "bad")
    name, damage, message = DAMAGE[case]
    damage(bad.file(name))
    assert any(message in problem for problem in read_run(bad.path).problems)
    assert main(["runs", "--runs", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(bad.path.name)]
    assert len(lines) == 1 and "damaged" in lines[0] and message in lines[0]
    assert "mse=0.2500" in out  # the healthy run is still listed
    assert main(["show", str(bad.path)]) == 0
    shown = capsys.readouterr().out
    assert message in shown and SECRET not in out + shown


def test_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    for number in range(800):  # a table larger than a pipe holds
        healthy(tmp_path, f"run{number}")
    command = (f"{sys.executable} -m tsssm.cli runs --runs {tmp_path} | head -n 1; "
               "exit ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stderr == ""


def test_show_reads_the_files_of_a_healthy_run(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    folder = healthy(tmp_path)
    assert main(["show", str(folder.path)]) == 0
    out = capsys.readouterr().out
    assert "damaged" not in out and "0.2500" in out
    assert json.loads(folder.file("metrics.json").read_text())["smamba"]["test"]["mse"] == 0.25
