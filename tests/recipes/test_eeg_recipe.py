"""The EEG recipes on the bundled data, with tiny FEMBA models: classification (mental
arithmetic, Bonn), pre-training then fine-tuning, augmentation, bad configs and resuming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from tsssm.data.augmentation import SignalAugmentation
from tsssm.recipes import ConfigError, Recipe, dump_config, from_dict, load_config
from tsssm.runs import run_state
from tsssm.tasks.eeg_classification import PREDICTION_COLUMNS as EEG
from tsssm.tasks.eeg_classification import EEGRecipe
from tsssm.training.callbacks import load_weights

from .conftest import REPO, read_metrics

TINY_FEMBA = {"embed_dim": 4, "n_blocks": 1, "d_state": 4, "expand": 1, "patch_times": 32}
TINY_TRAIN = {"max_epochs": 1, "batch_size": 8, "lr": 3e-3, "seed": 5, "threads": 1,
              "progress_bar": False, "checkpoint_every_n_steps": 5}
SPLIT = {"train": ["Subject00", "Subject01"], "val": ["Subject02"],
         "test": ["Subject03", "Subject04"]}
# Channels mental arithmetic (T3/T4/T5/T6 naming) and EEGMMIDB (T7/T8/P7/P8) share.
COMMON = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "C3", "C4", "P3", "P4", "O1", "O2", "Fz", "Cz",
          "Pz"]
COMMON_CHAIN = [{"step": "pick_channels", "channels": COMMON}, {"step": "resample", "sfreq": 128.0},
                {"step": "robust_scale"}]


def eeg_recipe(**data: Any) -> dict[str, Any]:
    return {
        "run": {"name": "tiny_eeg", "task": "eeg_classification",
                "baselines": ["femba_mamba_head"]},
        "data": {"dataset": "mental_arithmetic", "window_s": 4.0, **SPLIT,
                 "preprocessing": [{"step": "robust_scale"}], **data},
        "model": {"name": "femba", **TINY_FEMBA},
        "train": TINY_TRAIN,
        "baselines": {"femba_mamba_head": {**TINY_FEMBA, "head_dim": 8}},
    }


@pytest.fixture(scope="module")
def ma_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    augment = [{"name": "SignalRandScale", "prob": 0.5, "boundaries": [0.9, 1.1]},
               {"name": "SignalRandAddGaussianNoise", "prob": 0.5}]
    config = from_dict(eeg_recipe(augment=augment), source="test")
    recipe = Recipe.start(config, tmp_path_factory.mktemp("runs"))
    recipe.run()
    return recipe.folder.path


def test_mental_arithmetic_run_scores_overall_and_per_subject(ma_run: Path) -> None:
    metrics = read_metrics(ma_run)
    assert set(metrics) == {"femba", "femba_mamba_head"}
    for entry in metrics.values():
        assert entry["classes"] == ["rest", "arithmetic"]
        assert set(entry["per_group"]) == set(SPLIT["test"])
        for scores in (entry["test"], *entry["per_group"].values()):
            for key in ("balanced_accuracy", "accuracy", "auroc", "aupr", "macro_f1"):
                assert 0.0 <= scores[key] <= 1.0
            assert -1.0 <= scores["kappa"] <= 1.0 or np.isnan(scores["kappa"])
        assert entry["test"]["windows"] == sum(g["windows"] for g in entry["per_group"].values())


def test_mental_arithmetic_predictions_follow_the_eeg_schema(ma_run: Path) -> None:
    frame = pl.read_parquet(ma_run / "predictions.parquet")
    assert tuple(frame.columns) == EEG
    metrics = read_metrics(ma_run)
    for model, entry in metrics.items():
        rows = frame.filter(pl.col("model") == model)
        assert len(rows) == entry["test"]["windows"]
        assert set(rows["subject"]) == set(SPLIT["test"])
        assert set(rows["label"]) == {"rest", "arithmetic"}
        # "probability" is that of the positive class: the prediction follows it.
        assert ((rows["probability"] > 0.5) == (rows["prediction"] == "arithmetic")).all()
        score = balanced_accuracy_score(rows["label"].to_numpy(), rows["prediction"].to_numpy())
        assert score == pytest.approx(entry["test"]["balanced_accuracy"])
        subject = rows.filter(pl.col("recording") == "Subject03_2")
        assert subject["start_s"].to_list()[:3] == [0.0, 4.0, 8.0]


def test_bonn_seizure_run(tmp_path: Path) -> None:
    def segments(letter: str, numbers: range) -> list[str]:
        return [f"{letter}{n:03d}" for n in numbers]

    raw = eeg_recipe(
        dataset="bonn", window_s=5.0, label_map={"Z": 0, "O": 0, "N": 0, "F": 0, "S": 1},
        class_names=["non_seizure", "seizure"],
        train=segments("Z", range(1, 4)) + segments("S", range(1, 4)),
        val=segments("Z", range(4, 5)) + segments("S", range(4, 5)),
        test=segments("Z", range(5, 7)) + segments("S", range(5, 7)),
    )
    raw["run"]["baselines"] = []
    metrics = Recipe.start(from_dict(raw, source="test"), tmp_path).run()
    entry = metrics["femba"]
    assert entry["classes"] == ["non_seizure", "seizure"]
    assert "per_group" not in entry  # a Bonn segment holds one class: no per-subject scores
    assert entry["test"]["windows"] == 4 * 4  # 4 segments of 23.6 s: 4 windows of 5 s each
    frame = pl.read_parquet(next(tmp_path.iterdir()) / "predictions.parquet")
    assert set(frame["label"]) == {"non_seizure", "seizure"}


def encoder_tensors(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def test_pretrain_then_fine_tune_with_a_frozen_encoder(tmp_path: Path) -> None:
    pretrain = {
        "run": {"name": "tiny_pretrain", "task": "eeg_pretraining"},
        "data": {"dataset": "mental_arithmetic", "window_s": 4.0, **SPLIT,
                 "preprocessing": COMMON_CHAIN, "extra_datasets": ["eegmmidb"]},
        "model": {"name": "femba_pretrain", **TINY_FEMBA},
        "train": TINY_TRAIN,
    }
    recipe = Recipe.start(from_dict(pretrain, source="test"), tmp_path / "pretrain")
    metrics = recipe.run()["femba_pretrain"]
    test = metrics["test"]
    assert test["windows"] == 2 * 2 * 15  # 2 test subjects, 2 recordings, 15 windows of 4 s
    assert test["reconstruction_loss"] > 0
    assert test["zero_loss"] > 0
    assert metrics["windows"]["subjects"]["train"] == SPLIT["train"]
    # EEGMMIDB's 125-s run adds its windows to the two training subjects' 60.
    assert metrics["windows"]["train_windows"] == 60 + 125 // 4
    pretrain_dir = recipe.folder.path
    pretrained = torch.load(pretrain_dir / "checkpoints/femba_pretrain/best.ckpt",
                            weights_only=True)["state_dict"]
    expected = encoder_tensors(pretrained, "model.encoder.")

    raw = eeg_recipe(preprocessing=COMMON_CHAIN, pretrained=str(pretrain_dir),
                     freeze_encoder=True)
    raw["run"]["baselines"] = []
    fine = EEGRecipe.start(from_dict(raw, source="test"), tmp_path / "fine")
    fine.setup()
    module = fine.build_module(fine.config.model, fine.config.train)
    loaded = module.model.encoder.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    assert not any(p.requires_grad for p in module.model.encoder.parameters())
    head_before = {k: v.clone() for k, v in module.model.head.state_dict().items()}

    entry = fine.run()["femba"]
    assert entry["freeze_encoder"] is True
    assert entry["pretrained"].endswith("best.ckpt")
    load_weights(module, fine.folder.path / entry["checkpoint"])
    tuned = module.model.encoder.state_dict()
    assert all(torch.equal(tuned[k], expected[k]) for k in expected)
    head_after = module.model.head.state_dict()
    assert any(not torch.equal(head_before[k], head_after[k]) for k in head_before)


def test_pretrained_encoder_of_another_shape_is_refused(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    path = tmp_path / "wrong.ckpt"
    torch.save({"state_dict": {f"model.encoder.{k}": v for k, v in
                               model.state_dict().items()}}, path)
    raw = eeg_recipe(pretrained=str(path))
    # Refused when the run starts, before its folder exists.
    with pytest.raises(ConfigError, match=r"^test: data\.pretrained.*does not fit this encoder"):
        EEGRecipe.start(from_dict(raw, source="test"), tmp_path / "runs")
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    raw = eeg_recipe(pretrained=str(empty))
    with pytest.raises(ConfigError, match="nor a run folder with one best checkpoint"):
        EEGRecipe.start(from_dict(raw, source="test"), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"layout": "bonn"}, "data.layout 'bonn' contradicts"),
        ({"dataset": "no/such/folder", "layout": "bonn"}, "data.dataset: no folder"),
        ({"preprocessing": "tuh"}, "data.preprocessing: unknown preset 'tuh'"),
        ({"preprocessing": [{"step": "filtre"}]}, "data.preprocessing: unknown preprocessing"),
        ({"window_s": 0.0}, "data.window_s must be positive"),
        ({"bad_channels": "ignore"}, "data.bad_channels must be one of"),
        ({"val": ["Subject00"]}, "data.train and data.val share"),
        ({"fractions": [0.5, 0.5, 0.0]}, "data.fractions or the subject lists"),
        ({"test": []}, "data.test lists no subject"),
        ({"label_map": {"rest": 0}}, "data.label_map: mental_arithmetic takes its labels"),
        ({"class_names": ["a", "b", "c"]}, "data.class_names names 3 classes"),
        ({"augment": [{"name": "SignalRandShift"}]}, r"data.augment\[0\]: unknown augmentation"),
        ({"augment": [{"name": "SignalRandScale", "prob": 2}]}, r"data.augment\[0\]: prob"),
        ({"augment": [{"name": "SignalRandScale", "scale": 2}]}, "has no arguments"),
        ({"pretrained": "no/such.ckpt"}, "data.pretrained: no checkpoint"),
        ({"freeze_encoder": True}, "data.freeze_encoder needs data.pretrained"),
        ({"window": 4.0}, "unknown key 'data.window'"),
        ({"dataset": "bonn", "label_map": {"X": 0, "S": 1}}, "not Bonn sets"),
        ({"dataset": "bonn", "label_map": {"Z": 0, "S": 2}}, "classes 0..K-1"),
    ],
)
def test_bad_eeg_data_tables_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(eeg_recipe(**data), source="test")


def test_eeg_recipe_refuses_non_classification_models() -> None:
    raw = eeg_recipe()
    raw["model"] = {"name": "femba_pretrain"}
    with pytest.raises(ConfigError,
                       match="unknown model 'femba_pretrain'; eeg_classification models: chim"):
        from_dict(raw, source="test")


def test_pretrain_extra_dataset_must_fit_the_channels(tmp_path: Path) -> None:
    raw = {"run": {"name": "p", "task": "eeg_pretraining"},
           "data": {"dataset": "mental_arithmetic", **SPLIT, "extra_datasets": ["eegmmidb"]},
           "model": {"name": "femba_pretrain", **TINY_FEMBA}, "train": TINY_TRAIN}
    with pytest.raises(ValueError, match="add pick_channels and resample steps"):
        Recipe.start(from_dict(raw, source="test"), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # refused before the run folder exists


def test_resume_evaluates_what_an_interrupted_run_left(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = from_dict(eeg_recipe(), source="test")
    original = EEGRecipe.evaluate

    def fail_on_baseline(self, model, module, trainer, predictions):
        if model.name == "femba_mamba_head":
            raise KeyboardInterrupt
        return original(self, model, module, trainer, predictions)

    monkeypatch.setattr(EEGRecipe, "evaluate", fail_on_baseline)
    recipe = Recipe.start(config, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        recipe.run()
    run_dir = recipe.folder.path
    assert run_state(recipe.folder.status()) == "failed"
    before = read_metrics(run_dir)["femba"]["test"]
    monkeypatch.setattr(EEGRecipe, "evaluate", original)
    resumed = Recipe.resume(run_dir)
    assert resumed.states == {"femba": "finished", "femba_mamba_head": "evaluating"}
    metrics = resumed.run()
    assert metrics["femba"]["test"] == before
    assert "test" in metrics["femba_mamba_head"]
    frame = pl.read_parquet(run_dir / "predictions.parquet")
    assert set(frame["model"]) == {"femba", "femba_mamba_head"}


def test_only_training_windows_are_augmented(tmp_path: Path) -> None:
    raw = eeg_recipe(augment=[{"name": "SignalRandDrop", "boundaries": [0.1, 0.2]}])
    recipe = EEGRecipe.start(from_dict(raw, source="test"), tmp_path)
    recipe.setup()
    splits = recipe.datamodule(recipe.config.train).splits
    assert isinstance(splits["train"].augment, SignalAugmentation)
    assert splits["val"].augment is None and splits["test"].augment is None


def test_augmentation_is_seeded_and_leaves_the_global_rng_alone() -> None:
    augment = SignalAugmentation([{"name": "SignalRandScale", "boundaries": [0.5, 2.0]},
                                  {"name": "SignalRandAddGaussianNoise"},
                                  {"name": "SignalRandDrop", "boundaries": [0.1, 0.2]}])
    x = torch.randn(3, 64)
    torch.manual_seed(0)
    first = augment(x, seed=11)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(augment(x, seed=11), first)
    assert torch.equal(torch.rand(1), after)
    assert not torch.equal(augment(x, seed=12), first)
    assert first.shape == x.shape and first.dtype == torch.float32
    never = SignalAugmentation([{"name": "SignalRandScale", "prob": 0.0}])
    assert torch.equal(never(x, seed=3), x)


@pytest.mark.parametrize("name", ["eeg_pretrain", "eeg_mental_arithmetic", "bonn_seizure",
                                  "bonn_pretrain"])
def test_bundled_eeg_recipe_files_parse_and_round_trip(name: str, tmp_path: Path) -> None:
    config = load_config(REPO / "recipes" / f"{name}.toml")
    assert config.run.task in ("eeg_classification", "eeg_pretraining")
    assert config.data.preprocessing  # inline tables in an array, written back as such
    saved = tmp_path / "config.toml"
    saved.write_text(dump_config(config))
    assert load_config(saved).to_dict() == config.to_dict()


def write_tuab_tree(root: Path) -> Path:
    """TUAB's layout with two train subjects and one eval subject, 12-s recordings."""
    from tests.data.test_tuh import write_edf

    for split, subjects in (("train", ("aaaaaaaa", "aaaaaaab", "aaaaaaad")),
                            ("eval", ("aaaaaaac",))):
        for label, folder in enumerate(("normal", "abnormal")):
            for number, subject in enumerate(subjects):
                write_edf(root / split / folder / "01_tcp_ar" / f"{subject}_s00{label}_t000.edf",
                          seconds=12.0, seed=number + 10 * label)
    return root


def test_the_tuab_recipe_tests_on_the_eval_folder(tmp_path: Path) -> None:
    root = write_tuab_tree(tmp_path / "edf")
    overrides = [f"data.dataset={root}", "data.fractions=[0.67, 0.33]",
                 "train.max_epochs=1", "train.batch_size=2", "train.warmup_epochs=0.5",
                 "model.embed_dim=8", "model.n_blocks=1", "model.d_state=4", "model.expand=2",
                 "model.head_dim=8", "train.progress_bar=false"]
    config = load_config(REPO / "recipes" / "tuab_femba.toml", overrides)
    assert (config.data.layout, config.train.layer_decay) == ("tuab", 0.75)
    recipe = Recipe.start(config, tmp_path / "runs")
    metrics = recipe.run()["femba_mamba_head"]
    predictions = pl.read_parquet(recipe.folder.file("predictions.parquet"))
    assert set(predictions["subject"]) == {"aaaaaaac"}  # the eval folder, nothing else
    assert metrics["test"]["windows"] == predictions.height == 2 * 2  # 2 recordings x 2
    assert metrics["classes"] == ["normal", "abnormal"]


@pytest.mark.parametrize(("fractions", "message"), [
    ("[0.6, 0.2, 0.2]", "two shares"), ("[1.0, 0.0]", "two shares")])
def test_tuab_splits_only_the_train_folder(tmp_path: Path, fractions: str, message: str) -> None:
    root = write_tuab_tree(tmp_path / "edf")
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "recipes" / "tuab_femba.toml",
                    [f"data.dataset={root}", f"data.fractions={fractions}"])
    with pytest.raises(ConfigError, match="TUAB's test is its eval folder"):
        load_config(REPO / "recipes" / "tuab_femba.toml",
                    [f"data.dataset={root}", "data.fractions=[]", "data.train=['a']",
                     "data.val=['b']", "data.test=['c']"])
