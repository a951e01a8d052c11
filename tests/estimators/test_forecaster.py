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
        (pl.DataFrame({"date": [f"2020-01-{d:02d}" for d in range(1, 31)], "a": [0.0] * 30}),
         r"column 'date' holds dates as text, not datetimes; parse it first \(polars"),
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
