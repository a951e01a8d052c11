"""FEMBA's four TUAR protocols end to end (recipes/tuar_femba.toml with
``data.classification_type``), on a small TUAR tree written here: one epoch of a tiny model
per protocol, the loss each needs, per-channel predictions and scores, and fine-tuning from a
checkpoint in BioFoundation's released layout with the encoder frozen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F

from tests.data.test_tuh import write_csv, write_edf
from tsssm.data.eeg import TCP_PAIRS, TUAR_ARTIFACT_TYPES
from tsssm.recipes import ConfigError, Recipe, load_config
from tsssm.tasks.eeg_classification import PREDICTION_COLUMNS, EEGRecipe
from tsssm.training.callbacks import load_weights
from tsssm.training.classification import class_probabilities, classification_loss

from .conftest import REPO

SUBJECTS = {"train": ["aaaaaaaa", "aaaaaaab"], "val": ["aaaaaaac"], "test": ["aaaaaaad"]}
TINY = ["model.embed_dim=4", "model.n_blocks=1", "model.d_state=4", "model.expand=1",
        "model.patch_times=64", "model.head_dim=8"]
# events (seconds) that label 5-s windows: eye movement, muscle, chewing (shifted by 5 s in
# every other recording, all within its 20 s)
EVENTS = [("FP1-F7", 0.0, 2.5, "eyem"), ("C3-CZ", 5.0, 9.0, "musc"),
          ("T4-A2", 10.0, 12.0, "chew"), ("FP2-F8", 12.0, 13.0, "eyem")]
# the montage and 256 Hz (FAST of the reader tests), as a TOML value
CHAIN = ('[{step = "bipolar", pairs = [' + ", ".join(f'"{p}"' for p in TCP_PAIRS) + ']}, '
         '{step = "resample", sfreq = 256.0}]')


@pytest.fixture(scope="module")
def tuar_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four subjects, one 20-s recording each (four 5-s windows) of the linked-ears
    montage, with the same events shifted per subject."""
    root = tmp_path_factory.mktemp("tuar") / "edf"
    for number, subject in enumerate(sorted(s for part in SUBJECTS.values() for s in part)):
        name = f"{subject}_s001_t000"
        write_edf(root / "02_tcp_le" / f"{name}.edf", 20.0, reference="LE", seed=number)
        shift = number % 2 * 5.0
        write_csv(root / "02_tcp_le" / f"{name}.csv",
                  [(ch, start + shift, stop + shift, label) for ch, start, stop, label in EVENTS])
    (root / "01_tcp_ar").mkdir()
    return root


def overrides(root: Path, kind: str, *extra: str) -> list[str]:
    return [f"data.dataset={root}", f"data.classification_type={kind}",
            f"data.preprocessing={CHAIN}", "data.fractions=[]",
            *(f"data.{part}={names!r}".replace("'", '"') for part, names in SUBJECTS.items()),
            "train.max_epochs=1", "train.batch_size=2", "train.warmup_epochs=0.5",
            "train.progress_bar=false", "train.threads=1", *extra]


@pytest.mark.parametrize(("kind", "classes", "per_channel"), [
    ("bc", ["clean", "artifact"], False),
    ("mc", ["clean", "artifact"], True),
    ("mmc", ["none", *TUAR_ARTIFACT_TYPES], True),
    ("mcc", ["none", *TUAR_ARTIFACT_TYPES], False),
])
def test_every_tuar_protocol_trains_and_scores(tuar_tree: Path, tmp_path: Path, kind: str,
                                               classes: list[str], per_channel: bool) -> None:
    config = load_config(REPO / "recipes" / "tuar_femba.toml",
                         overrides(tuar_tree, kind, *TINY))
    recipe = Recipe.start(config, tmp_path)
    entry = recipe.run()["femba_mamba_head"]
    assert entry["classes"] == classes
    frame = pl.read_parquet(recipe.folder.file("predictions.parquet"))
    assert tuple(frame.columns) == PREDICTION_COLUMNS
    labels = 4 * (len(TCP_PAIRS) if per_channel else 1)  # 4 test windows
    assert frame.height == entry["test"]["windows"] == labels
    assert set(frame["label"]) <= set(classes) and set(frame["prediction"]) <= set(classes)
    if not per_channel:
        assert frame["channel"].null_count() == frame.height
        assert "per_channel" not in entry
        return
    assert frame["channel"].to_list()[: len(TCP_PAIRS)] == list(TCP_PAIRS)
    assert frame["start_s"].to_list()[:: len(TCP_PAIRS)] == [0.0, 5.0, 10.0, 15.0]
    assert list(entry["per_channel"]) == list(TCP_PAIRS)
    assert all(row["windows"] == 4 for row in entry["per_channel"].values())
    accuracies = [row["accuracy"] for row in entry["per_channel"].values()]
    assert entry["channel_mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    # the pooled accuracy is that of the rows, one per (window, channel)
    right = (frame["label"] == frame["prediction"]).mean()
    assert entry["test"]["accuracy"] == pytest.approx(right)


def test_the_losses_follow_the_shape_of_the_labels() -> None:
    torch.manual_seed(0)
    per_channel = torch.randn(3, 22)  # mc: one logit per channel
    y = torch.randint(0, 2, (3, 22))
    torch.testing.assert_close(classification_loss(per_channel, y),
                               F.binary_cross_entropy_with_logits(per_channel, y.float()))
    probabilities = class_probabilities(per_channel, y)
    assert probabilities.shape == (3, 22, 2)
    torch.testing.assert_close(probabilities[..., 1], per_channel.sigmoid())
    typed = torch.randn(3, 22, 6)  # mmc: six classes per channel
    y = torch.randint(0, 6, (3, 22))
    torch.testing.assert_close(classification_loss(typed, y),
                               F.cross_entropy(typed.reshape(-1, 6), y.reshape(-1)))
    window = torch.randn(3, 6)  # bc, mcc: one class per window
    y = torch.randint(0, 6, (3,))
    torch.testing.assert_close(classification_loss(window, y), F.cross_entropy(window, y))
    with pytest.raises(ValueError, match=r"logits \(3, 5\) fit neither"):
        classification_loss(torch.randn(3, 5), torch.zeros(3, 22, dtype=torch.long))


def test_per_channel_protocols_need_a_per_channel_model(tuar_tree: Path, tmp_path: Path) -> None:
    config = load_config(REPO / "recipes" / "tuar_femba.toml", overrides(
        tuar_tree, "mc", "model.name=\"chimera_classifier\"", "model.d_model=8"))
    # Refused when the run starts, before its folder exists.
    with pytest.raises(ConfigError, match="'mc' labels every channel; model "
                                          "'chimera_classifier' gives one output per window"):
        EEGRecipe.start(config, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="'mmc' is a TUAR protocol; bonn has 'bc' only"):
        load_config(REPO / "recipes" / "bonn_seizure.toml", ["data.classification_type=mmc"])
    with pytest.raises(ConfigError, match="must be one of"):
        load_config(REPO / "recipes" / "tuar_femba.toml", overrides(tuar_tree, "ml"))
    with pytest.raises(ConfigError, match="is set from the data"):
        load_config(REPO / "recipes" / "tuar_femba.toml",
                    overrides(tuar_tree, "mc", "model.classification_type=\"mmc\""))


def test_fine_tunes_per_channel_from_a_released_checkpoint_frozen(tuar_tree: Path,
                                                                  tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from tests.models.test_femba_release import ReleasedTask

    torch.manual_seed(3)
    released = ReleasedTask(4, 1, None)  # a pre-training checkpoint: 22 x 1280, E = 4
    path = tmp_path / "femba_pretrained.safetensors"
    save_file({k: v.contiguous() for k, v in released.state_dict().items()}, str(path))
    config = load_config(REPO / "recipes" / "tuar_femba.toml", overrides(
        tuar_tree, "mc", f"data.pretrained=\"{path}\"", "data.freeze_encoder=true",
        "model.head_dim=8"))
    recipe = EEGRecipe.start(config, tmp_path / "runs")
    recipe.setup()
    module = recipe.build_module(recipe.config.model, recipe.config.train)
    encoder = module.model.encoder
    assert (encoder.config.embed_dim, encoder.config.block_norm) == (4, "post")
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    torch.testing.assert_close(before["pos_embed"], released.model.pos_embed.detach())
    head = {k: v.clone() for k, v in module.model.head.state_dict().items()}
    entry = recipe.run()["femba_mamba_head"]
    assert entry["freeze_encoder"] is True and entry["pretrained"] == str(path)
    assert len(entry["per_channel"]) == len(TCP_PAIRS)
    load_weights(module, recipe.folder.path / entry["checkpoint"])
    after = module.model.encoder.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)  # frozen: unchanged
    tuned = module.model.head.state_dict()
    assert any(not torch.equal(tuned[k], head[k]) for k in head)  # the head learned
