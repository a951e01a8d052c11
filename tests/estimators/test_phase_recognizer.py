"""PhaseRecognizer on the bundled Cholec80 tool signals and on synthetic recordings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from tsssm.data import CHOLEC80_PHASES, load_cholec80
from tsssm.estimators import PhaseRecognizer

TINY = {"d_model": 8, "model_options": {"d_state": 4, "n_local_layers": 1, "n_global_layers": 1,
                                        "local_window": 4}, "max_epochs": 2, "batch_size": 2,
        "verbose": 0}


# A step's phase depends on the steps around it: reordering or sub-setting the steps of a
# recording changes the predictions, by design.
SEQUENCE_MODEL = "a sequence model: a step's prediction depends on the other steps"


@parametrize_with_checks(
    [PhaseRecognizer(model="phase_tcn", d_model=4, model_options={"n_layers": 2},
                     max_epochs=15, lr=3e-2, verbose=0)],
    expected_failed_checks=lambda _: {"check_methods_sample_order_invariance": SEQUENCE_MODEL,
                                      "check_methods_subset_invariance": SEQUENCE_MODEL})
def test_one_recording_is_a_scikit_learn_classifier(estimator, check) -> None:
    check(estimator)


def test_one_recording_in_one_out(cholec80) -> None:
    X, y = cholec80
    recognizer = PhaseRecognizer(**TINY).fit(X[0], y[0])
    probabilities = recognizer.predict_proba(X[1])
    assert probabilities.shape == (len(X[1]), len(recognizer.classes_))
    assert recognizer.predict(X[1]).shape == (len(X[1]),)
    assert recognizer.score(X[1], y[1]) == pytest.approx(np.mean(recognizer.predict(X[1]) == y[1]))
    assert recognizer.__sklearn_tags__().estimator_type == "classifier"


def staircase(n: int, steps: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Recordings whose phase (a, b, c in order) is readable from a noisy 2-feature signal."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        cuts = np.sort(rng.choice(np.arange(5, steps - 5), 2, replace=False))
        labels = np.array(["a"] * cuts[0] + ["b"] * (cuts[1] - cuts[0]) + ["c"] * (steps - cuts[1]))
        level = np.searchsorted(["a", "b", "c"], labels).astype(np.float32)
        X.append(np.stack([level, -level], 1) + 0.3 * rng.standard_normal((steps, 2)))
        y.append(labels)
    return X, y


@pytest.fixture(scope="module")
def cholec80() -> tuple[list[np.ndarray], list[np.ndarray]]:
    videos = load_cholec80(videos=[1, 2, 3, 41])
    X = [v.inputs.numpy() for v in videos]
    y = [np.array(CHOLEC80_PHASES)[v.labels.numpy()] for v in videos]
    return X, y


@pytest.fixture(scope="module")
def fitted(cholec80: tuple[list[np.ndarray], list[np.ndarray]]) -> PhaseRecognizer:
    X, y = cholec80
    return PhaseRecognizer(**TINY).fit(X[:3], y[:3])


def test_outputs_per_recording(fitted: PhaseRecognizer, cholec80) -> None:
    X, y = cholec80
    assert list(fitted.classes_) == sorted(set(np.concatenate(y[:3])))
    assert fitted.n_features_in_ == 7
    probabilities = fitted.predict_proba(X)
    labels = fitted.predict(X)
    progress = fitted.predict_progress(X)
    for x, p, label, prog in zip(X, probabilities, labels, progress, strict=True):
        assert p.shape == (len(x), len(fitted.classes_))
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
        assert (label == fitted.classes_[p.argmax(1)]).all()
        assert prog.shape == (len(x),) and ((prog >= 0) & (prog <= 1)).all()
    expected = np.mean([np.mean(a == b) for a, b in zip(labels, y, strict=True)])
    assert fitted.score(X, y) == pytest.approx(expected)


def test_learns_a_readable_phase_signal() -> None:
    X, y = staircase(6, 60, seed=0)
    X_test, y_test = staircase(3, 80, seed=1)
    untrained = PhaseRecognizer(**{**TINY, "max_epochs": 1, "lr": 1e-9}).fit(X, y)
    trained = PhaseRecognizer(**{**TINY, "max_epochs": 40, "lr": 1e-2}).fit(X, y)
    assert trained.score(X_test, y_test) > max(0.8, untrained.score(X_test, y_test) + 0.2)


def test_stream_equals_whole_recording(fitted: PhaseRecognizer, cholec80) -> None:
    x = cholec80[0][3][:200]
    probabilities = fitted.predict_proba([x])[0]
    progress = fitted.predict_progress([x])[0]
    stream = fitted.stream()
    for t in range(len(x)):
        label, p, prog = stream.step(x[t])
        np.testing.assert_allclose(p, probabilities[t], atol=2e-5)
        assert prog == pytest.approx(progress[t], abs=2e-5)
        assert label == fitted.classes_[p.argmax()]


def test_offline_model_cannot_stream(cholec80) -> None:
    X, y = cholec80
    offline = PhaseRecognizer(**{**TINY, "online": False, "max_epochs": 1}).fit(X[:2], y[:2])
    with pytest.raises(RuntimeError, match="offline"):
        offline.stream()


def test_baseline_models_and_sklearn_conventions(cholec80) -> None:
    X, y = cholec80
    estimator = PhaseRecognizer(model="phase_tcn", d_model=8, model_options={"n_layers": 3},
                                max_epochs=1)
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.fit(X[:2], y[:2]) is estimator
    assert len(estimator.predict(X[3:])) == 1
    with pytest.raises(TypeError, match="cannot stream"):
        estimator.stream()


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([np.zeros((5, 2))], [np.zeros(4)], "one label per step"),
        ([np.zeros((5, 2)), np.zeros((5, 3))], [np.arange(5)] * 2, r"X\[1\] has shape"),
        ([np.full((5, 2), np.nan)], [np.arange(5)], "NaN"),
        ([np.zeros((5, 2))], [np.zeros(5)], "1 class"),
        ([], [], "empty"),
        ([np.zeros((5, 2))], [np.arange(5), np.arange(5)], "1 recordings but y has 2"),
    ],
)
def test_bad_input(X, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhaseRecognizer(**TINY).fit(X, y)


def test_predict_checks_width_and_fit(fitted: PhaseRecognizer) -> None:
    with pytest.raises(ValueError, match="features=7"):
        fitted.predict([np.zeros((10, 3))])
    with pytest.raises(ValueError, match="needs 7 finite features"):
        fitted.stream().step(np.zeros(3))
    with pytest.raises(NotFittedError):
        PhaseRecognizer().predict([np.zeros((3, 7))])
