"""Bundled EEG data sets: each loader reads, with the right shapes, rates, labels and
checksums; a user folder works too."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tsssm.data import DATA_DIR_ENV, ChecksumError, DataError, datasets_dir
from tsssm.data.eeg import (
    BONN_SETS,
    BONN_SFREQ,
    EEGMMIDB_EVENT_MAP,
    EEGWindows,
    load_bonn,
    load_eegmmidb,
    load_mental_arithmetic,
)

MA_CHANNELS = ["Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4",
               "T5", "T6", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz"]  # fmt: skip


def test_mental_arithmetic_bundled():
    recordings = load_mental_arithmetic()
    assert len(recordings) == 16
    assert {r.subject for r in recordings} == {f"Subject{i:02d}" for i in range(8)}
    for recording in recordings:
        assert recording.raw.ch_names == MA_CHANNELS
        assert recording.raw.info["sfreq"] == 128.0
        assert recording.raw.n_times == 62 * 128
        assert recording.label == (0 if recording.id.endswith("_1") else 1)
    # microvolt-scale EEG, stored in volts
    data = recordings[0].raw.get_data(stop=1280)
    assert 1e-7 < np.median(np.abs(data)) < 1e-4


def test_mental_arithmetic_subjects_and_unknown():
    recordings = load_mental_arithmetic(subjects=["Subject03"])
    assert [r.id for r in recordings] == ["Subject03_1", "Subject03_2"]
    with pytest.raises(DataError, match=r"Subject99.*not found"):
        load_mental_arithmetic(subjects=["Subject99"])


def test_bonn_bundled_sets_and_labels():
    recordings = load_bonn(segments=[1, 100])
    assert [r.id for r in recordings][:3] == ["Z001", "Z100", "O001"]
    assert len(recordings) == 2 * len(BONN_SETS)
    for recording in recordings:
        assert recording.raw.info["sfreq"] == pytest.approx(BONN_SFREQ)
        assert recording.raw.get_data().shape == (1, 4097)
        assert recording.label == BONN_SETS.index(recording.id[0])
    assert recordings[4].id == "N001"  # the set whose files end in .TXT
    seizure = load_bonn(sets=["Z", "S"], segments=[5], classes={"Z": 0, "S": 1})
    assert [r.label for r in seizure] == [0, 1]


def test_bonn_values_are_the_text_file(tmp_path):
    path = datasets_dir() / "eeg" / "bonn" / "Z" / "Z001.txt"
    (tmp_path / "Z").mkdir()
    shutil.copy(path, tmp_path / "Z" / "Z001.txt")
    expected = np.loadtxt(path) * 1e-6
    (recording,) = load_bonn(tmp_path, sets=["Z"])
    np.testing.assert_allclose(recording.raw.get_data()[0], expected)


def test_eegmmidb_bundled_annotations():
    (recording,) = load_eegmmidb()
    raw = recording.raw
    assert recording.id == "S001R04" and recording.subject == "S001"
    assert raw.info["sfreq"] == 160.0 and len(raw.ch_names) == 64
    assert raw.ch_names[:3] == ["FC5", "FC3", "FC1"]  # "Fc5." etc. in the file
    assert set(raw.annotations.description) == set(EEGMMIDB_EVENT_MAP)
    windows = EEGWindows.from_recordings(
        [recording], 4.0, labels="annotations", event_map=EEGMMIDB_EVENT_MAP
    )
    counts = np.bincount(windows.labels)
    expected = [sum(d == name for d in raw.annotations.description) for name in ("T0", "T1", "T2")]
    assert counts.tolist() == expected


def test_bundled_checksum_is_checked(tmp_path, monkeypatch):
    copy = tmp_path / "eeg" / "eegmmidb"
    shutil.copytree(datasets_dir() / "eeg" / "eegmmidb", copy)
    with open(copy / "S001R04.edf", "r+b") as file:
        file.seek(5000)
        file.write(b"\x00\x01")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(ChecksumError, match=r"S001R04\.edf"):
        load_eegmmidb()


def test_missing_user_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mental_arithmetic(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no files named like"):
        load_eegmmidb(tmp_path)
