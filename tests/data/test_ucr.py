"""UCR/UEA classification data: bundled ECG200, aeon's shipped problems, the three file
formats, ragged series, missing values and bad input."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tsssm.data import (
    DATA_DIR_ENV,
    ChecksumError,
    DataError,
    aeon_ucr_problems,
    datasets_dir,
    list_ucr,
    load_ucr,
    read_ucr_file,
    read_ucr_text,
)

needs_aeon = pytest.mark.skipif(
    importlib.util.find_spec("aeon") is None, reason="aeon (tsssm[timeseries-datasets]) missing"
)

TS_HEADER = """# a comment line
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength {equal}
@classLabel true up down
@data
"""


def aeon_file(name: str, part: str, suffix: str) -> Path:
    return aeon_ucr_problems()[name] / f"{name}_{part}{suffix}"


def test_ecg200_bundled_train_and_test():
    for split in ("train", "test"):
        X, y, info = load_ucr("ECG200", split=split)
        assert X.shape == (100, 1, 96) and X.dtype == np.float32
        assert np.isfinite(X).all()
        assert y.dtype.kind == "U" and set(y) == {"-1", "1"}
        assert info.name == "ECG200" and info.class_names == ("-1", "1")
        assert info.equal_length and not info.has_missing
        assert (info.lengths == 96).all()
    # The archive's documented balance: 69 normal of 100 in train, 64 in test.
    assert (load_ucr("ECG200", "train").y == "1").sum() == 69
    assert (load_ucr("ECG200", "test").y == "1").sum() == 64


def test_ecg200_first_value_matches_the_file():
    X, y, _ = load_ucr("ECG200")
    first = (datasets_dir() / "ucr" / "ECG200_TRAIN.txt").read_text().split()
    assert y[0] == "-1" and float(first[0]) == -1.0
    np.testing.assert_allclose(X[0, 0, :3], np.array(first[1:4], dtype=np.float32))


def test_bundled_copy_is_checksum_verified(tmp_path, monkeypatch):
    shutil.copytree(datasets_dir() / "ucr", tmp_path / "ucr")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert load_ucr("ECG200", "test").X.shape == (100, 1, 96)
    with open(tmp_path / "ucr" / "ECG200_TEST.txt", "a") as file:
        file.write("1 0.5 0.5\n")
    with pytest.raises(ChecksumError, match=r"ECG200_TEST\.txt"):
        load_ucr("ECG200", "test")


@needs_aeon
def test_aeon_problems_are_listed_and_load():
    names = list_ucr()
    assert names[0] == "ECG200"
    assert {"GunPoint", "BasicMotions", "ItalyPowerDemand", "JapaneseVowels"} <= set(names)
    assert "Covid3Month" not in names  # a regression problem, not classification
    X, y, info = load_ucr("BasicMotions", "test")
    assert X.shape == (40, 6, 100) and X.dtype == np.float32
    assert set(y) == set(info.class_names) and len(info.class_names) == 4


@needs_aeon
def test_arff_ts_and_tsv_of_one_problem_agree():
    ts = read_ucr_file(aeon_file("GunPoint", "TRAIN", ".ts"))
    for suffix in (".arff", ".tsv"):
        other = read_ucr_file(aeon_file("GunPoint", "TRAIN", suffix))
        assert other.X.shape == ts.X.shape == (50, 1, 150)
        np.testing.assert_array_equal(other.X, ts.X)
        np.testing.assert_array_equal(other.y, ts.y)
        assert other.info.name == "GunPoint"
    multivariate = read_ucr_file(aeon_file("BasicMotions", "TRAIN", ".arff"))
    np.testing.assert_array_equal(
        multivariate.X, read_ucr_file(aeon_file("BasicMotions", "TRAIN", ".ts")).X
    )


@needs_aeon
def test_ragged_problem_raises_unless_padded_or_truncated():
    with pytest.raises(DataError, match=r"JapaneseVowels_TRAIN\.ts.*different lengths"):
        load_ucr("JapaneseVowels")
    padded = load_ucr("JapaneseVowels", ragged="pad")
    cut = load_ucr("JapaneseVowels", ragged="truncate")
    lengths = padded.info.lengths
    assert not padded.info.equal_length and padded.info.has_missing
    assert padded.X.shape == (270, 12, lengths.max())
    assert cut.X.shape == (270, 12, lengths.min()) and not cut.info.has_missing
    short = int(lengths.argmin())
    assert np.isnan(padded.X[short, :, lengths[short] :]).all()
    assert np.isfinite(padded.X[short, :, : lengths[short]]).all()
    np.testing.assert_array_equal(cut.X, padded.X[:, :, : lengths.min()])


def test_text_reader_separators_labels_and_missing(tmp_path):
    path = tmp_path / "Toy_TRAIN.txt"
    path.write_text("2.0000e+00, 1, 2, 3\n\n  1\t4 ? 6\nb 7,NaN , 9\n")
    X, y, info = read_ucr_text(path)
    assert X.shape == (3, 1, 3)
    np.testing.assert_array_equal(y, ["2", "1", "b"])
    assert info.class_names == ("1", "2", "b") and info.name == "Toy"
    np.testing.assert_array_equal(X[0, 0], [1, 2, 3])
    assert np.isnan(X[1, 0, 1]) and np.isnan(X[2, 0, 1]) and info.has_missing


def test_text_reader_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1 1 2 3\n1 1 x 3\n")
    with pytest.raises(DataError, match=r"bad\.txt, line 2, value 2: not a number"):
        read_ucr_text(path)
    path.write_text("1 1 2 3\n2 1 2\n")
    with pytest.raises(DataError, match=r"bad\.txt.*case 1: 2.*case 0: 3"):
        read_ucr_text(path)
    assert read_ucr_text(path, ragged="pad").info.lengths.tolist() == [3, 2]
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no cases"):
        read_ucr_text(path)


@needs_aeon
def test_ts_multivariate_with_missing_values(tmp_path):
    path = tmp_path / "Toy_TEST.ts"
    path.write_text(
        TS_HEADER.format(equal="true") + "1,2,3:4,?,6:up\n7,8,9:10,11,12:down\n"
    )
    X, y, info = read_ucr_file(path)
    assert X.shape == (2, 2, 3)
    np.testing.assert_array_equal(X[1], [[7, 8, 9], [10, 11, 12]])
    assert np.isnan(X[0, 1, 1]) and info.has_missing
    assert info.class_names == ("up", "down") and list(y) == ["up", "down"]


@needs_aeon
def test_folder_path_and_unknown_names(tmp_path):
    folder = tmp_path / "Toy"
    folder.mkdir()
    (folder / "Toy_TRAIN.txt").write_text("1 1 2\n2 3 4\n")
    assert load_ucr(folder).X.shape == (2, 1, 2)
    with pytest.raises(DataError, match="no Toy_TEST file"):
        load_ucr(folder, split="test")
    with pytest.raises(DataError, match=r"unknown UCR/UEA problem 'NoSuch'.*ECG200.*GunPoint"):
        load_ucr("NoSuch")
    with pytest.raises(DataError, match="split must be"):
        load_ucr("ECG200", split="validation")
    with pytest.raises(DataError, match="ragged must be"):
        load_ucr("ECG200", ragged="fill")
    (folder / "Toy.npy").write_bytes(b"")
    with pytest.raises(DataError, match=r"Toy\.npy: unknown suffix"):
        read_ucr_file(folder / "Toy.npy")


def test_text_files_need_no_aeon_and_ts_files_say_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)  # import fails as if not installed
    assert load_ucr("ECG200").X.shape == (100, 1, 96)
    path = tmp_path / "Toy_TRAIN.ts"
    path.write_text(TS_HEADER.format(equal="true") + "1,2:3,4:up\n")
    with pytest.raises(ImportError, match=r'Toy_TRAIN\.ts needs aeon: pip install "tsssm\['):
        read_ucr_file(path)
