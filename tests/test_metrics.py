"""Phase-recognition, sleep-staging and window-classification metrics: hand-computed values
and scikit-learn agreement."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    jaccard_score,
    precision_score,
    roc_auc_score,
)

from tsssm.metrics import (
    count_transitions,
    edit_score,
    phase_recognition_report,
    phase_scores,
    relaxed_phase_scores,
    segment_labels,
    sleep_staging_report,
    window_classification_report,
)

NAN = np.nan


def cholec_like(lengths=(30, 200, 40, 150, 20, 40, 20)) -> np.ndarray:
    """A video's labels: the 7 phases in order, with the given numbers of samples."""
    return np.repeat(np.arange(len(lengths)), lengths)


def shifted(labels: np.ndarray, delays: list[int]) -> np.ndarray:
    """``labels`` with the i-th boundary moved by ``delays[i]`` samples (+ later, - earlier)."""
    out = labels.copy()
    for boundary, delay in zip(np.flatnonzero(np.diff(labels)) + 1, delays, strict=False):
        if delay > 0:
            out[boundary : boundary + delay] = labels[boundary - 1]
        else:
            out[boundary + delay : boundary] = labels[boundary]
    return out


# --- strict scores --------------------------------------------------------------------------


def test_phase_scores_by_hand():
    scores = phase_scores([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1])
    assert scores.accuracy == pytest.approx(4 / 6)
    nan4 = [NAN] * 4
    np.testing.assert_allclose(scores.precision, [1, 2 / 4, 0, *nan4])
    np.testing.assert_allclose(scores.recall, [2 / 3, 1, 0, *nan4])
    np.testing.assert_allclose(scores.jaccard, [2 / 3, 2 / 4, 0, *nan4])
    assert scores.mean_precision == pytest.approx(1 / 2)
    assert scores.mean_recall == pytest.approx(5 / 9)
    assert scores.mean_jaccard == pytest.approx(7 / 18)


def test_phase_only_predicted_counts_zero():
    scores = phase_scores([0, 0], [0, 3])
    np.testing.assert_allclose(scores.precision[[0, 3]], [1, 0])
    np.testing.assert_allclose(scores.recall[[0, 3]], [0.5, 0])
    np.testing.assert_allclose(scores.jaccard[[0, 3]], [0.5, 0])
    assert np.isnan(scores.precision[[1, 2, 4, 5, 6]]).all()


def test_phase_scores_agree_with_sklearn_macro():
    rng = np.random.default_rng(0)
    truth = cholec_like()
    prediction = np.where(rng.random(len(truth)) < 0.2, rng.integers(0, 6, len(truth)), truth)
    scores = phase_scores(truth, prediction)
    macro = {"average": "macro", "zero_division": 0}
    assert scores.mean_precision == pytest.approx(precision_score(truth, prediction, **macro))
    assert scores.mean_jaccard == pytest.approx(jaccard_score(truth, prediction, **macro))


# --- relaxed scores -------------------------------------------------------------------------


def test_relaxed_by_hand():
    truth = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    # Boundary errors at 3 (early 1), 4 (late 0), 7 (early 2), 8 (late 1) are forgiven with
    # a 2-sample window; 5 predicts the next phase at the start of a run and stays wrong.
    prediction = [0, 0, 0, 1, 0, 2, 1, 2, 1, 2, 2, 2]
    strict = phase_scores(truth, prediction)
    relaxed = relaxed_phase_scores(truth, prediction, fps=1.0, tolerance_s=2.0)
    assert strict.accuracy == pytest.approx(7 / 12)
    assert relaxed.accuracy == pytest.approx(11 / 12)
    nan4 = [NAN] * 4
    np.testing.assert_allclose(relaxed.jaccard, [1, 5 / 6, 5 / 6, *nan4])
    np.testing.assert_allclose(relaxed.precision, [1, 1, 1, *nan4])  # 5/4, 5/3 clipped
    np.testing.assert_allclose(relaxed.recall, [1, 1, 1, *nan4])
    same = relaxed_phase_scores(truth, prediction, fps=4.0, tolerance_s=0.5)  # also 2 samples
    assert same.accuracy == relaxed.accuracy


def test_relaxed_two_phase_jumps_only_for_the_last_phases():
    # GallbladderDissection (3) may end early into 5; CleaningCoagulation (5) may start late
    # as 3.
    late_phases = relaxed_phase_scores([3, 3, 3, 3, 5, 5, 5, 5], [3, 3, 3, 5, 3, 5, 5, 5], 1, 7, 2)
    assert late_phases.accuracy == 1.0
    # CalotTriangleDissection (1) -> GallbladderDissection (3): a jump of two is an error.
    early_phases = relaxed_phase_scores([1, 1, 1, 1, 3, 3, 3, 3], [1, 1, 1, 3, 1, 3, 3, 3], 1, 7, 2)
    assert early_phases.accuracy == pytest.approx(6 / 8)


def test_relaxed_window_sits_at_the_boundaries():
    truth = [0] * 6 + [1] * 2
    end_of_run = relaxed_phase_scores(truth, [0] * 5 + [1] * 3, 1, 7, 2)
    assert end_of_run.accuracy == 1.0
    start_of_run = relaxed_phase_scores(truth, [1] + [0] * 5 + [1] * 2, 1, 7, 2)
    assert start_of_run.accuracy == pytest.approx(7 / 8)
    far = relaxed_phase_scores(truth, [0] * 3 + [1] * 5, 1, 7, 2)  # 3 samples early
    assert far.accuracy == pytest.approx(7 / 8)


def test_relaxed_is_at_least_strict_on_shifted_boundaries():
    truth = cholec_like()
    rng = np.random.default_rng(1)
    for _ in range(5):
        prediction = shifted(truth, list(rng.integers(-15, 16, 6)))
        strict, relaxed = phase_scores(truth, prediction), relaxed_phase_scores(truth, prediction)
        assert relaxed.accuracy >= strict.accuracy
        for name in ("mean_precision", "mean_recall", "mean_jaccard"):
            assert getattr(relaxed, name) >= getattr(strict, name)
    small = shifted(truth, [10, -10, 5, -3, 8, 10])  # every shift within 10 s
    assert relaxed_phase_scores(truth, small).accuracy == 1.0
    assert phase_scores(truth, small).accuracy < 1.0


# --- segments -------------------------------------------------------------------------------


def test_segments_and_transitions():
    assert segment_labels([0, 0, 2, 2, 0]).tolist() == [0, 2, 0]
    assert count_transitions([0, 0, 2, 2, 0]) == 2
    assert count_transitions([4]) == 0


def test_edit_score():
    truth = [0] * 10 + [1] * 10
    assert edit_score(truth, truth) == 100.0
    assert edit_score(truth, [0] * 3 + [1] * 17) == 100.0  # timing does not matter
    flicker = [0] * 5 + [1] + [0] * 4 + [1] * 10  # segments 0 1 0 1 against 0 1
    assert edit_score(truth, flicker) == pytest.approx(50.0)
    assert edit_score([0, 1, 2], [2, 1, 0]) == pytest.approx(100 / 3)  # two substitutions
    assert edit_score([0, 1], [0, 1, 2, 3]) == pytest.approx(50.0)  # lengths may differ


def reference_levenshtein(a, b) -> int:
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    table[:, 0], table[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            substitute = table[i - 1, j - 1] + (a[i - 1] != b[j - 1])
            table[i, j] = min(table[i - 1, j] + 1, table[i, j - 1] + 1, substitute)
    return int(table[-1, -1])


def test_edit_score_matches_plain_levenshtein():
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.integers(0, 3, rng.integers(1, 15)), rng.integers(0, 3, rng.integers(1, 15))
        sa, sb = segment_labels(a), segment_labels(b)
        expected = 100 * (1 - reference_levenshtein(sb, sa) / max(len(sa), len(sb)))
        assert edit_score(a, b) == pytest.approx(expected)


# --- reports --------------------------------------------------------------------------------


def test_phase_recognition_report():
    truth = cholec_like()
    predictions = [truth, shifted(truth, [5] * 6), np.r_[truth[:100], [2], truth[101:]]]
    report = phase_recognition_report([truth] * 3, predictions)
    assert report["accuracy"]["per_video"][0] == 1.0
    assert report["relaxed_accuracy"]["per_video"][:2] == [1.0, 1.0]
    assert report["accuracy"]["mean"] == pytest.approx(np.mean(report["accuracy"]["per_video"]))
    assert len(report["jaccard"]["per_phase"]) == 7
    assert report["edit_score"]["per_video"] == [100.0, 100.0, pytest.approx(7 / 9 * 100)]
    assert report["predicted_transitions"]["per_video"] == [6, 6, 8]
    assert report["true_transitions"]["mean"] == 6


def test_sleep_report_agrees_with_sklearn():
    rng = np.random.default_rng(3)
    truths = [rng.integers(0, 5, n) for n in (50, 80)]
    predictions = [
        np.where(rng.random(len(t)) < 0.7, t, rng.integers(0, 5, len(t))) for t in truths
    ]
    report = sleep_staging_report(truths, predictions)
    pooled = np.concatenate(truths), np.concatenate(predictions)
    assert report["kappa"]["pooled"] == pytest.approx(cohen_kappa_score(*pooled))
    assert report["macro_f1"]["pooled"] == pytest.approx(f1_score(*pooled, average="macro"))
    for i, (t, p) in enumerate(zip(truths, predictions, strict=True)):
        assert report["kappa"]["per_night"][i] == pytest.approx(cohen_kappa_score(t, p))
        assert report["accuracy"]["per_night"][i] == pytest.approx(np.mean(t == p))
    assert report["kappa"]["mean"] == pytest.approx(np.mean(report["kappa"]["per_night"]))


def test_sleep_report_by_hand():
    report = sleep_staging_report([[0, 0, 1, 1]], [[0, 1, 1, 1]])
    assert report["accuracy"]["pooled"] == pytest.approx(0.75)
    assert report["macro_f1"]["pooled"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert report["kappa"]["pooled"] == pytest.approx(0.5)  # p_o = 3/4, p_e = 1/2


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("truth", "prediction", "message"),
    [
        ([0, 1, 2], [0, 1], "y_true has 3 labels but y_pred has 2"),
        ([], [], "non-empty 1-D label array"),
        ([0.0, 1.0], [0, 1], "integer labels"),
        ([0, 7], [0, 1], r"y_true\[1\] = 7 is outside \[0, 7\)"),
        ([[0, 1]], [[0, 1]], "1-D"),
    ],
)
def test_bad_labels(truth, prediction, message):
    for metric in (phase_scores, relaxed_phase_scores):
        with pytest.raises(ValueError, match=message):
            metric(np.array(truth), np.array(prediction))


def test_bad_sets():
    with pytest.raises(ValueError, match="no recordings"):
        phase_recognition_report([], [])
    with pytest.raises(ValueError, match="2 truth arrays but 1 predictions"):
        sleep_staging_report([[0], [1]], [[0]])
    with pytest.raises(ValueError, match="non-empty"):
        edit_score([], [0])


# --- window classification ------------------------------------------------------------------


def _probabilities(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    scores = rng.random((n, k))
    return scores / scores.sum(axis=1, keepdims=True)


def test_window_report_binary_matches_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 40)
    scores = _probabilities(rng, 40, 2)
    predicted = scores.argmax(1)
    overall = window_classification_report(truth, scores, ["a", "b"])["overall"]
    assert overall["windows"] == 40
    assert overall["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert overall["accuracy"] == pytest.approx(np.mean(truth == predicted))
    assert overall["auroc"] == pytest.approx(roc_auc_score(truth, scores[:, 1]))
    assert overall["aupr"] == pytest.approx(average_precision_score(truth, scores[:, 1]))
    assert overall["kappa"] == pytest.approx(cohen_kappa_score(truth, predicted))
    assert overall["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))


def test_window_report_multiclass_is_macro_one_vs_rest():
    rng = np.random.default_rng(1)
    truth = np.arange(30) % 3
    scores = _probabilities(rng, 30, 3)
    overall = window_classification_report(truth, scores, ["a", "b", "c"])["overall"]
    assert overall["auroc"] == pytest.approx(
        roc_auc_score(truth, scores, multi_class="ovr", average="macro"))
    per_class = [average_precision_score(truth == k, scores[:, k]) for k in range(3)]
    assert overall["aupr"] == pytest.approx(np.mean(per_class))


def test_window_report_per_group_is_nan_where_undefined():
    truth = np.array([0, 1, 0, 1, 1, 1])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2],
                       [0.4, 0.6]])
    groups = ["s1", "s1", "s1", "s1", "s2", "s2"]  # s2 holds class 1 only
    report = window_classification_report(truth, scores, ["rest", "task"], groups)
    assert list(report["per_group"]) == ["s1", "s2"]
    s1, s2 = report["per_group"]["s1"], report["per_group"]["s2"]
    assert s1["auroc"] == 1.0 and s1["accuracy"] == 1.0 and s1["windows"] == 4
    assert np.isnan(s2["auroc"]) and np.isnan(s2["aupr"])
    assert s2["accuracy"] == 0.5
    one_class = window_classification_report([1, 1], [[0.1, 0.9], [0.2, 0.8]], ["a", "b"])
    assert np.isnan(one_class["overall"]["kappa"])
    assert "per_group" not in one_class


@pytest.mark.parametrize(
    ("truth", "scores", "names", "groups", "message"),
    [
        ([0, 1], [[0.5, 0.5]], ["a", "b"], None, "same, non-zero, number"),
        ([0, 1], [[0.5, 0.5], [0.1, 0.9]], ["a"], None, "at least 2 classes"),
        ([0, 1], [[0.5, 0.5], [0.1, 0.9]], ["a", "b", "c"], None, r"needs \(windows, 3\)"),
        ([0, 2], [[0.5, 0.5], [0.1, 0.9]], ["a", "b"], None, r"y_true\[1\] = 2"),
        ([0, 1], [[np.nan, 0.5], [0.1, 0.9]], ["a", "b"], None, "NaN"),
        ([0, 1], [[0.5, 0.5], [0.1, 0.9]], ["a", "b"], ["s1"], "one group per window"),
    ],
)
def test_window_report_bad_input(truth, scores, names, groups, message):
    with pytest.raises(ValueError, match=message):
        window_classification_report(np.array(truth), np.array(scores), names, groups)
