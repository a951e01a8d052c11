"""``tsssm app`` and ``tsssm bench``: their help, and their errors."""

from __future__ import annotations

import pytest

from tsssm.cli import bench_script, main


def test_help(capsys: pytest.CaptureFixture) -> None:
    for command in ("app", "bench"):
        with pytest.raises(SystemExit) as caught:
            main([command, "--help"])
        assert caught.value.code == 0
    text = capsys.readouterr().out
    for fragment in ("--runs DIR", "--port N", "Streamlit", "benchmarks/kernels/bench.py",
                     "tsssm bench -- --help", "source checkout"):
        assert fragment in text


def test_app_without_runs_folder(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["app", "--runs", "/nonexistent"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("tsssm: error: no runs folder /nonexistent")


def test_bench_outside_a_checkout(capsys: pytest.CaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench_script() is not None and bench_script().name == "bench.py"
    monkeypatch.setattr("tsssm.cli.bench_script", lambda: None)
    with pytest.raises(SystemExit) as caught:
        main(["bench", "--quick"])
    assert caught.value.code == 2
    assert "missing from this installation: reinstall tsssm" in capsys.readouterr().err


def test_other_commands_still_reject_unknown_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["runs", "--quick"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --quick" in capsys.readouterr().err
