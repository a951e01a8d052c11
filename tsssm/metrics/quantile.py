"""Metrics of quantile forecasts, as the probabilistic-forecasting field reports them.

Every function takes the truth ``y_true`` (any shape ``S``), the forecast quantiles
``y_quantiles`` (shape ``S + (n_quantiles,)``, the last axis in the order of ``levels``) and the
increasing ``levels`` in (0, 1); every point of ``S`` counts once.

- pinball (quantile) loss of level ``t``: the mean over points of
  ``max(t * (y - q), (t - 1) * (y - q))`` (scikit-learn's ``mean_pinball_loss``).
- weighted quantile loss (wQL, as in GluonTS and the Chronos benchmarks): per level
  ``2 * sum pinball / sum |y|``; ``wql`` is its mean over the levels. (torchmetrics has no
  quantile-based score; its CRPS takes ensemble samples.)
- CRPS approximated from the quantiles: the mean over the levels of ``2 * pinball``. CRPS is
  the integral over all levels in (0, 1) of twice the pinball loss; this is that integral
  over the given levels only, a good approximation when they are many and evenly spread
  (with 0.1, 0.5, 0.9 it is coarse: the tails beyond 0.1 and 0.9 are left out).
- coverage of the central interval of levels ``(t, 1 - t)`` (both must be among ``levels``):
  the fraction of points with ``q_t <= y <= q_{1-t}``; nominal ``1 - 2t`` (80 % for
  0.1 / 0.9). A calibrated forecast covers about its nominal fraction.
- interval width: the mean of ``q_{1-t} - q_t`` (sharpness; narrower is better at equal
  coverage).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def level_name(level: float) -> str:
    """``0.1`` -> ``"0.1"``: how a level is written in metric keys and column names."""
    return f"{level:g}"


def _checked_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(level) for level in levels)
    if not levels or any(not 0.0 < t < 1.0 for t in levels) or \
            any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(f"levels must be increasing numbers inside (0, 1), got {list(levels)}")
    return levels


def _checked(y_true: ArrayLike, y_quantiles: ArrayLike, levels: Sequence[float]
             ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """``y_true`` [N] and ``y_quantiles`` [N, n_quantiles] as float64, with clear errors."""
    truth = np.asarray(y_true, dtype=np.float64)
    quantiles = np.asarray(y_quantiles, dtype=np.float64)
    levels = _checked_levels(levels)
    if quantiles.shape != (*truth.shape, len(levels)):
        raise ValueError(f"y_quantiles has shape {quantiles.shape}; with y_true of shape "
                         f"{truth.shape} and {len(levels)} levels it needs "
                         f"{(*truth.shape, len(levels))}")
    if truth.size == 0:
        raise ValueError("y_true is empty")
    if not (np.isfinite(truth).all() and np.isfinite(quantiles).all()):
        raise ValueError("y_true or y_quantiles holds NaN or inf values")
    return truth.reshape(-1), quantiles.reshape(-1, len(levels)), levels


def central_intervals(levels: Sequence[float]) -> list[tuple[int, int, float]]:
    """The central intervals ``levels`` hold: ``(lower index, upper index, nominal
    coverage)`` for each level ``t < 0.5`` whose partner ``1 - t`` is a level too, widest
    first."""
    levels = [float(level) for level in levels]
    pairs = []
    for i, low in enumerate(levels):
        if low >= 0.5:
            break
        partner = [j for j, high in enumerate(levels) if abs(high - (1.0 - low)) < 1e-9]
        if partner:
            pairs.append((i, partner[0], 1.0 - 2.0 * low))
    return pairs


def interval_name(nominal: float) -> str:
    """``0.8`` -> ``"80"`` (percent), for metric keys."""
    return f"{100 * nominal:.6g}"


class QuantileSums:
    """Running sums behind every metric of this module, so that they can be computed over
    batches of points (memory flat in the number of points) with the same result as over all
    of them at once: ``QuantileSums(levels).add(y_true, y_quantiles)...`` then the metric
    methods.

    Raises:
        ValueError: levels that are not increasing numbers in (0, 1) (at construction), or a
            batch of the wrong shape or with NaN / inf values (in :meth:`add`).
    """

    def __init__(self, levels: Sequence[float]) -> None:
        self.levels = _checked_levels(levels)
        self.intervals = central_intervals(self.levels)
        self.points = 0
        self.pinball_sums = np.zeros(len(self.levels))  # per level
        self.abs_truth_sum = 0.0
        self.covered = np.zeros(len(self.intervals))  # points inside each central interval
        self.width_sums = np.zeros(len(self.intervals))

    def add(self, y_true: ArrayLike, y_quantiles: ArrayLike) -> QuantileSums:
        """Add a batch: ``y_true`` (shape ``S``) and ``y_quantiles`` (``S + (n_levels,)``)."""
        # Imported here: the app reads this module's interval helpers without scikit-learn.
        from sklearn.metrics import mean_pinball_loss

        truth, quantiles, _ = _checked(y_true, y_quantiles, self.levels)
        n = len(truth)
        self.points += n
        self.pinball_sums += [n * mean_pinball_loss(truth, quantiles[:, i], alpha=level)
                              for i, level in enumerate(self.levels)]
        self.abs_truth_sum += float(np.abs(truth).sum())
        for k, (i, j, _) in enumerate(self.intervals):
            self.covered[k] += ((quantiles[:, i] <= truth) & (truth <= quantiles[:, j])).sum()
            self.width_sums[k] += (quantiles[:, j] - quantiles[:, i]).sum()
        return self

    def _points(self) -> int:
        if self.points == 0:
            raise ValueError("y_true is empty")
        return self.points

    def pinball(self) -> np.ndarray:
        """Mean pinball loss of each level, ``[n_levels]``."""
        return self.pinball_sums / self._points()

    def wql(self) -> np.ndarray:
        """wQL of each level, ``2 * sum pinball / sum |y|``, ``[n_levels]``.

        Raises:
            ValueError: every ``y_true`` was zero (the weight is undefined).
        """
        if not self.abs_truth_sum > 0:
            raise ValueError("weighted quantile loss: y_true is all zeros, so sum |y| is 0")
        return 2.0 * self.pinball_sums / self.abs_truth_sum

    def crps(self) -> float:
        """CRPS approximated by the mean over the levels of twice the pinball loss."""
        return float(2.0 * self.pinball().mean())

    def coverage(self) -> dict[str, float]:
        """Empirical coverage of every central interval, by nominal percent."""
        points = self._points()
        return {interval_name(nominal): float(self.covered[k] / points)
                for k, (_, _, nominal) in enumerate(self.intervals)}

    def width(self) -> dict[str, float]:
        """Mean width of every central interval, by nominal percent."""
        points = self._points()
        return {interval_name(nominal): float(self.width_sums[k] / points)
                for k, (_, _, nominal) in enumerate(self.intervals)}

    def report(self) -> dict[str, Any]:
        """Every metric, as :func:`quantile_report` gives them."""
        names = [level_name(level) for level in self.levels]
        pinball, wql = self.pinball(), self.wql()
        report: dict[str, Any] = {
            "pinball": float(pinball.mean()),
            "pinball_per_level": dict(zip(names, pinball.tolist(), strict=True)),
            "wql": float(wql.mean()),
            "wql_per_level": dict(zip(names, wql.tolist(), strict=True)),
            "crps": self.crps(),
        }
        coverage, width = self.coverage(), self.width()
        for name in coverage:
            report[f"coverage_{name}"] = coverage[name]
            report[f"width_{name}"] = width[name]
        return report


def pinball_losses(y_true: ArrayLike, y_quantiles: ArrayLike, levels: Sequence[float]
                   ) -> np.ndarray:
    """Mean pinball loss of each level, ``[n_quantiles]``."""
    return QuantileSums(levels).add(y_true, y_quantiles).pinball()


def weighted_quantile_losses(y_true: ArrayLike, y_quantiles: ArrayLike,
                             levels: Sequence[float]) -> np.ndarray:
    """wQL of each level, ``2 * sum pinball / sum |y|``, ``[n_quantiles]``.

    Raises:
        ValueError: ``y_true`` is all zeros (the weight is undefined).
    """
    return QuantileSums(levels).add(y_true, y_quantiles).wql()


def crps_from_quantiles(y_true: ArrayLike, y_quantiles: ArrayLike,
                        levels: Sequence[float]) -> float:
    """CRPS approximated by the mean over ``levels`` of twice the pinball loss."""
    return QuantileSums(levels).add(y_true, y_quantiles).crps()


def interval_coverage(y_true: ArrayLike, y_quantiles: ArrayLike, levels: Sequence[float]
                      ) -> dict[str, float]:
    """Empirical coverage of every central interval, by nominal percent (``{"80": 0.78}``)."""
    return QuantileSums(levels).add(y_true, y_quantiles).coverage()


def interval_width(y_true: ArrayLike, y_quantiles: ArrayLike, levels: Sequence[float]
                   ) -> dict[str, float]:
    """Mean width of every central interval, by nominal percent (``{"80": 1.9}``)."""
    return QuantileSums(levels).add(y_true, y_quantiles).width()


def quantile_report(y_true: ArrayLike, y_quantiles: ArrayLike, levels: Sequence[float]
                    ) -> dict[str, Any]:
    """Every metric above, for metrics.json: ``pinball`` (mean over levels) and
    ``pinball_per_level``, ``wql`` and ``wql_per_level`` (level names as keys), ``crps``,
    ``coverage_<P>`` and ``width_<P>`` for each central interval of nominal ``P`` percent.
    (Over batches: :class:`QuantileSums`.)"""
    return QuantileSums(levels).add(y_true, y_quantiles).report()
