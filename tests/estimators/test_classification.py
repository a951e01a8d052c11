"""WindowClassifier / FEMBAClassifier follow scikit-learn, read mne.Epochs, fine-tune from
pre-training checkpoints."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import mne
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from tsssm.estimators import FEMBAClassifier, WindowClassifier
from tsssm.estimators._defaults import BASE_TRAINING, preset_optimization, preset_training
from tsssm.models import create_model
from tsssm.models.femba import FEMBAOptions, MambaHead

TINY = {"embed_dim": 4, "n_blocks": 1, "patch_chans": 1, "patch_times": 8, "d_state": 4,
        "expand": 1}


def tiny(**params) -> FEMBAClassifier:
    return FEMBAClassifier(**{"model_options": TINY, "max_epochs": 8, "batch_size": 16,
                              "lr": 1e-2, "verbose": 0, **params})


def oscillations(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n, 3, 32]: noise plus an 8-sample oscillation on channel 0 (label "left")
    or channel 2 (label "right")."""
    rng = np.random.default_rng(seed)
    labels = np.array(["left", "right"])[rng.integers(0, 2, n)]
    x = 0.3 * rng.standard_normal((n, 3, 32))
    wave = np.sin(2 * np.pi * np.arange(32) / 8)
    x[labels == "left", 0] += wave
    x[labels == "right", 2] += wave
    return x, labels


@parametrize_with_checks([FEMBAClassifier(model_options=TINY, max_epochs=2, batch_size=16,
                                          lr=1e-2, verbose=0)])
def test_scikit_learn_conventions(estimator, check) -> None:
    check(estimator)


def test_learns_which_channel_oscillates() -> None:
    x, y = oscillations(80)
    clf = tiny().fit(x[:60], y[:60])
    assert clf.classes_.tolist() == ["left", "right"]
    assert (clf.n_chans_, clf.n_times_, clf.n_features_in_, clf.sfreq_) == (3, 32, 3, None)
    assert clf.score(x[60:], y[60:]) >= 0.9
    probabilities = clf.predict_proba(x[60:])
    assert probabilities.shape == (20, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0)
    assert set(clf.predict(x[60:])) <= {"left", "right"}


def epochs_of(x: np.ndarray, names: list[str], sfreq: float = 64.0) -> mne.EpochsArray:
    return mne.EpochsArray(x, mne.create_info(names, sfreq=sfreq, ch_types="eeg"),
                           verbose=False)


def test_reads_mne_epochs_and_their_sampling_rate() -> None:
    x, y = oscillations(40)
    epochs = epochs_of(x, ["C3", "Cz", "C4"])
    clf = tiny(max_epochs=2).fit(epochs, y)
    assert clf.sfreq_ == 64.0 and clf.n_chans_ == 3 and clf.ch_names_ == ["C3", "Cz", "C4"]
    np.testing.assert_allclose(clf.predict_proba(epochs), clf.predict_proba(x), atol=1e-6)
    # Resampled epochs have other window lengths: the rate is named, not the shape.
    faster = epochs_of(np.repeat(x, 2, axis=2), ["C3", "Cz", "C4"], sfreq=128.0)
    with pytest.raises(ValueError, match=r"sampled at 128\.0 Hz.*fitted at 64\.0 Hz"):
        clf.predict(faster)


def test_channels_in_another_order_are_put_back_by_name() -> None:
    x, y = oscillations(40)
    clf = tiny(max_epochs=2).fit(epochs_of(x, ["C3", "Cz", "C4"]), y)
    shuffled = epochs_of(x[:, [2, 0, 1]], ["C4", "C3", "Cz"])
    with pytest.warns(UserWarning, match="reordered by name"):
        reordered = clf.predict_proba(shuffled)
    np.testing.assert_allclose(reordered, clf.predict_proba(x), atol=1e-6)
    with pytest.raises(ValueError, match=r"missing \['C4'\], not fitted on \['Pz'\]"):
        clf.predict(epochs_of(x, ["C3", "Cz", "Pz"]))


def test_epochs_pass_through_cross_validation_and_grid_search() -> None:
    x, y = oscillations(48)
    epochs = epochs_of(x, ["C3", "Cz", "C4"])
    scores = cross_val_score(tiny(max_epochs=4), epochs, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.5).all()
    search = GridSearchCV(tiny(max_epochs=2), {"lr": [1e-2, 3e-2]}, cv=2).fit(epochs, y)
    assert search.best_estimator_.ch_names_ == ["C3", "Cz", "C4"]
    assert search.predict(epochs).shape == (48,)


def test_a_fit_emits_no_warnings_and_predicts_where_it_trained() -> None:
    x, y = oscillations(20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = tiny(max_epochs=1, verbose=1).fit(x, y)
        clf.predict(x)
    assert [str(w.message) for w in caught] == []
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(clf.module_.parameters()).device.type == expected
    assert FEMBAClassifier().get_params()["device"] == "auto"


def test_same_seed_same_model_and_the_global_rng_is_left_alone() -> None:
    x, y = oscillations(30)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = tiny(max_epochs=2, random_state=7).fit(x, y).predict_proba(x)
    assert torch.equal(torch.random.get_rng_state(), before)
    again = tiny(max_epochs=2, random_state=7).fit(x, y).predict_proba(x)
    other = tiny(max_epochs=2, random_state=8).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_single_channel_windows_may_come_as_2d() -> None:
    x, y = oscillations(30)
    clf = tiny(max_epochs=1).fit(x[:, 0], y)
    assert (clf.n_chans_, clf.n_times_, clf.n_features_in_) == (1, 32, 32)
    assert clf.predict(x[:5, 0]).shape == (5,)
    with pytest.raises(ValueError, match="features"):
        clf.predict(x[:5])


def test_early_stopping_keeps_the_best_epoch() -> None:
    x, y = oscillations(30)
    # lr = 0: the validation loss never improves after the first epoch, so patience 2
    # stops training after epoch 3.
    clf = tiny(lr=0.0, max_epochs=20, validation_fraction=0.3, patience=2).fit(x, y)
    assert len(clf.history_) == 3
    assert all(np.isfinite(h["val_loss"]) for h in clf.history_)
    assert np.isnan(tiny(max_epochs=1).fit(x, y).history_[0]["val_loss"])


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.full((6, 3, 32), np.nan), ["a", "b"] * 3, "NaN"),
    (np.zeros((6, 3, 32, 2)), ["a", "b"] * 3, "4 dimensions"),
    (np.zeros(6), ["a", "b"] * 3, "2D array"),
    (np.zeros((6, 3, 32)), ["a"] * 6, "at least 2 classes"),
    (np.zeros((6, 3, 32)), ["a", "b", "c", "a", "b"], "inconsistent numbers of samples"),
])
def test_bad_training_data_is_named(X, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny().fit(X, y)


def test_prediction_data_must_match_the_fit() -> None:
    x, y = oscillations(20)
    clf = tiny(max_epochs=1)
    with pytest.raises(NotFittedError):
        clf.predict(x)
    clf.fit(x, y)
    with pytest.raises(ValueError, match="X has 2 features"):
        clf.predict(x[:, :2])
    with pytest.raises(ValueError, match=r"3 channels × 32 samples"):
        clf.predict(x[..., :16])


@pytest.mark.parametrize(("params", "message"), [
    ({"model": "femba_pretrain"}, "not 'classification'"),
    ({"model": "no_such_model"}, "unknown model"),
    ({"model_options": {**TINY, "n_chans": 3}}, "read from the data"),
    ({"freeze_encoder": True}, "needs `pretrained`"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"batch_size": 0}, "batch_size"),
    ({"n_models": 0}, "`n_models` must be a positive integer"),
    ({"n_models": 2.0}, "`n_models` must be a positive integer"),
    ({"augment": [{"name": "SignalRandShift"}]}, "unknown augmentation 'SignalRandShift'"),
    ({"augment": {"name": "SignalRandScale"}}, "augment must be a list"),
    ({"augment": [{"name": "SignalRandScale", "scale": 2}]}, "has no arguments"),
])
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    x, y = oscillations(10)
    with pytest.raises(ValueError, match=message):
        tiny(**params).fit(x, y)
    with pytest.raises(ValueError, match="set `model`"):
        WindowClassifier().fit(x, y)


def test_subclasses_only_name_their_model() -> None:
    class MambaHeadClassifier(WindowClassifier):
        default_model = "femba_mamba_head"

    x, y = oscillations(20)
    options = {**TINY, "head_dim": 8}
    clf = MambaHeadClassifier(model_options=options, max_epochs=1).fit(x, y)
    assert isinstance(clf.module_.head, MambaHead)
    assert clone(clf).get_params()["model_options"] == options


def test_a_presets_defaults_apply_to_its_own_model_only() -> None:
    class TunedFEMBA(WindowClassifier):
        default_model = "femba"
        default_model_options: ClassVar[dict[str, Any]] = {"n_blocks": 1, "dropout": 0.2}
        default_optimization: ClassVar[dict[str, float]] = {"lr": 5e-3}

    x, y = oscillations(20)
    sizes = {k: v for k, v in TINY.items() if k != "n_blocks"}
    clf = TunedFEMBA(model_options=sizes, max_epochs=1).fit(x, y)
    config = clf.module_.config  # the user's sizes, the preset's depth and dropout
    assert (config.embed_dim, config.n_blocks, config.dropout) == (TINY["embed_dim"], 1, 0.2)
    assert preset_optimization(clf)["lr"] == 5e-3
    assert preset_optimization(clf)["weight_decay"] == 1e-2  # nobody chose: the base value
    assert clf.get_params()["lr"] is None  # scikit-learn sees the argument as given
    # The user's values win; another model gets none of the preset's model options.
    other = TunedFEMBA(model="femba_mamba_head", lr=2e-3, max_epochs=1,
                       model_options={**sizes, "head_dim": 8, "dropout": 0.1}).fit(x, y)
    assert other.module_.config.n_blocks == FEMBAOptions.n_blocks != 1
    assert other.module_.config.dropout == 0.1
    assert preset_optimization(other)["lr"] == 2e-3


def test_a_presets_default_training_applies_unless_the_user_sets_it() -> None:
    class LongFEMBA(FEMBAClassifier):
        default_training: ClassVar[dict[str, int]] = {"max_epochs": 3}

    x, y = oscillations(20)
    clf = LongFEMBA(model_options=TINY, verbose=0).fit(x, y)
    assert len(clf.history_) == 3  # the preset's epochs, the base batch
    assert preset_training(clf) == {**BASE_TRAINING, "max_epochs": 3}
    assert clf.get_params()["max_epochs"] is None
    mine = LongFEMBA(model_options=TINY, max_epochs=2, batch_size=4, verbose=0).fit(x, y)
    assert len(mine.history_) == 2
    assert preset_training(mine) == {"max_epochs": 2, "batch_size": 4, "n_models": 1}
    assert preset_training(FEMBAClassifier()) == BASE_TRAINING


def test_augmentation_changes_training_and_repeats_with_the_seed() -> None:
    x, y = oscillations(30)
    noise = [{"name": "SignalRandAddGaussianNoise", "boundaries": [0.5, 1.0]}]
    plain = tiny(max_epochs=2).fit(x, y).predict_proba(x)
    augmented = tiny(max_epochs=2, augment=noise).fit(x, y).predict_proba(x)
    again = tiny(max_epochs=2, augment=noise).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(augmented, again)
    assert not np.allclose(plain, augmented)

    class NoisyFEMBA(FEMBAClassifier):
        default_augment = tuple(noise)

    preset = NoisyFEMBA(model_options=TINY, max_epochs=2, batch_size=16, lr=1e-2, verbose=0)
    np.testing.assert_array_equal(preset.fit(x, y).predict_proba(x), augmented)
    # An empty list turns the preset's augmentation off.
    np.testing.assert_array_equal(
        NoisyFEMBA(model_options=TINY, max_epochs=2, batch_size=16, lr=1e-2, verbose=0,
                   augment=[]).fit(x, y).predict_proba(x), plain)


def test_an_ensemble_averages_differently_seeded_models() -> None:
    x, y = oscillations(30)
    single = tiny(max_epochs=2).fit(x, y)
    ensemble = tiny(max_epochs=2, n_models=3).fit(x, y)
    assert len(ensemble.modules_) == len(ensemble.histories_) == 3
    assert ensemble.module_ is ensemble.modules_[0]
    assert ensemble.history_ == ensemble.histories_[0]
    # The first member is the single model (the same seed); the others start elsewhere.
    for mine, theirs in zip(ensemble.modules_[0].parameters(), single.module_.parameters(),
                            strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(ensemble.modules_[0].parameters(),
                                                     ensemble.modules_[1].parameters(),
                                                     strict=True))
    # Its probabilities are the mean of its members'.
    windows = torch.from_numpy(x.astype(np.float32))
    members = [torch.softmax(ensemble._batched_logits(m, windows).double(), dim=1).numpy()
               for m in ensemble.modules_]
    np.testing.assert_allclose(ensemble.predict_proba(x), np.mean(members, axis=0),
                               rtol=0, atol=1e-12)
    assert not np.allclose(ensemble.predict_proba(x), single.predict_proba(x))

    class EnsembleFEMBA(FEMBAClassifier):  # a preset may ask for one; the user's value wins
        default_training: ClassVar[dict[str, int]] = {"n_models": 2}

    assert len(EnsembleFEMBA(model_options=TINY, max_epochs=1, verbose=0)
               .fit(x, y).modules_) == 2
    assert len(EnsembleFEMBA(model_options=TINY, max_epochs=1, n_models=1, verbose=0)
               .fit(x, y).modules_) == 1


def test_fine_tunes_from_a_pretraining_checkpoint(tmp_path) -> None:
    x, y = oscillations(30)
    torch.manual_seed(0)
    pretrained = create_model("femba_pretrain", n_chans=3, n_times=32, **TINY)
    path = tmp_path / "femba_pretrain.pt"
    torch.save(pretrained.state_dict(), path)
    clf = FEMBAClassifier.from_pretrained(path, freeze_encoder=True, model_options=TINY,
                                          max_epochs=2, lr=1e-2)
    assert clone(clf).get_params()["pretrained"] == path
    clf.fit(x, y)
    # The frozen encoder is the pre-trained one, untouched by fine-tuning; the head learned.
    for key, value in pretrained.encoder.state_dict().items():
        torch.testing.assert_close(clf.module_.encoder.state_dict()[key], value)
    unfrozen = FEMBAClassifier.from_pretrained(path, model_options=TINY, max_epochs=2,
                                               lr=1e-2).fit(x, y)
    assert not torch.allclose(unfrozen.module_.encoder.pos_embed, pretrained.encoder.pos_embed)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        FEMBAClassifier.from_pretrained(tmp_path / "missing.pt")
    wider = FEMBAClassifier.from_pretrained(path, model_options={**TINY, "embed_dim": 6})
    with pytest.raises(ValueError, match="`pos_embed` has shape"):
        wider.fit(x, y)


def test_from_pretrained_takes_a_released_biofoundation_checkpoint(tmp_path: Path) -> None:
    from tests.models.test_femba_release import CHANNELS, SAMPLES, released, save_safetensors
    from tsssm.models.femba import load_biofoundation

    path = tmp_path / "femba_tiny.safetensors"
    task = released("tiny")
    save_safetensors(task, path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, CHANNELS, SAMPLES)).astype(np.float32)
    y = np.array([0, 1] * 4)
    clf = FEMBAClassifier.from_pretrained(path, freeze_encoder=True, max_epochs=1,
                                          batch_size=4, device="cpu").fit(X, y)
    encoder = clf.module_.encoder
    assert encoder.config.embed_dim == 35 and not any(
        p.requires_grad for p in encoder.parameters())
    # The encoder holds the released weights (frozen: unchanged by the fit).
    reference = load_biofoundation(path).encoder.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in encoder.state_dict().items())
    assert clf.predict_proba(X).shape == (8, 2)
    with pytest.raises(ValueError, match="reads windows of 22 channels"):
        FEMBAClassifier.from_pretrained(path, max_epochs=1).fit(X[:, :, :640], y)
