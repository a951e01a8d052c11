"""The Chimera estimators: the classifier follows scikit-learn (parametrize_with_checks) and
refuses bad windows clearly; the forecaster reuses S-Mamba's machinery with Chimera's options;
the anomaly detector scores per step, thresholds on training scores only, and keeps its
documented conventions (higher = more anomalous, 1 = anomalous)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from tsssm.data import smoothed_scores
from tsssm.estimators import ChimeraAnomalyDetector, ChimeraClassifier, ChimeraForecaster
from tsssm.models import Chimera, ChimeraAnomaly, ChimeraForClassification

TINY = {"d_model": 4, "d_state": 2, "d_ff": 8, "n_layers": 1, "season_period": 1}


@parametrize_with_checks([ChimeraClassifier(model_options=TINY, max_epochs=2, batch_size=16,
                                            lr=1e-2)])
def test_scikit_learn_conventions(estimator, check) -> None:
    check(estimator)


def oscillations(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n, 2, 24]: noise plus a 6-sample oscillation on channel 0 ("a") or 1 ("b")."""
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b"])[rng.integers(0, 2, n)]
    x = 0.3 * rng.standard_normal((n, 2, 24))
    wave = np.sin(2 * np.pi * np.arange(24) / 6)
    x[labels == "a", 0] += wave
    x[labels == "b", 1] += wave
    return x, labels


def test_classifier_uses_chimera_and_learns_which_channel_oscillates() -> None:
    x, y = oscillations(80)
    clf = ChimeraClassifier(model_options={**TINY, "d_model": 8}, max_epochs=15,
                            batch_size=16, lr=1e-2).fit(x[:60], y[:60])
    assert isinstance(clf.module_, ChimeraForClassification)
    assert clf.score(x[60:], y[60:]) >= 0.9


def test_classifier_defaults_are_the_studys() -> None:
    # benchmarks/chimera_ucr_defaults.py chose them; the user's values still win.
    x, y = oscillations(20)
    clf = ChimeraClassifier(max_epochs=1, verbose=0).fit(x, y)
    config = clf.module_.config
    assert (config.d_model, config.n_layers, config.d_ff, config.embed_kernel,
            config.head) == (32, 1, 64, 9, "cells")
    assert ChimeraClassifier.default_training == {"max_epochs": 40, "batch_size": 16}
    mine = ChimeraClassifier(model_options={**TINY, "embed_kernel": 1}, max_epochs=1,
                             verbose=0).fit(x, y)
    assert (mine.module_.config.d_model, mine.module_.config.embed_kernel) == (4, 1)


@pytest.mark.parametrize(("X", "y", "params", "message"), [
    ([np.zeros((2, 16)), np.zeros((2, 17))], ["a", "b"], {}, "ragged"),
    (np.full((4, 1, 16), np.nan), ["a", "b", "a", "b"], {}, "NaN"),
    (np.zeros((5, 1, 16)), ["a", "a", "a", "a", "b"], {"validation_fraction": 0.2},
     r"too few windows per class .*'b': 1"),
    (np.zeros((4, 1, 16)), ["a"] * 4, {}, "at least 2 classes"),
])
def test_classifier_refuses_bad_training_data(X, y, params, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChimeraClassifier(model_options=TINY, max_epochs=1, **params).fit(X, y)


def seasonal(n: int, seed: int = 0) -> np.ndarray:
    """[n, 2]: two noisy sines of period 8."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    return np.sin(2 * np.pi * t / 8 + np.array([0.0, 1.0])) + 0.05 * rng.standard_normal((n, 2))


def test_forecaster_builds_chimera_with_its_options() -> None:
    options = {"d_model": 4, "d_ff": 8, "n_layers": 1, "d_state": 2, "season_period": 8}
    forecaster = ChimeraForecaster(lookback=16, horizon=4, model_options=options, max_epochs=1,
                                   batch_size=16, verbose=0)
    assert forecaster.get_params()["model_options"]["season_period"] == 8
    assert clone(forecaster).get_params() == forecaster.get_params()
    forecaster.fit(seasonal(120))
    assert isinstance(forecaster.module_.model, Chimera)
    assert forecaster.module_.model.config.season_period == 8
    assert forecaster.module_.model.config.d_state == 2
    assert forecaster.predict(fh=range(1, 5)).shape == (4, 2)
    assert np.isfinite(forecaster.windowed_mse(seasonal(60, seed=1)))


def burst(values: np.ndarray, start: int, length: int = 10) -> np.ndarray:
    """``values`` with a fast, large oscillation added on channel 0 at [start, start+length)."""
    out = values.copy()
    out[start : start + length, 0] += 3.0 * np.sin(2 * np.pi * np.arange(length) / 3)
    return out


@pytest.fixture(scope="module")
def detector() -> ChimeraAnomalyDetector:
    return ChimeraAnomalyDetector(window=16, stride=2, score_stride=4, model_options=TINY,
                                  max_epochs=3, batch_size=16, lr=1e-2).fit(seasonal(400))


def test_detector_scores_a_burst_above_normal_steps(detector: ChimeraAnomalyDetector) -> None:
    series = burst(seasonal(300, seed=2), 150)
    scores = detector.score_samples(series)
    assert scores.shape == (300,) and scores.dtype == np.float64
    # Folding spreads a burst's error over the windows around it: compare the burst with
    # steps at least one window away.
    far = np.r_[scores[:134], scores[176:]]
    assert scores[150:160].mean() > far.max()
    assert scores[150:160].mean() > 5 * np.median(far)
    flags = detector.predict(series)
    assert flags[150:160].any() and np.r_[flags[:134], flags[176:]].mean() < 0.05
    assert isinstance(detector.module_.model, ChimeraAnomaly)


def test_detector_conventions_are_consistent(detector: ChimeraAnomalyDetector) -> None:
    series = burst(seasonal(200, seed=3), 100)
    scores = detector.score_samples(series)
    margins = detector.decision_function(series)
    np.testing.assert_allclose(margins, scores - detector.threshold_)
    flags = detector.predict(series)
    assert set(np.unique(flags)) <= {0, 1}
    np.testing.assert_array_equal(flags, (scores > detector.threshold_).astype(int))
    # The threshold is the 0.99 quantile of the held-out stretch's scores (the last 20 % of
    # the training series, never trained on), never the test's.
    assert detector.threshold_ == pytest.approx(np.quantile(detector.train_scores_, 0.99))
    assert len(detector.train_scores_) == 80


def test_detector_takes_lists_of_series_and_single_channels(
        detector: ChimeraAnomalyDetector) -> None:
    first, second = seasonal(50, seed=4), seasonal(70, seed=5)
    scores = detector.score_samples([first, second])
    assert [s.shape for s in scores] == [(50,), (70,)]
    np.testing.assert_allclose(scores[1], detector.score_samples(second))
    assert [p.shape for p in detector.predict([first, second])] == [(50,), (70,)]
    univariate = ChimeraAnomalyDetector(window=8, score_stride=8, model_options=TINY,
                                        max_epochs=1, validation_fraction=0.0)
    univariate.fit(seasonal(40)[:, 0].tolist())
    assert univariate.n_features_in_ == 1
    assert univariate.predict(seasonal(30)[:, 0]).shape == (30,)


def test_detector_smooths_scores_over_the_training_period() -> None:
    smoothed = ChimeraAnomalyDetector(window=16, stride=2, score_stride=4, model_options=TINY,
                                      max_epochs=1, smoothing="period").fit(seasonal(200))
    assert smoothed.smoothing_ == 8  # the sines' period, found without labels
    plain = ChimeraAnomalyDetector(window=16, stride=2, score_stride=4, model_options=TINY,
                                   max_epochs=1).fit(seasonal(200))
    assert plain.smoothing_ == 1
    series = burst(seasonal(120, seed=6), 60)
    # Same seed, same training: the smoothed scores are the plain ones' moving mean.
    np.testing.assert_allclose(smoothed.score_samples(series),
                               smoothed_scores(plain.score_samples(series), 8))
    assert smoothed.threshold_ == pytest.approx(np.quantile(smoothed.train_scores_, 0.99))
    with pytest.raises(ValueError, match="`smoothing` must be"):
        ChimeraAnomalyDetector(window=16, smoothing="beat").fit(seasonal(100))


@pytest.mark.parametrize(("X", "message"), [
    (np.full((50, 2), np.nan), r"NaN or infinity \(first at step 0, channel 0\)"),
    ([np.zeros((40, 2)), np.zeros((40, 3))], "different channel counts"),
    (np.zeros((10, 2)), "fewer than one window"),
    ([[[0.0, 1.0], [2.0]]], "ragged"),
    (np.zeros((4, 20, 2)), r"shape \(4, 20, 2\)"),
    ([], "holds no series"),
])
def test_detector_refuses_bad_series(X, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChimeraAnomalyDetector(window=16, model_options=TINY, max_epochs=1).fit(X)


def test_detector_checks_its_settings_and_the_fitted_shape(
        detector: ChimeraAnomalyDetector) -> None:
    with pytest.raises(ValueError, match="exceeds window"):
        ChimeraAnomalyDetector(window=8, score_stride=9).fit(seasonal(40))
    with pytest.raises(ValueError, match="not a reconstruction model"):
        ChimeraAnomalyDetector(model="chimera_classifier").fit(seasonal(100))
    with pytest.raises(ValueError, match="fitted on 2"):
        detector.score_samples(np.zeros((40, 3)))
    with pytest.raises(NotFittedError):
        ChimeraAnomalyDetector().predict(seasonal(100))
