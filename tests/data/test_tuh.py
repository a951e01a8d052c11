"""TUH readers (TUAB, TUAR, TUSL) on small trees in TUH's layouts, written here: EDF files
exported with MNE, annotation files in TUH's csv format."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pytest

from tsssm.data import DataError
from tsssm.data.eeg import (
    FEMBA_TUH,
    TCP_PAIRS,
    EEGWindows,
    Preprocessing,
    TUHEvent,
    load_tuab,
    load_tuar,
    load_tusl,
    preset,
    read_tuh_csv,
)

# TUH's referential channels (the 19 of 10-20 with the ear electrodes), as the EDF labels them
ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "A1", "A2", "FZ", "CZ", "PZ")  # fmt: skip
SFREQ = 250.0  # TUH's most common rate; FEMBA resamples to 256 Hz
# the montage and 256 Hz without the band-pass, whose filters need longer recordings
FAST = [{"step": "bipolar", "pairs": list(TCP_PAIRS)}, {"step": "resample", "sfreq": 256.0}]


def write_edf(path: Path, seconds: float, reference: str = "REF", seed: int = 0) -> Path:
    names = [f"EEG {electrode}-{reference}" for electrode in ELECTRODES]
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(names), round(seconds * SFREQ))) * 20e-6  # volts
    raw = mne.io.RawArray(data, mne.create_info(names, SFREQ, "eeg"), verbose="error")
    path.parent.mkdir(parents=True, exist_ok=True)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    return path


def write_csv(path: Path, rows: list[tuple[str, float, float, str]]) -> Path:
    header = ["# version = csv_v1.0.0", f"# bname = {path.stem}",
              "# duration = 20.0000 secs", "#", "channel,start_time,stop_time,label,confidence"]
    lines = [f"{ch},{start:.4f},{stop:.4f},{label},1.0000" for ch, start, stop, label in rows]
    path.write_text("\n".join(header + lines) + "\n")
    return path


def test_csv_events_are_read_and_bad_rows_named(tmp_path) -> None:
    path = write_csv(tmp_path / "a.csv", [("FP1-F7", 0.0, 2.5, "eyem"), ("TERM", 3, 4, "musc")])
    assert read_tuh_csv(path) == (TUHEvent("FP1-F7", 0.0, 2.5, "eyem"),
                                  TUHEvent("TERM", 3.0, 4.0, "musc"))
    path.write_text(path.read_text() + "FP1-F7,zero,1.0,eyem,1.0\n")
    with pytest.raises(DataError, match=r"a\.csv, line 8: 'FP1-F7,zero"):
        read_tuh_csv(path)
    path.write_text("# version = csv_v1.0.0\nchannel,start,stop,label\n")
    with pytest.raises(DataError, match=r"lacks \['start_time', 'stop_time'\]"):
        read_tuh_csv(path)
    with pytest.raises(DataError, match="does not exist"):
        read_tuh_csv(tmp_path / "none.csv")


def test_tuab_split_labels_and_femba_preprocessing(tmp_path) -> None:
    edf = tmp_path / "tuh_eeg_abnormal" / "v3.0.1" / "edf"
    for split, subjects in (("train", ("aaaaaaaa", "aaaaaaab")), ("eval", ("aaaaaaac",))):
        for label, folder in enumerate(("normal", "abnormal")):
            for number, subject in enumerate(subjects):
                write_edf(edf / split / folder / "01_tcp_ar" / f"{subject}_s00{label}_t000.edf",
                          seconds=12.0, seed=number + 10 * label)
    recordings = load_tuab(edf.parent)
    assert [(r.id, r.subject, r.label) for r in recordings] == [
        ("aaaaaaaa_s000_t000", "aaaaaaaa", 0), ("aaaaaaaa_s001_t000", "aaaaaaaa", 1),
        ("aaaaaaab_s000_t000", "aaaaaaab", 0), ("aaaaaaab_s001_t000", "aaaaaaab", 1)]
    assert recordings[0].raw.ch_names[:3] == ["Fp1", "Fp2", "F3"]  # 10-05 spelling
    evaluation = load_tuab(edf, split="eval")
    assert [r.label for r in evaluation] == [0, 1]
    # FEMBA's preprocessing: 22 TCP derivations at 256 Hz, 5-s windows, labelled by folder
    windows = EEGWindows.from_recordings(evaluation, FEMBA_TUH.window_s, FEMBA_TUH.stride_s,
                                         preprocessing=FEMBA_TUH.preprocessing)
    assert windows.ch_names == TCP_PAIRS and windows.sfreq == 256.0
    assert len(windows) == 2 * 2 and windows.labels.tolist() == [0, 0, 1, 1]
    x, y = windows[3]
    assert x.shape == (22, 1280) and int(y) == 1
    with pytest.raises(DataError, match=r"subjects \['zzzzzzzz'\] not found"):
        load_tuab(edf, subjects=["zzzzzzzz"])
    with pytest.raises(DataError, match="split must be one of"):
        load_tuab(edf, split="dev")


def test_tuab_needs_both_folders(tmp_path) -> None:
    write_edf(tmp_path / "train" / "normal" / "01_tcp_ar" / "aaaaaaaa_s001_t000.edf", 6.0)
    with pytest.raises(DataError, match=r"no folder .*train/abnormal"):
        load_tuab(tmp_path)


@pytest.fixture
def tuar_root(tmp_path) -> Path:
    """One 20-s TUAR recording of the linked-ears montage, its events chosen so that each
    of its four 5-s windows tests a rule (fractions at 256 Hz)."""
    folder = tmp_path / "edf" / "02_tcp_le"
    write_edf(folder / "aaaaaaju_s007_t000.edf", 20.0, reference="LE")
    write_csv(folder / "aaaaaaju_s007_t000.csv", [
        ("FP1-F7", 0.0, 2.0, "eyem"),       # window 0: 0.4 of FP1-F7, eye movement
        ("C3-CZ", 6.0, 7.0, "musc"),        # window 1: 0.2 muscle on C3-CZ ...
        ("C3-CZ", 7.0, 7.6, "elpp"),        # ... and 0.12 electrode pop: 0.32 artifact
        ("T4-A2", 10.0, 11.5, "chew_musc"),  # window 2: exactly 0.3, chewing first
        ("FP2-F8", 15.0, 15.5, "eyem"),     # window 3: 0.1 + 0.04 on two channels
        ("F8-T4", 16.0, 16.2, "eyem"),
    ])
    return tmp_path


@pytest.mark.parametrize(("mode", "expected"), [
    ("binary", [1, 1, 1, 0]),
    ("per_channel", {(0, "FP1-F7"): 1, (1, "C3-CZ"): 1, (2, "T4-A2"): 1}),
    ("per_type", {(0, "FP1-F7"): 3, (2, "T4-A2"): 1}),  # eyem 3, chew 1; musc 0.2 < 0.3
    ("window_type", [3, 0, 1, 0]),  # window 3: eye movement 0.14 of it on any channel
])
def test_tuar_window_labels(tuar_root: Path, mode: str, expected) -> None:
    recordings = load_tuar(tuar_root, mode=mode, montages=["02_tcp_le"])
    assert [r.subject for r in recordings] == ["aaaaaaju"]
    windows = EEGWindows.from_recordings(recordings, 5.0, labels="windows", preprocessing=FAST)
    assert len(windows) == 4 and windows.ch_names == TCP_PAIRS
    labels = windows.labels
    if mode in ("binary", "window_type"):
        assert labels.tolist() == expected
        return
    dense = np.zeros((4, 22), dtype=np.int64)
    for (window, channel), value in expected.items():
        dense[window, TCP_PAIRS.index(channel)] = value
    np.testing.assert_array_equal(labels, dense)
    x, y = windows[2]
    assert x.shape == (22, 1280) and y.shape == (22,) and int(y[TCP_PAIRS.index("T4-A2")]) == 1


def test_tuar_needs_the_montage_and_the_annotations(tuar_root: Path) -> None:
    recordings = load_tuar(tuar_root, montages=["02_tcp_le"])
    with pytest.raises(DataError, match=r"none of which the windows have.*bipolar montage"):
        EEGWindows.from_recordings(recordings, 5.0, labels="windows",
                                   preprocessing=FAST[1:])
    with pytest.raises(DataError, match="has no window labeller"):
        EEGWindows.from_recordings(without_labeller(tuar_root), 5.0, labels="windows")
    with pytest.raises(DataError, match=r"no montage folder .*01_tcp_ar"):
        load_tuar(tuar_root)
    (tuar_root / "edf" / "02_tcp_le" / "aaaaaaju_s007_t000.csv").unlink()
    with pytest.raises(DataError, match=r"aaaaaaju_s007_t000\.csv: it does not exist"):
        load_tuar(tuar_root, montages=["02_tcp_le"])
    with pytest.raises(DataError, match="unknown mode"):
        load_tuar(tuar_root, mode="multi", montages=["02_tcp_le"])


def without_labeller(root: Path):
    """The TUAR recording without its labeller (as a TUAB recording would come)."""
    recording = load_tuar(root, montages=["02_tcp_le"])[0]
    recording.window_labels = None
    return [recording]


def test_tusl_majority_labels(tmp_path) -> None:
    folder = tmp_path / "edf" / "aaaaaaju" / "s005_2010_11_15" / "01_tcp_ar"
    write_edf(folder / "aaaaaaju_s005_t000.edf", 20.0)
    write_csv(folder / "aaaaaaju_s005_t000.csv", [
        ("TERM", 0.0, 8.0, "bckg"), ("TERM", 8.0, 20.0, "slow"), ("TERM", 12.0, 13.0, "seiz")])
    write_edf(tmp_path / "edf" / "aaaaaajv" / "s001_2011" / "01_tcp_ar" / "aaaaaajv_s001_t000.edf",
              10.0, seed=1)
    write_csv(tmp_path / "edf" / "aaaaaajv" / "s001_2011" / "01_tcp_ar" / "aaaaaajv_s001_t000.csv",
              [("FP1-F7", 0.0, 2.0, "seiz")])
    recordings = load_tusl(tmp_path, subjects=["aaaaaaju", "aaaaaajv"])
    windows = EEGWindows.from_recordings(recordings, 5.0, labels="windows", preprocessing=FAST)
    # bckg; bckg 3 s over slow 2 s; slow 4 s over seiz 1 s; slow; then no event (0) over seiz
    assert windows.labels.tolist() == [1, 1, 3, 3, 0, 0]
    assert windows.metadata["subject"].to_list() == ["aaaaaaju"] * 4 + ["aaaaaajv"] * 2


def test_the_biofoundation_preset_scales_microvolts_as_the_released_task(tmp_path) -> None:
    recording = tuh_raw(tmp_path)
    released = preset("femba_biofoundation")
    assert (released.window_s, released.stride_s) == (5.0, 5.0)
    out = released.preprocessing.apply(recording.copy(), "tuh").get_data()
    montage = Preprocessing(FEMBA_TUH.preprocessing.steps[:-1]).apply(recording.copy(), "tuh")
    microvolts = montage.get_data() * 1e6  # BioFoundation's windows are in µV ...
    np.testing.assert_allclose(out, (microvolts + 20) / 40, rtol=1e-6, atol=1e-9)  # ... scaled


def tuh_raw(tmp_path: Path) -> mne.io.BaseRaw:
    """A 12-s TUH recording read as the readers do (10-05 channel names)."""
    folder = tmp_path / "train"
    for name in ("normal", "abnormal"):
        write_edf(folder / name / "01_tcp_ar" / f"aaaaaaa{name[0]}_s001_t000.edf", 12.0)
    return load_tuab(tmp_path)[0].raw.load_data(verbose="error")
