"""The shipped Chimera recipes parse, with the tasks, models and windows they promise."""

from __future__ import annotations

from pathlib import Path

from tsssm.recipes import load_config

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_ecg200_recipe_classifies_with_an_smamba_baseline() -> None:
    config = load_config(RECIPES / "ecg200_chimera.toml")
    assert (config.run.task, config.data.dataset) == ("series_classification", "ECG200")
    assert [m.name for m in config.models()] == ["chimera_classifier", "smamba_classifier"]


def test_etth1_recipe_keeps_the_smamba_recipes_windows_and_split() -> None:
    ours = load_config(RECIPES / "etth1_chimera.toml")
    reference = load_config(RECIPES / "etth1_smamba.toml")
    for key in ("dataset", "lookback", "horizon", "split", "scale"):
        assert getattr(ours.data, key) == getattr(reference.data, key), key
    assert [m.name for m in ours.models()] == ["chimera", "smamba", "dlinear"]
    dlinear = {m.name: m for m in ours.models()}["dlinear"]
    assert dlinear.train["lr"] == {m.name: m for m in reference.models()}["dlinear"].train["lr"]


def test_kdd_recipe_detects_anomalies_with_chimera() -> None:
    config = load_config(RECIPES / "kdd_tsad_chimera.toml")
    assert (config.run.task, config.data.dataset) == ("anomaly_detection", "KDD-TSAD_135")
    assert config.model.name == "chimera_anomaly"
