"""SMambaForecaster follows scikit-learn's conventions and answers in the input's own form."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tsssm.estimators import SMambaForecaster

SMALL = {"lookback": 24, "horizon": 6, "model_options": {"d_model": 16, "d_ff": 16},
         "max_epochs": 4, "lr": 3e-3}


def seasonal_frame(n: int = 400) -> pl.DataFrame:
    t = np.arange(n)
    start = dt.datetime(2021, 3, 1)
    return pl.DataFrame({
        "when": [start + dt.timedelta(hours=int(i)) for i in t],
        "load": np.sin(2 * np.pi * t / 24) * 10 + 100,
        "temp": np.cos(2 * np.pi * t / 12) * 2 - 3,
    })


@pytest.fixture(scope="module")
def fitted() -> SMambaForecaster:
    return SMambaForecaster(**SMALL).fit(seasonal_frame())


def test_init_only_stores_parameters_and_clone_works() -> None:
    forecaster = SMambaForecaster(lookback=10, horizon=3)
    assert forecaster.get_params()["lookback"] == 10
    copy = clone(forecaster.set_params(model_options={"d_model": 8}))
    assert copy.get_params()["model_options"] == {"d_model": 8}
    assert not hasattr(copy, "module_")


def test_predict_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        SMambaForecaster().predict()


def test_predicts_in_the_frames_own_form_and_time(fitted: SMambaForecaster) -> None:
    forecast = fitted.predict()
    assert isinstance(forecast, pl.DataFrame)
    assert forecast.columns == ["when", "load", "temp"]
    assert forecast.height == 6
    assert forecast["when"][0] == dt.datetime(2021, 3, 1) + dt.timedelta(hours=400)
    # In the original scale: the load oscillates around 100, the temperature around -3.
    assert 80 < forecast["load"].mean() < 120
    assert -6 < forecast["temp"].mean() < 0


def test_learns_the_seasonal_pattern(fitted: SMambaForecaster) -> None:
    # Beats the "repeat the last value" forecast on unseen continuation of the series.
    frame = seasonal_frame(500)
    future = frame[400:]
    score = fitted.score(frame[376:])  # contexts overlapping the training end, unseen targets
    values = future.select("load", "temp").to_numpy()
    scaled = fitted.scaler_.transform(values)
    naive = np.mean([(scaled[i + 1 : i + 7] - scaled[i]) ** 2 for i in range(len(scaled) - 7)])
    assert -score < naive


def test_pandas_and_arrays_round_trip(fitted: SMambaForecaster) -> None:
    frame = seasonal_frame()
    pandas_forecast = fitted.predict(frame.to_pandas())
    assert type(pandas_forecast).__name__ == "DataFrame" and hasattr(pandas_forecast, "iloc")
    array_forecast = fitted.predict(frame.select("load", "temp").to_numpy())
    assert array_forecast.shape == (6, 2)
    np.testing.assert_allclose(array_forecast, pandas_forecast[["load", "temp"]].to_numpy())


@pytest.mark.parametrize(
    ("series", "message"),
    [
        (np.zeros((10, 2)), "has 10 rows; it needs at least 30"),
        (np.zeros((40, 2, 2)), r"shape \(40, 2, 2\)"),
        (np.full((40, 2), np.nan), "NaN or inf values .first at row 0"),
        (pl.DataFrame({"a": ["x"] * 40}), "non-numeric columns \\['a'\\]"),
    ],
)
def test_bad_training_series(series, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SMambaForecaster(**SMALL).fit(series)


def test_context_must_match_the_fitted_variates(fitted: SMambaForecaster) -> None:
    with pytest.raises(ValueError, match="has 3 variates; the forecaster was fitted on 2"):
        fitted.predict(np.zeros((30, 3)))
    wrong = seasonal_frame().rename({"temp": "pressure"})
    with pytest.raises(ValueError, match=r"columns .*'pressure'.*fitted on"):
        fitted.predict(wrong)


@pytest.fixture(scope="module")
def quantile_fitted() -> SMambaForecaster:
    return SMambaForecaster(**{**SMALL, "max_epochs": 2}, quantiles=(0.1, 0.5, 0.9)).fit(
        seasonal_frame())


def test_quantile_forecasts_by_level(quantile_fitted: SMambaForecaster) -> None:
    point = quantile_fitted.predict()
    bands = quantile_fitted.predict(quantiles=(0.1, 0.5, 0.9))
    assert bands.columns == ["when", "load_q0.1", "load_q0.5", "load_q0.9", "temp_q0.1",
                             "temp_q0.5", "temp_q0.9"]
    assert bands["when"].to_list() == point["when"].to_list()
    np.testing.assert_allclose(bands["load_q0.5"], point["load"])  # the point is the median
    for variate in ("load", "temp"):
        assert (bands[f"{variate}_q0.1"] <= bands[f"{variate}_q0.5"]).all()
        assert (bands[f"{variate}_q0.5"] <= bands[f"{variate}_q0.9"]).all()
    values = quantile_fitted.predict(seasonal_frame().drop("when").to_numpy(), quantiles=[0.9])
    assert values.shape == (6, 2, 1)
    assert quantile_fitted.predict_quantile_values().shape == (6, 2, 3)


def test_quantiles_must_be_fitted_and_valid(quantile_fitted: SMambaForecaster,
                                            fitted: SMambaForecaster) -> None:
    with pytest.raises(ValueError, match=r"fitted for the levels \[0.1, 0.5, 0.9\]"):
        quantile_fitted.predict(quantiles=(0.05, 0.5))
    with pytest.raises(ValueError, match="fitted for point forecasts"):
        fitted.predict(quantiles=(0.5,))
    for levels, message in (((0.1, 0.5, 1.0), r"inside \(0, 1\)"),
                            ((0.9, 0.5, 0.1), "strictly increasing")):
        with pytest.raises(ValueError, match=message):
            SMambaForecaster(**SMALL, quantiles=levels).fit(seasonal_frame())
