"""Forecasting data layer: bundled ETTh1, standard splits, scaling, windows and bad input."""

from __future__ import annotations

import ast
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader

import tsssm.data
from tsssm.data import (
    BUNDLED_SHA256,
    DATA_DIR_ENV,
    ChecksumError,
    DataError,
    ForecastingData,
    ForecastingWindows,
    StandardScaler,
    bundled_dataset,
    ett_borders,
    load_series,
    ratio_borders,
)
from tsssm.data.series import first_irregular_step

L, H = 96, 96
TRAIN_END, VAL_END, TEST_END = 12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24
ETT_VARIATES = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")


@pytest.fixture(scope="module")
def etth1() -> ForecastingData:
    return ForecastingData.from_file(bundled_dataset("ETTh1"), lookback=L, horizon=H)


@pytest.fixture(scope="module")
def etth1_raw() -> pl.DataFrame:
    return load_series(bundled_dataset("ETTh1"))


def write_csv(folder: Path, text: str, name: str = "series.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def hourly_csv(folder: Path, n: int, name: str = "custom.csv") -> Path:
    """A custom LTSF CSV: hourly dates from 2020-01-01 and two variates a, b."""
    start = datetime(2020, 1, 1)
    frame = pl.DataFrame(
        {
            "date": [start + timedelta(hours=i) for i in range(n)],
            "a": np.arange(n, dtype=float),
            "b": np.sin(np.arange(n)),
        }
    )
    path = folder / name
    frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")
    return path


# --- bundled ETTh1 -------------------------------------------------------------------------------


def test_bundled_etth1_is_found_and_verified() -> None:
    path = bundled_dataset("ETTh1")
    assert path == Path(tsssm.data.__file__).parents[2] / "datasets" / "ETTh1.csv"
    assert bundled_dataset("ETTh1.csv") == path
    assert (path.parent / "ETTh1.md").is_file()


def test_etth1_loads_as_datetime_and_float64(etth1_raw: pl.DataFrame) -> None:
    assert etth1_raw.shape == (17420, 8)
    assert etth1_raw.columns == ["date", *ETT_VARIATES]
    assert etth1_raw.schema["date"] == pl.Datetime("us")
    assert all(etth1_raw.schema[v] == pl.Float64 for v in ETT_VARIATES)
    assert etth1_raw["date"][0] == datetime(2016, 7, 1)
    assert etth1_raw["date"][-1] == datetime(2018, 6, 26, 19)


def test_etth1_window_shapes(etth1: ForecastingData) -> None:
    assert etth1.variates == ETT_VARIATES
    assert etth1.n_variates == 7
    assert etth1.n_time_features == 4
    for windows in (etth1.train, etth1.val, etth1.test):
        item = windows[0]
        assert item["x"].shape == (L, 7) and item["y"].shape == (H, 7)
        assert item["x_mark"].shape == (L, 4) and item["y_mark"].shape == (H, 4)
        assert item["x"].dtype == item["y"].dtype == item["x_mark"].dtype == torch.float32
    batch = next(iter(DataLoader(etth1.train, batch_size=8)))
    assert batch["x"].shape == (8, L, 7)
    assert batch["index"].tolist() == list(range(8))


def test_etth1_number_of_windows(etth1: ForecastingData) -> None:
    assert etth1.borders == {
        "train": (0, TRAIN_END),
        "val": (TRAIN_END - L, VAL_END),
        "test": (VAL_END - L, TEST_END),
    }
    assert len(etth1.train) == TRAIN_END - L - H + 1 == 8449
    assert len(etth1.val) == (VAL_END - TRAIN_END + L) - L - H + 1 == 2785
    assert len(etth1.test) == 2785
    with pytest.raises(IndexError):
        etth1.test[len(etth1.test)]
    assert etth1.test[-1]["index"] == TEST_END - L - H


def test_scaler_is_fitted_on_training_rows_only(
    etth1: ForecastingData, etth1_raw: pl.DataFrame
) -> None:
    train = etth1.values[:TRAIN_END].double()
    assert train.mean(0).abs().max() < 1e-5
    assert (train.std(0, unbiased=False) - 1).abs().max() < 1e-5
    test = etth1.values[VAL_END:TEST_END].double()
    assert test.mean(0).abs().max() > 0.1
    raw = etth1_raw.select(ETT_VARIATES).to_numpy()
    np.testing.assert_allclose(etth1.scaler.mean, raw[:TRAIN_END].mean(0))
    back = etth1.inverse_transform(etth1.values[:5].double()).numpy()
    np.testing.assert_allclose(back, raw[:5], rtol=1e-5, atol=1e-5)


def test_val_and_test_windows_start_lookback_before_their_border(etth1: ForecastingData) -> None:
    first = etth1.val[0]
    assert first["index"] == TRAIN_END - L
    assert etth1.val.first_target_row == TRAIN_END
    assert torch.equal(first["x"], etth1.values[TRAIN_END - L : TRAIN_END])
    assert torch.equal(first["y"], etth1.values[TRAIN_END : TRAIN_END + H])
    assert etth1.test[0]["index"] == VAL_END - L
    last = etth1.test[len(etth1.test) - 1]
    assert last["index"] + L + H == TEST_END


def test_index_maps_back_to_timestamps(etth1: ForecastingData) -> None:
    item = etth1.val[0]
    stamps = etth1.timestamps_for(item["index"])
    assert len(stamps) == H
    assert stamps[0] == datetime(2017, 6, 26, 0) == etth1.timestamps[TRAIN_END]
    assert etth1.timestamps_for(item["index"], horizon_step=H - 1)[0] == stamps[-1]
    both = etth1.timestamps_for(torch.tensor([0, 10]), horizon_step=0)
    assert both.to_list() == [datetime(2016, 7, 5, 0), datetime(2016, 7, 5, 10)]
    raw_ot = load_series(bundled_dataset("ETTh1"), columns=["OT"])["OT"][TRAIN_END]
    target = etth1.inverse_transform(item["y"].double().numpy())  # [H, V], the file's scale
    assert target[0, etth1.variates.index("OT")] == pytest.approx(raw_ot, abs=1e-4)


def test_calendar_features_follow_timeenc_1(etth1: ForecastingData) -> None:
    # 2016-07-01 00:00 was a Friday, day 183 of a leap year.
    hour, weekday, day, day_of_year = etth1.marks[0].tolist()
    assert hour == pytest.approx(-0.5)
    assert weekday == pytest.approx(4 / 6 - 0.5)
    assert day == pytest.approx(-0.5)
    assert day_of_year == pytest.approx(182 / 365 - 0.5)
    assert etth1.marks.min() >= -0.5 and etth1.marks.max() <= 0.5


def test_ratio_split_can_be_forced_on_etth1() -> None:
    data = ForecastingData.from_file(bundled_dataset("ETTh1"), 96, 24, split="ratio")
    n_train, n_test = int(17420 * 0.7), int(17420 * 0.2)
    assert data.borders["train"] == (0, n_train)
    assert data.borders["test"] == (17420 - n_test - 96, 17420)


# --- checksums -----------------------------------------------------------------------------------


def test_checksum_accepts_an_unmodified_copy(tmp_path: Path, monkeypatch) -> None:
    shutil.copyfile(bundled_dataset("ETTh1"), tmp_path / "ETTh1.csv")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert bundled_dataset("ETTh1") == tmp_path / "ETTh1.csv"


def test_checksum_rejects_one_changed_byte(tmp_path: Path, monkeypatch) -> None:
    data = bytearray(bundled_dataset("ETTh1").read_bytes())
    data[1000] = ord("7") if data[1000] != ord("7") else ord("8")
    (tmp_path / "ETTh1.csv").write_bytes(bytes(data))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ChecksumError, match=BUNDLED_SHA256["ETTh1.csv"]) as error:
        bundled_dataset("ETTh1")
    assert str(tmp_path / "ETTh1.csv") in str(error.value)
    assert "restore" in str(error.value)


def test_missing_or_unknown_bundled_data_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataError, match=f"ETTh1.csv not found in \\${DATA_DIR_ENV}="):
        bundled_dataset("ETTh1")
    with pytest.raises(DataError, match=r"no bundled data set 'ETTh9'; bundled: \['ETTh1'\]"):
        bundled_dataset("ETTh9")


# --- ratio split on a custom file ----------------------------------------------------------------


def test_ratio_split_on_a_custom_csv(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path, 100)
    data = ForecastingData.from_file(path, lookback=8, horizon=4)
    assert data.borders == {"train": (0, 70), "val": (62, 80), "test": (72, 100)}
    assert (len(data.train), len(data.val), len(data.test)) == (59, 7, 17)
    np.testing.assert_allclose(data.scaler.mean[0], np.arange(70).mean())
    assert data.val[0]["index"] == 62 and data.val.first_target_row == 70
    custom = ForecastingData.from_file(path, 8, 4, split=(0.6, 0.2, 0.2))
    assert custom.borders == {"train": (0, 60), "val": (52, 80), "test": (72, 100)}
    assert ratio_borders(100, 8) == data.borders


def test_unscaled_data_keep_the_file_values(tmp_path: Path) -> None:
    data = ForecastingData.from_file(hourly_csv(tmp_path, 100), 8, 4, scale=False)
    assert data.scaler is None
    assert data.train[3]["x"][:, 0].tolist() == list(range(3, 11))


def test_ett_split_for_minute_files(tmp_path: Path) -> None:
    n = 20 * 30 * 24 * 4
    start = datetime(2016, 7, 1)
    frame = pl.DataFrame(
        {
            "date": [start + timedelta(minutes=15 * i) for i in range(n)],
            "OT": np.arange(n) % 7.0,
        }
    )
    path = tmp_path / "ETTm1.parquet"
    frame.write_parquet(path)
    data = ForecastingData.from_file(path, lookback=96, horizon=96)
    assert data.borders["val"] == (4 * TRAIN_END - 96, 4 * VAL_END)
    assert data.time_feature_names[0] == "minute_of_hour"
    assert data.marks[1, 0] == pytest.approx(15 / 59 - 0.5)
    assert ett_borders(n, 96, rows_per_hour=4) == data.borders


def test_bad_split_arguments(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path, 100)
    with pytest.raises(DataError, match="unknown split 'weekly'"):
        ForecastingData.from_file(path, 8, 4, split="weekly")
    with pytest.raises(DataError, match="summing to 1"):
        ForecastingData.from_file(path, 8, 4, split=(0.5, 0.2, 0.2))
    with pytest.raises(DataError, match="the ETT split needs 14400 rows, the series has 100"):
        ForecastingData.from_file(path, 8, 4, split="ett")


# --- bad input -----------------------------------------------------------------------------------

HEADER = "date,a,b\n"
GOOD = [
    "2020-01-01 00:00:00,1.0,2.0",
    "2020-01-01 01:00:00,1.5,2.5",
    "2020-01-01 02:00:00,2.0,3.0",
    "2020-01-01 03:00:00,2.5,3.5",
]


def lines(*rows: str) -> str:
    return HEADER + "\n".join(rows) + "\n"


def test_missing_date_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "time,a,b\n2020-01-01,1,2\n")
    with pytest.raises(DataError, match="has no date column 'date'") as error:
        load_series(path)
    assert str(path) in str(error.value)
    assert "its header has 3 columns" in str(error.value)
    assert "time" not in str(error.value)  # the file's content is never quoted
    assert load_series(path, date_column="time").height == 1


def test_unparsable_timestamp(tmp_path: Path) -> None:
    path = write_csv(tmp_path, lines(*GOOD[:2], "2020-13-45 99:00:00,1,1", GOOD[3]))
    with pytest.raises(DataError, match=r"row 2 \(line 4 of the file\)") as error:
        load_series(path)
    assert "not a timestamp" in str(error.value) and str(path) in str(error.value)
    assert "2020-13-45" not in str(error.value)  # the file's content is never quoted


def test_missing_timestamp(tmp_path: Path) -> None:
    path = write_csv(tmp_path, lines(GOOD[0], ",1,1", *GOOD[2:]))
    with pytest.raises(DataError, match=r"row 1 .*missing timestamp"):
        load_series(path)


def test_decreasing_and_duplicated_timestamps(tmp_path: Path) -> None:
    path = write_csv(tmp_path, lines(GOOD[0], GOOD[2], GOOD[1], GOOD[3]))
    with pytest.raises(DataError, match=r"column 'date', row 2 .*strictly increasing.*decreasing"):
        load_series(path)
    path = write_csv(tmp_path, lines(GOOD[0], GOOD[1], GOOD[1], GOOD[3]))
    with pytest.raises(DataError, match=r"row 2 .*duplicated") as error:
        load_series(path)
    assert str(path) in str(error.value)


def test_non_numeric_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, lines(GOOD[0], GOOD[1], "2020-01-01 02:00:00,2.0,high", GOOD[3]))
    with pytest.raises(DataError, match=r"column 'b' is not numeric: row 2 .* holds a value "
                       "that is not a number") as e:
        load_series(path)
    assert str(path) in str(e.value) and "high" not in str(e.value)
    assert load_series(path, columns=["a"]).columns == ["date", "a"]


def test_missing_values_with_each_fill(tmp_path: Path) -> None:
    rows = [
        "2020-01-01 00:00:00,,2.0",
        "2020-01-01 01:00:00,1.0,NaN",
        "2020-01-01 02:00:00,2.0,inf",
        "2020-01-01 03:00:00,4.0,4.0",
    ]
    path = write_csv(tmp_path, lines(*rows))
    with pytest.raises(DataError, match=r"column 'a' has 1 missing .* row 0 .*also in \['b'\]"):
        load_series(path)
    with pytest.raises(DataError, match=r"column 'b' has 2 missing .* first at row 1"):
        load_series(path, columns=["b"])
    forward = load_series(path, fill="forward")
    assert forward["a"].to_list() == [1.0, 1.0, 2.0, 4.0]  # leading gap filled backwards
    assert forward["b"].to_list() == [2.0, 2.0, 2.0, 4.0]
    linear = load_series(path, fill="interpolate")
    assert linear["a"].to_list() == [1.0, 1.0, 2.0, 4.0]
    assert linear["b"].to_list() == pytest.approx([2.0, 2.6666667, 3.3333333, 4.0])


def test_an_all_missing_column_cannot_be_filled(tmp_path: Path) -> None:
    path = write_csv(tmp_path, lines("2020-01-01 00:00:00,1,", "2020-01-01 01:00:00,2,"))
    with pytest.raises(DataError, match=r"column 'b' has 2 missing.*nothing to fill from"):
        load_series(path, fill="forward")


def test_unknown_fill(tmp_path: Path) -> None:
    choices = r"\['none', 'forward', 'interpolate'\]"
    with pytest.raises(DataError, match=r"unknown fill 'mean'; choose one of " + choices):
        load_series(write_csv(tmp_path, lines(*GOOD)), fill="mean")


def test_too_short_series(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path, 40)
    with pytest.raises(DataError, match=r"the val split has 12 rows .* needs at least .* = 13"):
        ForecastingData.from_file(path, lookback=8, horizon=5)
    with pytest.raises(DataError, match="lookback 64 is longer than the training part"):
        ForecastingData.from_file(path, lookback=64, horizon=5)
    with pytest.raises(DataError, match="has no data rows"):
        load_series(write_csv(tmp_path, HEADER))


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"cannot read {missing}: it does not exist")):
        load_series(missing)
    with pytest.raises(DataError, match="it is a directory"):
        load_series(tmp_path)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=re.escape(f"cannot read {garbage}")):
        load_series(garbage)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"date,a\n2020-01-01,\xff\xfe\n")
    with pytest.raises(DataError, match=re.escape(f"cannot read {binary}")):
        load_series(binary)


def test_parquet_input(tmp_path: Path) -> None:
    path = tmp_path / "series.parquet"
    pl.DataFrame(
        {
            "date": [datetime(2020, 1, 1, h) for h in range(3)],
            "a": [1, 2, 3],
            "b": ["1.5", "x", "2"],
        }
    ).write_parquet(path)
    frame = load_series(path, columns=["a"])
    assert frame.schema == pl.Schema({"date": pl.Datetime("us"), "a": pl.Float64})
    with pytest.raises(DataError, match=r"column 'b' is not numeric: row 1 holds a value"):
        load_series(path)
    with pytest.raises(DataError, match=r"columns \['c'\] are not variates"):
        load_series(path, columns=["a", "c"])


def test_windows_reject_too_few_rows() -> None:
    values, marks = torch.zeros(10, 2), torch.zeros(10, 4)
    with pytest.raises(DataError, match=r"has 10 rows .* lookback 8 \+ horizon 4 = 12"):
        ForecastingWindows(values, marks, lookback=8, horizon=4)
    assert len(ForecastingWindows(values, marks, lookback=6, horizon=4)) == 1


def test_scaler_on_tensors_and_constant_columns() -> None:
    scaler = StandardScaler.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert scaler.std.tolist() == [1.0, 1.0]
    x = torch.tensor([[2.0, 5.0]])
    assert scaler.transform(x).tolist() == [[0.0, 0.0]]
    assert torch.equal(scaler.inverse_transform(scaler.transform(x)), x)


def test_data_layer_imports_no_models_or_recipes() -> None:
    for path in Path(tsssm.data.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            for name in names:
                assert "models" not in name and "recipes" not in name, f"{path}: {name}"


@pytest.mark.parametrize(("times", "first_uneven"), [
    ([datetime(2020, 1, 1) + timedelta(minutes=15 * i) for i in range(8)], None),
    ([date(2020 + i // 12, i % 12 + 1, 1) for i in range(30)], None),  # calendar months
    ([datetime(2020 + i // 4, 3 * (i % 4) + 1, 15, 6) for i in range(9)], None),  # quarters
    ([date(2020 + i // 12, i % 12 + 1, 1) for i in (0, 1, 2, 4, 5)], 3),  # a month missing
    ([datetime(2020, 1, 1, h) for h in (0, 1, 2, 4, 5, 6)], 3),
])
def test_even_spacing(times: list, first_uneven: int | None) -> None:
    assert first_irregular_step(pl.Series("date", times)) == first_uneven


def test_a_constant_column_scales_to_exactly_zero() -> None:
    values = np.c_[np.full(50, 1e30), np.arange(50.0)]  # the mean of 1e30s is not exactly 1e30
    scaler = StandardScaler.fit(values)
    assert (scaler.transform(values)[:, 0] == 0).all() and scaler.std[0] == 1.0
