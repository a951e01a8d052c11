"""Quantile-forecast metrics: hand-computed values, and the properties that define them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from tsssm.metrics import (
    central_intervals,
    crps_from_quantiles,
    interval_coverage,
    interval_width,
    pinball_losses,
    quantile_report,
    weighted_quantile_losses,
)
from tsssm.training.forecasting import pinball_loss

LEVELS = (0.1, 0.5, 0.9)
Y = np.array([1.0, 2.0])
Q = np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 4.0]])


def test_hand_computed_values() -> None:
    # level 0.1: errors y - q = 1, 1 -> 0.1 each; 0.5: 0, -1 -> 0, 0.5; 0.9: -1, -2 -> 0.1, 0.2
    np.testing.assert_allclose(pinball_losses(Y, Q, LEVELS), [0.1, 0.25, 0.15])
    np.testing.assert_allclose(weighted_quantile_losses(Y, Q, LEVELS),
                               np.array([0.1, 0.25, 0.15]) * 2 / 1.5)
    assert crps_from_quantiles(Y, Q, LEVELS) == pytest.approx(2 * 0.5 / 3)
    assert interval_coverage(Y, Q, LEVELS) == {"80": 1.0}
    assert interval_width(Y, Q, LEVELS) == {"80": pytest.approx(2.5)}
    report = quantile_report(Y, Q, LEVELS)
    assert report["pinball_per_level"] == pytest.approx({"0.1": 0.1, "0.5": 0.25, "0.9": 0.15})
    assert report["wql"] == pytest.approx(np.mean([0.1, 0.25, 0.15]) * 2 / 1.5)
    assert report["coverage_80"] == 1.0 and report["width_80"] == pytest.approx(2.5)


def test_central_intervals_pair_each_level_with_its_mirror() -> None:
    assert central_intervals((0.05, 0.1, 0.3, 0.5, 0.9, 0.95)) == [
        (0, 5, pytest.approx(0.9)), (1, 4, pytest.approx(0.8))]  # 0.3 has no 0.7


def test_a_calibrated_gaussian_forecast_covers_its_nominal_fraction() -> None:
    rng = np.random.default_rng(0)
    y = rng.standard_normal((400, 500))
    levels = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)
    calibrated = np.broadcast_to(norm.ppf(levels), (*y.shape, len(levels)))
    coverage = interval_coverage(y, calibrated, levels)
    assert coverage.keys() == {"95", "80", "50"}
    for name, nominal in (("95", 0.95), ("80", 0.8), ("50", 0.5)):
        assert coverage[name] == pytest.approx(nominal, abs=0.005)
    assert interval_width(y, calibrated, levels)["80"] == pytest.approx(2 * norm.ppf(0.9))
    # Too narrow an interval covers less than it claims.
    narrow = interval_coverage(y, 0.5 * calibrated, levels)
    assert narrow["80"] < 0.6


def test_crps_from_many_levels_approaches_the_gaussian_closed_form() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal(200_000)
    levels = tuple(np.arange(1, 100) / 100)
    forecast = np.broadcast_to(norm.ppf(levels), (*y.shape, len(levels)))
    # The expected CRPS of the true N(0, 1) forecast is 1 / sqrt(pi); the mean over 99
    # evenly spread levels approximates the integral over (0, 1) to about 1 %.
    approx = crps_from_quantiles(y, forecast, levels)
    assert approx == pytest.approx(1.0 / np.sqrt(np.pi), rel=0.015)
    # A biased forecast scores worse.
    assert crps_from_quantiles(y, forecast + 1.0, levels) > approx + 0.2


def test_the_training_loss_is_the_metric() -> None:
    rng = np.random.default_rng(2)
    y = rng.standard_normal((6, 4, 3))
    q = np.sort(rng.standard_normal((6, 4, 3, 3)), axis=-1)
    loss = pinball_loss(torch.from_numpy(q), torch.from_numpy(y), LEVELS)
    assert loss.item() == pytest.approx(pinball_losses(y, q, LEVELS).mean())


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match=r"needs \(2, 3\)"):
        pinball_losses(Y, Q[:, :2], LEVELS)
    with pytest.raises(ValueError, match="NaN"):
        pinball_losses([1.0, np.nan], Q, LEVELS)
    with pytest.raises(ValueError, match=r"inside \(0, 1\)"):
        pinball_losses(Y, Q, (0.0, 0.5, 1.0))
    with pytest.raises(ValueError, match="all zeros"):
        weighted_quantile_losses([0.0, 0.0], Q, LEVELS)
