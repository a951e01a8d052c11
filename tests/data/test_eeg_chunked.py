"""EEG preprocessing in bounded chunks (``tsssm.data.eeg.chunked``): the cache written chunk
by chunk holds what the whole-recording chain gives, filter edges and resampling included."""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pytest

from tsssm.data import DataError
from tsssm.data.eeg import EEGRecording, EEGWindows
from tsssm.data.eeg.chunked import chunk_plan, write_chunked_npy
from tsssm.data.eeg.preprocessing import Preprocessing

SFREQ, MINUTES = 250.0, 6
NAMES = ["FP1", "F7", "T3", "T5", "O1"]
FEMBA_LIKE = [  # FEMBA's chain with the polyphase resampler (chunkable) and a 0.5 Hz high-pass
    {"step": "bipolar", "pairs": ["FP1-F7", "F7-T3", "T3-T5", "T5-O1"]},
    {"step": "filter", "l_freq": 0.5, "h_freq": 40.0},
    {"step": "notch_filter", "freqs": 50.0},
    {"step": "resample", "sfreq": 256.0, "method": "polyphase"},
    {"step": "robust_scale"},
]


@pytest.fixture(scope="module")
def raw() -> mne.io.RawArray:
    """6 minutes of 5 channels at 250 Hz: noise, a slow drift, 10 Hz and 50 Hz lines (V)."""
    rng = np.random.default_rng(3)
    t = np.arange(round(MINUTES * 60 * SFREQ)) / SFREQ
    data = (rng.standard_normal((len(NAMES), len(t))) + 3 * np.sin(2 * np.pi * 0.05 * t)
            + np.sin(2 * np.pi * 10 * t) + 0.5 * np.sin(2 * np.pi * 50 * t)) * 1e-5
    return mne.io.RawArray(data, mne.create_info(NAMES, SFREQ, "eeg"), verbose="error")


@pytest.mark.parametrize("steps", [FEMBA_LIKE, FEMBA_LIKE[:3], FEMBA_LIKE[1:2]],
                         ids=["femba_like", "no_resample", "filter_only"])
def test_chunks_equal_the_whole_recording(raw: mne.io.RawArray, steps: list[dict],
                                          tmp_path: Path) -> None:
    chain = Preprocessing.from_config(steps)
    plan = chunk_plan(chain, raw)
    assert plan is not None
    whole = chain.apply(raw.copy(), "synthetic").get_data().astype(np.float32)
    path = tmp_path / "chunked.npy"
    info = write_chunked_npy(raw, plan, "synthetic", path, chunk_s=45.0)  # 8 chunks
    chunked = np.load(path, mmap_mode="r")
    assert chunked.shape == whole.shape
    assert info["sfreq"] == (256.0 if len(steps) == 5 else SFREQ)
    # Every chunk boundary is covered: the first and last seconds and those around 45 s.
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6 * np.abs(whole).max())
    assert [p.name for p in tmp_path.iterdir()] == ["chunked.npy"]  # temporary files gone


def test_without_margins_the_chunk_edges_would_differ(raw: mne.io.RawArray,
                                                      tmp_path: Path) -> None:
    # The margins matter: filtering each 45-s chunk on its own gives a different signal.
    chain = Preprocessing.from_config(FEMBA_LIKE[1:2])
    plan = chunk_plan(chain, raw)
    assert plan is not None and plan.margin > 0
    whole = chain.apply(raw.copy(), "synthetic").get_data()
    size = round(45 * SFREQ)
    alone = np.concatenate([chain.apply(mne.io.RawArray(
        raw.get_data(start=s, stop=s + size), raw.info, verbose="error"), "x").get_data()
        for s in range(0, raw.n_times, size)], axis=1)
    assert np.abs(alone - whole).max() > 1e-3 * np.abs(whole).max()


@pytest.mark.parametrize("step", [{"step": "resample", "sfreq": 128.0},  # MNE's FFT resample
                                  {"step": "crop", "tmax": 10.0},
                                  {"step": "filter", "l_freq": 1.0, "h_freq": None,
                                   "method": "iir"}])
def test_steps_that_need_the_whole_recording_are_not_chunked(raw: mne.io.RawArray,
                                                             step: dict) -> None:
    assert chunk_plan(Preprocessing.from_config([step]), raw) is None


def test_the_cache_is_written_in_chunks_and_equals_the_plain_windows(
        raw: mne.io.RawArray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tsssm.data.eeg.chunked.CHUNK_S", 45.0)
    recording = [EEGRecording(raw, "night", "s0", 0)]
    plain = EEGWindows.from_recordings(recording, 5.0, preprocessing=FEMBA_LIKE)
    cached = EEGWindows.from_recordings(recording, 5.0, preprocessing=FEMBA_LIKE,
                                        cache_dir=tmp_path)
    assert isinstance(cached._signals[0].data, np.memmap)
    assert len(cached) == len(plain) and cached.sfreq == plain.sfreq == 256.0
    for i in (0, 8, 9, len(plain) - 1):  # 8 and 9: either side of the first chunk boundary
        np.testing.assert_allclose(cached[i][0], plain[i][0], rtol=1e-5, atol=1e-5)


def test_a_flat_channel_is_still_refused_by_robust_scale(raw: mne.io.RawArray,
                                                         tmp_path: Path) -> None:
    data = raw.get_data()
    data[2] = 0.0  # T3 flat for its whole length: T3-T5 and F7-T3 keep some range
    data[3] = 0.0  # T5 too: T3-T5 is now flat
    flat = mne.io.RawArray(data, raw.info, verbose="error")
    plan = chunk_plan(Preprocessing.from_config(FEMBA_LIKE[:1] + FEMBA_LIKE[-1:]), flat)
    assert plan is not None
    with pytest.raises(DataError, match=r"channels \['T3-T5'\] have an interquartile range 0"):
        write_chunked_npy(flat, plan, "synthetic", tmp_path / "x.npy", chunk_s=45.0)
