"""The forecasters are sktime forecasters: sktime's checks, horizons chosen at predict time,
the time index kept, polars in and out, and sktime's composition and evaluation tools."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sktime.exceptions import NotFittedError
from sktime.forecasting.base import ForecastingHorizon
from sktime.forecasting.compose import TransformedTargetForecaster
from sktime.forecasting.model_evaluation import evaluate
from sktime.forecasting.model_selection import ForecastingGridSearchCV
from sktime.split import ExpandingWindowSplitter, SlidingWindowSplitter
from sktime.transformations.series.detrend import Detrender
from sktime.utils.estimator_checks import check_estimator

from tsssm.estimators import ChimeraForecaster, SMambaForecaster

SMALL = {"lookback": 24, "horizon": 6, "model_options": {"d_model": 16, "d_ff": 16},
         "max_epochs": 4, "lr": 3e-3, "verbose": 0}
TINY = {"lookback": 8, "horizon": 4, "model_options": {"d_model": 4, "d_ff": 4, "n_layers": 1},
        "max_epochs": 1, "verbose": 0}


def seasonal(n: int = 400) -> pd.DataFrame:
    """Hourly load (period 24) and temperature (period 12), indexed by time."""
    t = np.arange(n)
    return pd.DataFrame({"load": np.sin(2 * np.pi * t / 24) * 10 + 100,
                         "temp": np.cos(2 * np.pi * t / 12) * 2 - 3},
                        index=pd.date_range("2021-03-01", periods=n, freq="h"))


@pytest.fixture(scope="module")
def fitted() -> SMambaForecaster:
    return SMambaForecaster(**SMALL).fit(seasonal())


# A fast share of sktime's checks (cutoff, horizons, fitted state, parameters); the whole
# suite (690 checks, also every index type and horizon of test_predict_time_index; minutes)
# is run by hand, see the README.
CHECKS = ["test_cutoff", "test_fh_attribute", "test_fh_not_passed_error_handling", "test_score",
          "test_raises_not_fitted_error", "test_fit_idempotent", "test_update_tag",
          "test_methods_have_no_side_effects", "test_fit_does_not_overwrite_hyper_params",
          "test_persistence_via_pickle", "test_object_tags", "test_random_tags",
          "test_get_params", "test_set_params"]


def test_passes_sktimes_forecaster_checks() -> None:
    tiny = SMambaForecaster(**SMambaForecaster.get_test_params()[0])
    results = check_estimator(tiny, tests_to_run=CHECKS, verbose=False)
    failed = {name: result for name, result in results.items() if result != "PASSED"}
    assert len(results) >= len(CHECKS) and not failed, failed


def test_horizon_is_chosen_at_predict_time_and_the_index_kept(fitted) -> None:
    y = seasonal()
    full = fitted.predict(fh=range(1, 7))
    assert isinstance(full, pd.DataFrame) and list(full.columns) == ["load", "temp"]
    assert full.index[0] == y.index[-1] + pd.Timedelta(hours=1) and full.index.freqstr == "h"
    some = fitted.predict(fh=[2, 5])
    pd.testing.assert_frame_equal(some, full.iloc[[1, 4]], check_freq=False)
    absolute = ForecastingHorizon(full.index[[0, 3]], is_relative=False)
    pd.testing.assert_frame_equal(fitted.predict(fh=absolute), full.iloc[[0, 3]],
                                  check_freq=False)
    # In the original scale: the load oscillates around 100, the temperature around -3.
    assert 80 < full["load"].mean() < 120 and -6 < full["temp"].mean() < 0
    with pytest.raises(ValueError, match=r"reaches step 7; .* up to horizon=6"):
        fitted.predict(fh=[1, 7])


def test_learns_the_seasonal_pattern(fitted) -> None:
    # Beats the "repeat the last value" forecast on the unseen continuation of the series.
    y = seasonal(500)
    mse = fitted.windowed_mse(y[376:])  # contexts overlapping the training end
    scaled = fitted.scaler_.transform(y[400:].to_numpy())
    naive = np.mean([(scaled[i + 1 : i + 7] - scaled[i]) ** 2 for i in range(len(scaled) - 7)])
    assert mse < naive


def test_update_moves_the_context_without_retraining(fitted) -> None:
    forecaster = fitted.clone().fit(seasonal()[:200])
    weights = {k: v.clone() for k, v in forecaster.module_.state_dict().items()}
    forecaster.update(seasonal()[200:300], update_params=False)
    forecast = forecaster.predict(fh=[1])
    assert forecast.index[0] == seasonal().index[300]
    assert all(v.equal(weights[k]) for k, v in forecaster.module_.state_dict().items())


def test_period_index_univariate_series_and_arrays_round_trip() -> None:
    periods = pd.Series(np.sin(np.arange(40) / 2), name="sales",
                        index=pd.period_range("2020-01", periods=40, freq="M"))
    forecaster = SMambaForecaster(**TINY).fit(periods)
    forecast = forecaster.predict(fh=[1, 2])
    assert isinstance(forecast, pd.Series) and forecast.name == "sales"
    assert list(forecast.index) == list(pd.period_range("2023-05", periods=2, freq="M"))
    array = forecaster.fit(periods.to_numpy()[:, None]).predict(fh=[1, 2, 3])
    assert isinstance(array, np.ndarray) and array.shape == (3, 1)


def test_polars_frames_come_back_as_polars_with_their_time_column() -> None:
    frame = pl.from_pandas(seasonal(60).rename_axis("when").reset_index())
    forecaster = SMambaForecaster(**TINY).fit(frame)
    forecast = forecaster.predict(fh=[1, 2])
    assert isinstance(forecast, pl.DataFrame)
    assert forecast.columns == ["when", "load", "temp"]
    assert forecast["when"][0] == dt.datetime(2021, 3, 1) + dt.timedelta(hours=60)
    with pytest.raises(ValueError, match="several datetime columns"):
        forecaster.fit(frame.with_columns(pl.col("when").alias("again")))
    with pytest.raises(ValueError, match=r"non-numeric columns \['site'\]"):
        forecaster.fit(frame.with_columns(pl.lit("a").alias("site")))
    with pytest.raises(ValueError, match=r"column 'day' holds dates as text, not datetimes; "
                                         r"parse it first \(polars"):
        forecaster.fit(frame.drop("when").with_columns(
            day=pl.Series([f"2020-01-{d % 28 + 1:02d}" for d in range(60)])))


@pytest.mark.parametrize(("y", "fh", "message"), [
    (seasonal(10), None, "has 10 rows; it needs at least lookback \\+ horizon = 12"),
    (seasonal(40), [5], "reaches step 5"),
    (seasonal(40).assign(load=np.nan), None, "cannot handle missing data"),
])
def test_bad_training_input_is_named_before_training(y, fh, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SMambaForecaster(**TINY).fit(y, fh=fh)


def test_not_fitted_and_no_horizon() -> None:
    with pytest.raises(NotFittedError):
        SMambaForecaster().predict(fh=[1])
    forecaster = SMambaForecaster(**TINY).fit(seasonal(40))
    with pytest.raises(ValueError, match="horizon"):
        forecaster.predict()


def test_a_fit_emits_no_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SMambaForecaster(**{**TINY, "verbose": 1}).fit(seasonal(40)).predict(fh=[1])
    assert [str(w.message) for w in caught] == []


def test_inside_transformed_target_forecaster() -> None:
    trend = seasonal(80).assign(load=lambda f: f["load"] + np.arange(80))
    pipeline = TransformedTargetForecaster([("detrend", Detrender()),
                                            ("forecast", SMambaForecaster(**TINY))])
    forecast = pipeline.fit(trend, fh=[1, 2, 3]).predict()
    assert forecast.index.equals(pd.date_range(trend.index[-1], periods=4, freq="h")[1:])
    # The detrender adds the trend back: the load continues near its last level.
    assert abs(forecast["load"].iloc[0] - trend["load"].iloc[-1]) < 15


def test_grid_search_over_the_lookback() -> None:
    search = ForecastingGridSearchCV(
        SMambaForecaster(**TINY), ExpandingWindowSplitter(fh=[1, 2], initial_window=30,
                                                          step_length=10),
        param_grid={"lookback": [6, 10]}, backend=None)  # joblib's loky re-imports torch
    search.fit(seasonal(50))
    assert search.best_params_["lookback"] in (6, 10)
    assert search.predict(fh=[1, 2]).shape == (2, 2)


@pytest.mark.parametrize("splitter", [
    ExpandingWindowSplitter(fh=[1, 2, 3], initial_window=30, step_length=10),
    SlidingWindowSplitter(fh=[1, 2, 3], window_length=30, step_length=10),
])
@pytest.mark.parametrize("strategy", ["refit", "update"])
def test_evaluate_with_splitters(splitter, strategy: str) -> None:
    results = evaluate(ChimeraForecaster(**{**TINY, "model_options": {
        "d_model": 4, "d_ff": 4, "n_layers": 1, "season_period": 4}}), splitter, seasonal(53),
        strategy=strategy)
    assert len(results) == splitter.get_n_splits(seasonal(53)) == 3
    assert np.isfinite(results["test_MeanAbsolutePercentageError"]).all()


@pytest.fixture(scope="module")
def quantile_fitted() -> SMambaForecaster:
    return SMambaForecaster(**{**SMALL, "max_epochs": 2}, quantiles=(0.1, 0.5, 0.9)).fit(
        seasonal())


def test_quantile_forecasts_by_level(quantile_fitted: SMambaForecaster) -> None:
    assert quantile_fitted.get_tag("capability:pred_int")
    point = quantile_fitted.predict(fh=[1, 2, 3])
    bands = quantile_fitted.predict_quantiles(fh=[1, 2, 3], alpha=[0.1, 0.5, 0.9])
    assert list(bands.columns) == [(v, a) for v in ("load", "temp") for a in (0.1, 0.5, 0.9)]
    assert bands.index.equals(point.index)
    np.testing.assert_allclose(bands[("load", 0.5)], point["load"])  # the point is the median
    for variate in ("load", "temp"):
        assert (bands[(variate, 0.1)] <= bands[(variate, 0.5)]).all()
        assert (bands[(variate, 0.5)] <= bands[(variate, 0.9)]).all()
    interval = quantile_fitted.predict_interval(fh=[1], coverage=0.8)
    np.testing.assert_allclose(interval.iloc[0].to_numpy(),
                               bands.iloc[0][[("load", 0.1), ("load", 0.9), ("temp", 0.1),
                                              ("temp", 0.9)]].to_numpy())


def test_quantiles_must_be_fitted_and_valid(quantile_fitted: SMambaForecaster,
                                            fitted: SMambaForecaster) -> None:
    with pytest.raises(ValueError, match=r"fitted for the levels \[0.1, 0.5, 0.9\]"):
        quantile_fitted.predict_quantiles(fh=[1], alpha=[0.05, 0.5])
    assert not fitted.get_tag("capability:pred_int")
    for levels, message in (((0.1, 0.5, 1.0), r"inside \(0, 1\)"),
                            ((0.9, 0.5, 0.1), "strictly increasing")):
        with pytest.raises(ValueError, match=message):
            SMambaForecaster(**TINY, quantiles=levels).fit(seasonal(40))
