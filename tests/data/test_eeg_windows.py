"""EEG windows: counts, start times and labels; lazy items equal eager slices (also through
the memory-mapped cache); subject splits without leakage; and every bad-input error."""

from __future__ import annotations

import shutil

import mne
import numpy as np
import pytest
import torch

from tsssm.data import DataError, datasets_dir
from tsssm.data.eeg import (
    UNLABELLED,
    EEGRecording,
    EEGWindows,
    check_subject_split,
    load_bonn,
    load_mental_arithmetic,
    read_bonn_segment,
    read_raw,
    subject_split,
)
from tsssm.data.eeg.splits import EEGSplit

MA_DIR = datasets_dir() / "eeg" / "mental_arithmetic"


@pytest.fixture(scope="module")
def arithmetic() -> list[EEGRecording]:
    return load_mental_arithmetic()


def _fif(path, data: np.ndarray, sfreq: float, names: list[str]) -> EEGRecording:
    """Write ``data`` [C, T] (volts) as a FIF file and read it back as a recording."""
    info = mne.create_info(names, sfreq, "eeg")
    mne.io.RawArray(data, info, verbose="error").save(path, verbose="error")
    return EEGRecording(read_raw(path), path.stem, "s0", 0)


def _real(n_chans: int, seconds: float) -> np.ndarray:
    """[n_chans, seconds * 128] bundled EEG samples (volts)."""
    raw = read_raw(MA_DIR / "Subject02_2.edf")
    return raw.get_data(picks=list(range(n_chans)), stop=round(seconds * 128))


def test_counts_start_times_and_metadata(arithmetic):
    windows = EEGWindows.from_recordings(arithmetic, window_s=5.0, stride_s=2.5)
    per_recording = (62 * 128 - 640) // 320 + 1
    assert len(windows) == 16 * per_recording
    meta = windows.metadata
    assert meta.columns == ["recording", "subject", "start_s", "label"]
    first = meta.filter(meta["recording"] == "Subject05_2")
    np.testing.assert_allclose(first["start_s"].to_numpy(), np.arange(per_recording) * 2.5)
    assert (first["label"] == 1).all() and (first["subject"] == "Subject05").all()
    x, y = windows[0]
    assert x.shape == (19, 640) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert windows.n_chans == 19 and windows.sfreq == 128.0
    x, y = next(iter(torch.utils.data.DataLoader(windows, batch_size=8, shuffle=True)))
    assert x.shape == (8, 19, 640) and y.shape == (8,)


def test_lazy_item_equals_eager_slice(arithmetic):
    windows = EEGWindows.from_recordings(arithmetic[:4], window_s=2.0, stride_s=1.5)
    assert not windows._signals[0].data.preload  # items are read from the file on demand
    meta = windows.metadata
    for i in (0, 7, len(windows) - 1):
        recording = next(r for r in arithmetic if r.id == meta["recording"][i])
        eager = recording.raw.get_data()  # [C, T], the whole recording in memory
        start = round(meta["start_s"][i] * 128)
        x, y = windows[i]
        np.testing.assert_allclose(x.numpy(), eager[:, start : start + 256], rtol=1e-6)
        assert int(y) == recording.label


def test_cache_is_memory_mapped_and_equal(arithmetic, tmp_path):
    chain = [{"step": "filter", "l_freq": 1.0, "h_freq": 30.0}, {"step": "robust_scale"}]
    plain = EEGWindows.from_recordings(arithmetic[:2], 4.0, preprocessing=chain)
    cached = EEGWindows.from_recordings(arithmetic[:2], 4.0, preprocessing=chain,
                                        cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    assert isinstance(cached._signals[0].data, np.memmap)
    again = EEGWindows.from_recordings(arithmetic[:2], 4.0, preprocessing=chain,
                                       cache_dir=tmp_path)
    for i in (0, len(plain) - 1):
        np.testing.assert_allclose(cached[i][0], plain[i][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(again[i][0], cached[i][0])
    assert cached.metadata.equals(plain.metadata)


def test_unlabelled_windows(arithmetic):
    windows = EEGWindows.from_recordings(arithmetic[:1], 10.0, labels=None)
    assert (windows.labels == UNLABELLED).all() and len(windows) == 6


def test_annotation_windows_tile_each_annotation(tmp_path):
    recording = _fif(tmp_path / "ann_raw.fif", _real(2, 30.0), 128.0, ["Fz", "Cz"])
    recording.raw.set_annotations(
        mne.Annotations([2.0, 12.0, 20.0], [6.0, 1.0, 0.0], ["task", "task", "rest"])
    )
    windows = EEGWindows.from_recordings(
        [recording], 2.0, 2.0, labels="annotations", event_map={"rest": 0, "task": 1}
    )
    meta = windows.metadata
    assert meta["start_s"].to_list() == [2.0, 4.0, 6.0, 12.0, 20.0]
    assert meta["label"].to_list() == [1, 1, 1, 1, 0]
    with pytest.raises(DataError, match=r"no window from the annotations \['T1'\]"):
        EEGWindows.from_recordings([recording], 2.0, labels="annotations", event_map={"T1": 0})


def test_subject_split_explicit_and_by_fractions(arithmetic):
    windows = EEGWindows.from_recordings(arithmetic, 10.0)
    split = subject_split(windows, train=["Subject00", "Subject01"], test=["Subject07"])
    assert set(split.train.metadata["subject"]) == {"Subject00", "Subject01"}
    assert len(split.val) == 0 and len(split.test) == 12
    for seed in (0, 1):
        parts = subject_split(windows, fractions=(0.5, 0.25, 0.25), seed=seed)
        check_subject_split(parts)
        subjects = [set(p.metadata["subject"]) for p in parts]
        assert [len(s) for s in subjects] == [4, 2, 2]
        assert set.union(*subjects) == {f"Subject{i:02d}" for i in range(8)}
        assert sum(len(p) for p in parts) == len(windows)
    with pytest.raises(DataError, match=r"\['Subject01'\] are in both train and test"):
        subject_split(windows, train=["Subject00", "Subject01"], test=["Subject01"])
    with pytest.raises(DataError, match="not in the windows"):
        subject_split(windows, train=["Subject42"])
    with pytest.raises(DataError, match="in both train and val"):
        check_subject_split(EEGSplit(windows, windows.subset([0]), windows.subset([])))


# --- bad input --------------------------------------------------------------------------


def test_truncated_and_unreadable_files(tmp_path):
    broken = tmp_path / "Subject00_1.edf"
    content = (MA_DIR / "Subject00_1.edf").read_bytes()
    broken.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataError, match=r"Subject00_1.edf is truncated"):
        read_raw(broken)
    with pytest.raises(DataError, match=r"Subject00_1.edf is truncated"):
        load_mental_arithmetic(tmp_path)
    broken.write_bytes(content[:100])
    with pytest.raises(DataError, match=r"cannot read .*Subject00_1\.edf"):
        read_raw(broken)
    with pytest.raises(DataError, match="does not exist"):
        read_raw(tmp_path / "none.edf")


def test_bad_bonn_segments(tmp_path):
    path = tmp_path / "Z001.txt"
    path.write_text("12\n-3\n4.5\n")
    with pytest.raises(DataError, match=r"Z001.txt, line 3: '4.5' is not an integer"):
        read_bonn_segment(path)
    path.write_text("1\n2\n")
    with pytest.raises(DataError, match=r"Z001.txt has 2 samples, expected 4097"):
        read_bonn_segment(path)


def test_nan_and_flat_channels(tmp_path):
    data = _real(4, 8.0)
    data[1, 100:110] = np.nan
    data[3] = 2e-6
    recording = _fif(tmp_path / "bad_raw.fif", data, 128.0, ["Fz", "Cz", "Pz", "Oz"])
    with pytest.raises(DataError, match=r"bad_raw.fif: NaN/inf channels \['Cz'\]; flat "
                       r"channels \['Oz'\]"):
        EEGWindows.from_recordings([recording], 2.0)
    dropped = EEGWindows.from_recordings([recording], 2.0, bad_channels="drop")
    assert dropped.ch_names == ("Fz", "Pz")
    fixed = EEGWindows.from_recordings([recording], 2.0, bad_channels="interpolate")
    x = torch.stack([fixed[i][0] for i in range(len(fixed))])
    assert fixed.ch_names == ("Fz", "Cz", "Pz", "Oz") and torch.isfinite(x).all()
    assert x[:, 3].std() > 0  # the flat channel was replaced by its neighbours' estimate
    assert np.isnan(recording.raw.get_data()).any()  # the caller's recording is untouched


def test_interpolation_needs_positions(tmp_path):
    data = _real(3, 4.0)
    data[0] = 0.0
    recording = _fif(tmp_path / "odd_raw.fif", data, 128.0, ["ch1", "ch2", "ch3"])
    with pytest.raises(DataError, match=r"odd_raw.fif: cannot interpolate.*\['ch1', 'ch2', "):
        EEGWindows.from_recordings([recording], 2.0, bad_channels="interpolate")


def test_mixed_sampling_rates_need_a_resample_step(tmp_path):
    names = ["Fz", "Cz"]
    first = _fif(tmp_path / "a_raw.fif", _real(2, 8.0), 128.0, names)
    second = _fif(tmp_path / "b_raw.fif", _real(2, 8.0), 100.0, names)
    with pytest.raises(DataError, match=r"a_raw.fif: 128 Hz, .*b_raw.fif: 100 Hz.*resample"):
        EEGWindows.from_recordings([first, second], 2.0)
    windows = EEGWindows.from_recordings(
        [first, second], 2.0, preprocessing=[{"step": "resample", "sfreq": 64.0}]
    )
    assert windows.sfreq == 64.0 and windows[len(windows) - 1][0].shape == (2, 128)


def test_channels_must_agree(tmp_path):
    first = _fif(tmp_path / "a_raw.fif", _real(2, 4.0), 128.0, ["Fz", "Cz"])
    second = _fif(tmp_path / "b_raw.fif", _real(2, 4.0), 128.0, ["Fz", "Pz"])
    with pytest.raises(DataError, match=r"b_raw.fif has channels.*only in the former: \['Pz'\]"):
        EEGWindows.from_recordings([first, second], 2.0)


def test_window_longer_than_recording(tmp_path):
    (segment,) = load_bonn(sets=["S"], segments=[1])
    with pytest.raises(DataError, match=r"S001.txt: a window of 5208 samples \(30.00 s at "
                       r"173.61 Hz\) is longer than the recording \(4097 samples, 23.60 s\)"):
        EEGWindows.from_recordings([segment], 30.0)


def test_bad_window_options(arithmetic):
    with pytest.raises(DataError, match="must be positive"):
        EEGWindows.from_recordings(arithmetic[:1], 0.0)
    with pytest.raises(DataError, match="needs event_map"):
        EEGWindows.from_recordings(arithmetic[:1], 2.0, labels="annotations")
    with pytest.raises(DataError, match="unknown labels"):
        EEGWindows.from_recordings(arithmetic[:1], 2.0, labels="file")
    unlabelled = EEGRecording(arithmetic[0].raw, "x", "s", None)
    with pytest.raises(DataError, match="has no label"):
        EEGWindows.from_recordings([unlabelled], 2.0)
    with pytest.raises(DataError, match="unknown bad_channels"):
        EEGWindows.from_recordings(arithmetic[:1], 2.0, bad_channels="ignore")


def test_user_folder_copy(tmp_path):
    for name in ("Subject06_1.edf", "Subject06_2.edf"):
        shutil.copy(MA_DIR / name, tmp_path / name)
    recordings = load_mental_arithmetic(tmp_path)
    assert [r.label for r in recordings] == [0, 1]
