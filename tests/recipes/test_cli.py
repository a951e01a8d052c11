"""``tsssm`` usage errors: one line on stderr, exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsssm.cli import main

from .conftest import run_cli, tiny_recipe, write_recipe


def fails(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """Run ``tsssm ARGV``; assert exit status 2 and a single stderr line, and return it."""
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    assert caught.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tsssm: error: ")
    return lines[0]


def test_usage_errors(capsys: pytest.CaptureFixture, tmp_path: Path, tiny_csv: Path) -> None:
    recipe = write_recipe(tmp_path / "x.toml", tiny_recipe(tiny_csv))
    assert "nope.toml: cannot read the recipe" in fails(capsys, "run", "nope.toml")
    assert "no shipped recipe 'nope' (and no such file); shipped recipes: bonn_" in fails(
        capsys, "run", "nope")
    assert "unknown key 'train.lrr'" in fails(capsys, "run", str(recipe), "--set", "train.lrr=1")
    assert "unknown model 'smambo'" in fails(capsys, "run", str(recipe), "--set",
                                             "model.name=smambo")
    assert "bad override 'lr'" in fails(capsys, "run", str(recipe), "--set", "lr")
    assert "give a RECIPE.toml" in fails(capsys, "run")
    assert "no run folder" in fails(capsys, "run", "--resume", str(tmp_path / "none"))
    assert "leave out RECIPE" in fails(capsys, "run", str(recipe), "--resume", str(tmp_path))
    assert "not a run folder" in fails(capsys, "run", "--resume", str(tmp_path))
    assert "not a run folder" in fails(capsys, "show", str(tmp_path))
    assert "no runs folder" in fails(capsys, "runs", "--runs", str(tmp_path / "none"))
    assert "--help" in fails(capsys)
    assert "invalid choice" in fails(capsys, "train")
    assert list(tmp_path.iterdir()) == [recipe]  # no run folder was created for any of these


def test_data_errors_are_usage_errors(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("date,a\n2020-01-01 00:00:00,1\n2020-01-01 01:00:00,oops\n")
    recipe = write_recipe(tmp_path / "x.toml", tiny_recipe(broken))
    line = fails(capsys, "run", str(recipe), "--output-dir", str(tmp_path / "runs"))
    assert "broken.csv" in line and "not numeric" in line
    # The data are checked before the run folder is created: no folder of a failed start.
    assert not (tmp_path / "runs").exists()


def test_a_live_run_is_not_resumed_twice(capsys: pytest.CaptureFixture, tmp_path: Path,
                                          tiny_csv: Path) -> None:
    from tsssm.recipes import dump_config, load_config
    from tsssm.runs import RunFolder

    folder = RunFolder.create(tmp_path, "tiny")
    config = load_config(write_recipe(tmp_path / "x.toml", tiny_recipe(tiny_csv)))
    (folder.path / "config.toml").write_text(dump_config(config))
    folder.start_attempt(["smamba"])  # "running", in this very (live) process
    assert "still running" in fails(capsys, "run", "--resume", str(folder.path))


def test_help_explains_each_command(capsys: pytest.CaptureFixture) -> None:
    for argv in (["--help"], ["run", "--help"], ["runs", "--help"], ["show", "--help"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 0
    text = capsys.readouterr().out
    for fragment in ("--set KEY=VALUE", "--resume RUN_DIR", "--output-dir DIR", "--runs DIR",
                     "metrics.json", "predictions.parquet"):
        assert fragment in text


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    result = run_cli("run", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tsssm: error: {tmp_path / 'missing.toml'}: cannot read the recipe "
        "(No such file or directory)"
    ]
