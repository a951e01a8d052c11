"""Anomaly detection metrics on hand-built cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from tsssm.metrics import (
    anomaly_report,
    anomaly_segments,
    aupr,
    auroc,
    composite_prf,
    event_recall,
    point_adjust,
    point_adjusted_prf,
    pointwise_prf,
    top_score_hit,
    train_threshold,
)

# Two true segments: steps 2-4 and 8-9. The detector hits step 3 once, misses 8-9, and raises
# one false alarm at step 6.
LABELS = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1])
PREDICTIONS = np.array([0, 0, 0, 1, 0, 0, 1, 0, 0, 0])


def test_segments():
    np.testing.assert_array_equal(anomaly_segments(LABELS), [[2, 5], [8, 10]])
    np.testing.assert_array_equal(anomaly_segments([1, 0, 1]), [[0, 1], [2, 3]])
    assert anomaly_segments([0, 0]).shape == (0, 2)


def test_pointwise_by_hand_and_against_sklearn():
    scores = pointwise_prf(LABELS, PREDICTIONS)
    assert scores.precision == pytest.approx(1 / 2)
    assert scores.recall == pytest.approx(1 / 5)
    assert scores.f1 == pytest.approx(2 * 0.5 * 0.2 / 0.7)
    rng = np.random.default_rng(0)
    truth, guess = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    mine = pointwise_prf(truth, guess)
    assert mine.precision == pytest.approx(precision_score(truth, guess))
    assert mine.recall == pytest.approx(recall_score(truth, guess))
    assert mine.f1 == pytest.approx(f1_score(truth, guess))


def test_point_adjust_fills_hit_segments_only():
    np.testing.assert_array_equal(
        point_adjust(LABELS, PREDICTIONS), [0, 0, 1, 1, 1, 0, 1, 0, 0, 0]
    )
    adjusted = point_adjusted_prf(LABELS, PREDICTIONS)
    assert adjusted.precision == pytest.approx(3 / 4)
    assert adjusted.recall == pytest.approx(3 / 5)
    # The inflation the docstring warns about.
    assert adjusted.f1 > pointwise_prf(LABELS, PREDICTIONS).f1


def test_composite_f1_counts_segments_for_recall_and_steps_for_precision():
    # One of the two segments is hit (step 3); one of the two flagged steps is a false alarm.
    assert event_recall(LABELS, PREDICTIONS) == pytest.approx(1 / 2)
    composite = composite_prf(LABELS, PREDICTIONS)
    assert (composite.precision, composite.recall) == pytest.approx((1 / 2, 1 / 2))
    assert composite.f1 == pytest.approx(1 / 2)
    # Unlike point adjustment, false alarms keep costing precision: flagging everything
    # finds every segment but scores the anomalous fraction as precision.
    everything = composite_prf(LABELS, np.ones(10, int))
    assert everything.recall == 1.0 and everything.precision == pytest.approx(5 / 10)
    assert composite_prf(LABELS, np.zeros(10, int)).f1 == 0.0
    assert event_recall(np.zeros(10, int), PREDICTIONS) == 0.0


def test_top_score_hit_uses_the_ucr_tolerance():
    labels = np.zeros(400, int)
    labels[200:210] = 1
    scores = np.zeros(400)
    scores[305] = 1.0  # 96 steps after the segment's last step (209): within 100
    assert top_score_hit(labels, scores)
    assert not top_score_hit(labels, scores, tolerance=50)
    scores[50] = 2.0  # 150 steps before it: a miss
    assert not top_score_hit(labels, scores)


def test_no_prediction_and_no_anomaly_give_zero_not_nan():
    assert pointwise_prf(LABELS, np.zeros(10, int)) == pointwise_prf(np.zeros(10, int), LABELS)
    assert pointwise_prf(LABELS, np.zeros(10, int)).f1 == 0.0


def test_auroc_aupr_known_values():
    labels = np.array([0, 0, 1, 1])
    assert auroc(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(labels, [0.9, 0.8, 0.2, 0.1]) == 0.0
    # Ranking 1, 0, 1, 0 from the top: precision 1 at recall 1/2, 2/3 at recall 1.
    assert aupr(labels, [0.8, 0.1, 0.9, 0.2]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    with pytest.raises(ValueError, match="both normal and anomalous"):
        auroc([0, 0], [0.1, 0.2])


def test_thresholds_from_train_scores():
    train = np.arange(101.0)
    assert train_threshold(train, "quantile", quantile=0.9) == pytest.approx(90.0)
    assert train_threshold([1.0, 3.0], "mean_std", k=2.0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="quantile must be in"):
        train_threshold(train, quantile=1.0)
    with pytest.raises(ValueError, match="finite"):
        train_threshold([1.0, np.nan])


def test_report_uses_strictly_greater_than_threshold():
    scores = np.array([0.0, 0.0, 0.5, 2.0, 0.5, 0.0, 2.0, 0.0, 1.0, 1.0])
    report = anomaly_report(LABELS, scores, threshold=1.0)
    plain = pointwise_prf(LABELS, PREDICTIONS)
    adjusted = point_adjusted_prf(LABELS, PREDICTIONS)
    assert report["f1"] == pytest.approx(plain.f1)
    assert report["pa_f1"] == pytest.approx(adjusted.f1)
    assert report["composite_f1"] == pytest.approx(composite_prf(LABELS, PREDICTIONS).f1)
    assert report["top_score_hit"] == 1.0  # the highest score, 2.0 at step 3, is anomalous
    assert 0.0 <= report["auroc"] <= 1.0 and report["threshold"] == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="predictions must hold only 0 and 1"):
        pointwise_prf([0, 1], [0, 2])
    with pytest.raises(ValueError, match=r"labels \(3,\) and predictions \(2,\)"):
        pointwise_prf([0, 1, 0], [0, 1])
    with pytest.raises(ValueError, match=r"labels must be one value per time step"):
        point_adjust([[0, 1]], [[0, 1]])
