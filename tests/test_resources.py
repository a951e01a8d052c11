"""``tsssm.resources``: shipped recipes by name, the bundled data and the kernel benchmark,
found in the checkout (the wheel's copy is tested in tests/test_wheel.py); ``tsssm bench``
writes into a new folder, never into the checkout's recorded results."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tsssm.cli import main
from tsssm.data import datasets_dir
from tsssm.resources import list_recipes, recipe_path, resource_dir

REPO = Path(__file__).resolve().parents[1]


def test_recipes_by_name() -> None:
    assert set(list_recipes()) == {p.stem for p in (REPO / "recipes").glob("*.toml")}
    shipped = REPO / "recipes" / "etth1_smamba.toml"
    for name in ("etth1_smamba", "etth1_smamba.toml", "recipes/etth1_smamba.toml"):
        assert recipe_path(name).resolve() == shipped
    with pytest.raises(FileNotFoundError, match=r"shipped recipes: .*bonn_seizure, .*etth1"):
        recipe_path("etth1_smambo")
    # a path, not a name: returned as it is (reading it then says it is missing)
    assert recipe_path("elsewhere/etth1_smamba.toml") == Path("elsewhere/etth1_smamba.toml")


def test_checkout_folders() -> None:
    assert datasets_dir() == REPO / "datasets" == resource_dir("datasets")
    assert (resource_dir("benchmarks") / "kernels" / "bench.py").is_file()
    with pytest.raises(KeyError, match="unknown resource folder 'docs'"):
        resource_dir("docs")


def test_bench_writes_a_new_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda command: calls.append(command) or 0)
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick"]) == 0
    assert main(["bench", "--out", "mine", "--threads", "2"]) == 0
    default, given = calls
    assert default[-3:-1] == ["--quick", "--out-dir"]
    assert Path(default[-1]).parent == Path("runs") and Path(default[-1]).name[:6] == "bench-"
    assert given[-4:] == ["--threads", "2", "--out-dir", "mine"]


def test_bench_refuses_the_recorded_results(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["bench", f"--out-dir={REPO / 'benchmarks' / 'kernels' / 'results'}"])
    assert caught.value.code == 2
    assert "recorded results of the source checkout" in capsys.readouterr().err
