"""The LTSF archive's files without dates: Solar's headerless text and PEMS's ``.npz``
arrays, written small by the tests; their splits, and clear errors for malformed files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tsssm.data import DataError, ForecastingData, read_forecasting_series

N_ROWS, N_NODES = 200, 4


def write_solar(path: Path, values: np.ndarray) -> Path:
    path.write_text("\n".join(",".join(f"{v:.2f}" for v in row) for row in values) + "\n")
    return path


@pytest.fixture
def solar(tmp_path: Path) -> tuple[Path, np.ndarray]:
    values = np.random.default_rng(0).uniform(0, 50, size=(N_ROWS, 3)).round(2)
    return write_solar(tmp_path / "solar_AL.txt", values), values


@pytest.fixture
def pems(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(1).uniform(0, 300, size=(N_ROWS, N_NODES, 3))
    np.savez(tmp_path / "PEMS08.npz", data=data)
    return tmp_path / "PEMS08.npz", data


def test_solar_reads_with_dates_from_start(solar: tuple[Path, np.ndarray]) -> None:
    path, values = solar
    frame = read_forecasting_series(path, start="2006-01-01", frequency="10m")
    assert frame.columns == ["date", "0", "1", "2"]
    np.testing.assert_allclose(frame.drop("date").to_numpy(), values)
    assert frame["date"][0] == datetime(2006, 1, 1)
    assert frame["date"][-1] == datetime(2006, 1, 1) + (N_ROWS - 1) * (frame["date"][1] -
                                                                      frame["date"][0])
    assert (frame["date"][1] - frame["date"][0]).total_seconds() == 600


def test_solar_split_is_70_10_20(solar: tuple[Path, np.ndarray]) -> None:
    path, values = solar
    data = ForecastingData.from_file(path, 24, 12, start="2006-01-01", frequency="10m")
    n_train, n_test = int(N_ROWS * 0.7), int(N_ROWS * 0.2)
    assert data.borders == {"train": (0, n_train), "val": (n_train - 24, N_ROWS - n_test),
                            "test": (N_ROWS - n_test - 24, N_ROWS)}
    np.testing.assert_allclose(data.scaler.mean, values[:n_train].mean(axis=0))


def test_pems_uses_the_flow_and_a_disjoint_60_20_20_split(pems: tuple[Path, np.ndarray]
                                                          ) -> None:
    path, raw = pems
    data = ForecastingData.from_file(path, 24, 12, start="2016-07-01")
    assert data.variates == tuple(str(i) for i in range(N_NODES))
    assert data.borders == {"train": (0, 120), "val": (120, 160), "test": (160, 200)}
    np.testing.assert_allclose(data.scaler.mean, raw[:120, :, 0].mean(axis=0))
    assert (data.timestamps[1] - data.timestamps[0]).total_seconds() == 300  # 5 minutes
    assert len(data.test) == 40 - 24 - 12 + 1  # test windows read test rows only


@pytest.mark.parametrize(("content", "message"), [
    ("plant0,plant1\n1,2\n", "line 1 holds no numbers.*looks like a header.*delete that line"),
    ("1,2\n3,abc\n4,5\n", r"line 2, column 2: 'abc' is not a number"),
    ("1,2\n3,\n", "line 2 has fewer values than line 1"),
])
def test_solar_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "solar_AL.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_forecasting_series(path, start="2006-01-01", frequency="10m")


def test_pems_errors(tmp_path: Path) -> None:
    path = tmp_path / "PEMS04.npz"
    np.savez(path, flow=np.zeros((10, 2, 3)))
    with pytest.raises(DataError, match=r"no array 'data' \(arrays: \['flow'\]\)"):
        read_forecasting_series(path, start="2018-01-01")
    np.savez(path, data=np.zeros((10, 2)))
    with pytest.raises(DataError, match=r"shape \[10, 2\]; a PEMS file holds \[time, nodes"):
        read_forecasting_series(path, start="2018-01-01")
    path.write_text("not an archive")
    with pytest.raises(DataError, match=r"cannot read .* as an .npz archive"):
        read_forecasting_series(path, start="2018-01-01")


def test_missing_start_or_bad_frequency(solar: tuple[Path, np.ndarray],
                                        pems: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(DataError, match=r"holds no dates: give data.start and data.frequency"):
        read_forecasting_series(solar[0])
    with pytest.raises(DataError, match=r"holds no dates: give data.start "):
        read_forecasting_series(pems[0])
    with pytest.raises(DataError, match="frequency 'ten' is not a positive duration"):
        read_forecasting_series(solar[0], start="2006-01-01", frequency="ten")
    with pytest.raises(DataError, match="start 'Jan 2006' is not an ISO date"):
        read_forecasting_series(solar[0], start="Jan 2006", frequency="10m")
