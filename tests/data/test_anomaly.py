"""Labelled anomaly series (shipped with aeon/sktime, CSV, UCR anomaly archive files) and the
window/fold helpers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tsssm.data import (
    DataError,
    dominant_period,
    fold_window_scores,
    list_anomaly,
    load_anomaly,
    read_anomaly_csv,
    sliding_windows,
    smoothed_scores,
    window_starts,
)


def installed(package: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None, reason=f"{package} not installed"
    )


@installed("aeon")
def test_kdd_tsad_135_has_a_clean_training_prefix():
    series = load_anomaly("KDD-TSAD_135")
    assert series.values.dtype == np.float32 and series.values.shape == (7501, 1)
    assert series.labels.dtype == np.int64 and set(np.unique(series.labels)) == {0, 1}
    assert series.train_end == 1200 and not series.labels[:1200].any()
    anomalous = np.flatnonzero(series.labels)
    # One contiguous anomaly, after the training prefix.
    assert anomalous[0] > series.train_end and np.all(np.diff(anomalous) == 1)
    assert np.isfinite(series.values).all()


@installed("sktime")
def test_sktime_series_load_without_training_prefix():
    for name in ("mitdb", "yahoo"):
        series = load_anomaly(name)
        assert name in list_anomaly()
        assert series.values.ndim == 2 and series.values.shape[1] == 1
        assert series.train_end is None and 0 < series.labels.sum() < len(series.labels)


def test_csv_layouts_and_errors(tmp_path):
    path = tmp_path / "toy.csv"
    path.write_text("timestamp,a,b,is_anomaly\n0,1.0,2,0\n1,3.5,4,1.0\n2,5,6,0\n")
    series = read_anomaly_csv(path, train_end=1)
    assert series.channel_names == ("a", "b") and series.values.shape == (3, 2)
    np.testing.assert_array_equal(series.values[1], [3.5, 4])
    np.testing.assert_array_equal(series.labels, [0, 1, 0])
    assert load_anomaly(path).train_end is None
    with pytest.raises(DataError, match=r"training prefix \[0, 2\) is labelled"):
        read_anomaly_csv(path, train_end=2)
    path.write_text("data,label\n1,0\n2,2\n")
    with pytest.raises(DataError, match=r"toy\.csv, row 1: label 2.0 is not 0 or 1"):
        read_anomaly_csv(path)
    path.write_text("data,label\n1,0\nnan,0\n")
    with pytest.raises(DataError, match=r"toy\.csv, row 1, channel 0: value is not a finite"):
        read_anomaly_csv(path)
    path.write_text("data,score\n1,0\n")
    with pytest.raises(DataError, match="no label column"):
        read_anomaly_csv(path)


def test_ucr_anomaly_archive_name_gives_labels_and_prefix(tmp_path):
    path = tmp_path / "007_UCR_Anomaly_Toy_4_6_8.txt"
    path.write_text("\n".join(str(v) for v in range(10)))
    series = load_anomaly(path)
    assert series.train_end == 4 and series.name == path.stem
    np.testing.assert_array_equal(np.flatnonzero(series.labels), [6, 7])
    np.testing.assert_array_equal(series.values[:, 0], np.arange(10))
    bad = tmp_path / "007_UCR_Anomaly_Toy_4_6_12.txt"
    bad.write_text("1 2 3 4 5 6 7 8 9 10")
    with pytest.raises(DataError, match=r"anomaly \[6, 12\).*10 steps"):
        load_anomaly(bad)
    other = tmp_path / "series.txt"
    other.write_text("1\n2\n")
    with pytest.raises(DataError, match="not a UCR anomaly archive name"):
        load_anomaly(other)


def test_unknown_name_lists_what_is_available():
    with pytest.raises(DataError, match=r"unknown anomaly data set 'Nope'.*available"):
        load_anomaly("Nope")


def test_windows_cover_the_tail_and_match_slices():
    values = np.random.default_rng(0).normal(size=(11, 3)).astype(np.float32)
    np.testing.assert_array_equal(window_starts(11, 4, 3), [0, 3, 6, 7])
    windows = sliding_windows(values, 4, 3)
    assert windows.shape == (4, 3, 4) and windows.dtype == np.float32
    for window, start in zip(windows, window_starts(11, 4, 3), strict=True):
        np.testing.assert_array_equal(window, values[start : start + 4].T)
    assert sliding_windows(np.arange(5.0), 5).shape == (1, 1, 5)
    with pytest.raises(DataError, match="shorter than one window"):
        sliding_windows(values, 12)
    with pytest.raises(DataError, match="stride must be a positive int"):
        sliding_windows(values, 4, 0)


def test_fold_window_scores_mean_and_max_by_hand():
    # Windows of 3 steps at 0, 2, 3 over 6 steps (the last one added to reach the end).
    scores = np.array([1.0, 4.0, 7.0])
    mean = fold_window_scores(scores, 6, 3, 2, reduce="mean")
    np.testing.assert_allclose(mean, [1, 1, 2.5, 5.5, 5.5, 7])
    np.testing.assert_allclose(fold_window_scores(scores, 6, 3, 2, "max"), [1, 1, 4, 7, 7, 7])
    per_step = np.arange(9.0).reshape(3, 3)  # window 1 gives steps 2,3,4 scores 3,4,5
    np.testing.assert_allclose(
        fold_window_scores(per_step, 6, 3, 2, "mean"), [0, 1, 2.5, 5, 6, 8]
    )
    with pytest.raises(DataError, match=r"expected \[3\] or \[3, 3\]"):
        fold_window_scores(np.ones(4), 6, 3, 2)
    with pytest.raises(DataError, match="leaves steps no window covers"):
        fold_window_scores(np.ones(2), 6, 2, 4)


def test_fold_skips_each_windows_first_steps_where_another_window_covers_them():
    per_step = np.arange(9.0).reshape(3, 3)  # windows at 0, 2, 3 over 6 steps, as above
    # Step 0 is covered only at a skipped position and keeps that score; step 2's only
    # counted score is window 0's (window 1 starts there), step 3's window 1's.
    np.testing.assert_allclose(
        fold_window_scores(per_step, 6, 3, 2, "mean", skip=1), [0, 1, 2, 4, 6, 8]
    )
    np.testing.assert_allclose(
        fold_window_scores(per_step, 6, 3, 2, "max", skip=1), [0, 1, 2, 4, 7, 8]
    )
    with pytest.raises(DataError, match=r"skip must be an int in \[0, length=3\)"):
        fold_window_scores(per_step, 6, 3, 2, skip=3)
    with pytest.raises(DataError, match="skip needs per-step window scores"):
        fold_window_scores(np.ones(3), 6, 3, 2, skip=1)


def test_fold_inverts_windowing_of_a_per_step_signal():
    signal = np.random.default_rng(1).normal(size=50)
    windows = sliding_windows(signal, 8, 3)[:, 0]  # [W, 8]
    for reduce in ("mean", "max"):
        np.testing.assert_allclose(fold_window_scores(windows, 50, 8, 3, reduce), signal)


@pytest.mark.parametrize("period", [7, 24, 290])
def test_dominant_period_of_a_noisy_repeating_series(period: int) -> None:
    rng = np.random.default_rng(period)
    t = np.arange(12 * period)
    # A repeating pulse (like a heartbeat), not a pure sine, on two channels, with noise.
    pulse = np.exp(-(((t % period) - period / 3) ** 2) / (2 * (period / 20) ** 2))
    values = np.stack([pulse, 0.5 * np.roll(pulse, period // 4)], axis=1)
    values += 0.05 * rng.standard_normal(values.shape)
    assert abs(dominant_period(values) - period) <= max(1, period // 50)
    assert abs(dominant_period(values[:, 0]) - period) <= max(1, period // 50)


def test_a_series_without_repetition_has_period_one() -> None:
    assert dominant_period(np.arange(100.0)) == 1  # a trend
    assert dominant_period(np.ones((50, 2))) == 1  # constant
    with pytest.raises(DataError, match="shape"):
        dominant_period(np.zeros((3, 4, 5)))


def test_smoothed_scores_are_centred_moving_means() -> None:
    scores = np.array([0.0, 0.0, 3.0, 0.0, 0.0, 6.0])
    np.testing.assert_allclose(smoothed_scores(scores, 3), [0, 1, 1, 1, 2, 4])
    np.testing.assert_array_equal(smoothed_scores(scores, 1), scores)
    # A small rise over many steps outranks one larger step once smoothed.
    collective = np.r_[np.zeros(20), np.full(10, 0.3), np.zeros(20)]
    collective[5] = 1.0
    assert np.argmax(collective) == 5 and 20 <= np.argmax(smoothed_scores(collective, 9)) < 30
    for bad in (0, -2, 1.5, True):
        with pytest.raises(DataError, match="positive integer"):
            smoothed_scores(scores, bad)
