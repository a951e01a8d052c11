"""The app stays in the runs folder it was started on: it reads predictions lazily (only the
rows shown), follows no link out of a run folder, opens no file a run's config names, and
never prints a file's content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from tsssm.runs import RunFileError, read_predictions, scan_predictions
from tsssm.tasks import TASKS

from .conftest import open_page, texts

SECRET = "root:x:0:0:secret-line-of-a-private-file"
COLUMNS = TASKS["forecasting"].prediction_columns


def shown(app: object) -> str:
    """Every text, message and table of the page, as one string."""
    parts = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "error", "warning",
                 "info", "exception"):
        parts += texts(app.get(kind))  # type: ignore[attr-defined]
    parts += [str(table.value) for table in app.dataframe]  # type: ignore[attr-defined]
    return "\n".join(parts)


@pytest.fixture
def copy(forecasting_dir: Path, tmp_path: Path) -> Path:
    """A copy of the forecasting run (no checkpoints) alone in ``tmp_path/runs``."""
    target = tmp_path / "runs" / forecasting_dir.name
    shutil.copytree(forecasting_dir, target, ignore=shutil.ignore_patterns("checkpoints"))
    return target


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "private.csv"
    path.write_text(f"{SECRET}\n1,2\n")
    return path


def test_the_reader_returns_only_the_chosen_window(forecasting_dir: Path) -> None:
    everything = pl.read_parquet(forecasting_dir / "predictions.parquet")
    window, variate = everything["window"][40], everything["variate"][1]
    part = read_predictions(forecasting_dir, "forecasting", COLUMNS,
                            {"window": window, "variate": variate})
    expected = everything.filter((pl.col("window") == window) & (pl.col("variate") == variate))
    assert part.equals(expected)
    models, horizon = everything["model"].n_unique(), everything["step"].max()
    assert part.height == models * horizon < everything.height / 50
    with pytest.raises(RunFileError, match=r"has no column\(s\) \['nope'\]"):
        read_predictions(forecasting_dir, "forecasting", COLUMNS, {"nope": 1})


def test_predictions_linked_out_of_the_run_are_not_read(copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.parquet"
    (copy / "predictions.parquet").rename(outside)
    (copy / "predictions.parquet").symlink_to(outside)
    with pytest.raises(RunFileError, match="not a regular file inside the run folder"):
        scan_predictions(copy, "forecasting", COLUMNS)
    app = open_page(copy.parent, run=copy.name)
    assert any("not a regular file inside the run folder" in e for e in texts(app.error))


def test_logs_linked_out_of_the_run_are_not_read(copy: Path, secret: Path) -> None:
    for log in copy.glob("logs/*/version_*/metrics.csv"):
        log.unlink()
        log.symlink_to(secret)
    app = open_page(copy.parent, run=copy.name)
    assert SECRET not in shown(app)


def test_no_file_named_by_the_config_is_opened(copy: Path, secret: Path) -> None:
    # data.dataset names a private file; the app reads the lookback from inputs.parquet.
    config = copy / "config.toml"
    text = config.read_text()
    start = text.index('dataset = "')
    end = text.index('"', start + len('dataset = "'))
    config.write_text(text[:start] + f'dataset = "{secret}' + text[end:])
    os.chmod(secret, 0)  # opening it would fail loudly (unless running as root)
    app = open_page(copy.parent, run=copy.name)
    assert not app.error and not app.warning
    assert SECRET not in shown(app)


def test_a_linked_run_folder_is_not_listed(copy: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(copy, elsewhere)
    (tmp_path / "runs" / "linked-run").symlink_to(elsewhere, target_is_directory=True)
    app = open_page(tmp_path / "runs")
    assert any(w.startswith("No runs in") for w in texts(app.warning))


def test_the_runs_folder_cannot_be_changed_from_the_page(copy: Path) -> None:
    app = open_page(copy.parent)
    assert not app.sidebar.text_input  # no field to type another folder in
    assert f"Runs folder: `{copy.parent}`" in texts(app.sidebar.caption)
