"""The EEG preprocessing chain: each step does what it says, steps are validated, a chain
survives a round trip through its config, and the FEMBA TUH preset."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from tsssm.data import DataError
from tsssm.data.eeg import (
    FEMBA_TUH,
    TCP_PAIRS,
    Preprocessing,
    Step,
    load_mental_arithmetic,
    preset,
)

SFREQ = 128.0


@pytest.fixture
def raw() -> mne.io.BaseRaw:
    """10 s of bundled mental-arithmetic EEG (19 channels, 128 Hz), in memory."""
    (recording,) = load_mental_arithmetic(subjects=["Subject01"])[:1]
    return recording.raw.copy().crop(0, 10, include_tmax=False).load_data(verbose="error")


def _amplitude(data: np.ndarray, freq: float) -> np.ndarray:
    """Amplitude [C] of the ``freq`` component of ``data`` [C, T] at ``SFREQ``."""
    t = np.arange(data.shape[1]) / SFREQ
    return 2 * np.abs(data @ np.exp(-2j * np.pi * freq * t)) / data.shape[1]


def test_bandpass_attenuates_an_injected_sine(raw):
    sine = 50e-6 * np.sin(2 * np.pi * 45.0 * raw.times)  # 45 Hz, far above the band
    raw.apply_function(lambda x: x + sine)
    before = _amplitude(raw.get_data(), 45.0)
    chain = Preprocessing.from_config([{"step": "filter", "l_freq": 1.0, "h_freq": 30.0}])
    after = _amplitude(chain.apply(raw, "test").get_data(), 45.0)
    assert (before > 40e-6).all()
    assert (after < before / 100).all()


def test_notch_removes_its_frequency_only(raw):
    sines = 50e-6 * (np.sin(2 * np.pi * 50.0 * raw.times) + np.sin(2 * np.pi * 10.0 * raw.times))
    raw.apply_function(lambda x: x + sines)
    before = raw.get_data()
    after = Step("notch_filter", {"freqs": 50.0}).apply(raw, "test").get_data()
    assert (_amplitude(after, 50.0) < _amplitude(before, 50.0) / 20).all()
    kept = _amplitude(after, 10.0) / _amplitude(before, 10.0)
    np.testing.assert_allclose(kept, 1.0, atol=0.02)


def test_resample_changes_sfreq_and_length(raw):
    out = Preprocessing.from_config([{"step": "resample", "sfreq": 64.0}]).apply(raw)
    assert out.info["sfreq"] == 64.0 and out.n_times == 640


def test_robust_scale_gives_median_0_iqr_1(raw):
    data = Step("robust_scale").apply(raw, "test").get_data()
    q25, median, q75 = np.percentile(data, [25, 50, 75], axis=1)
    np.testing.assert_allclose(median, 0.0, atol=1e-9)
    np.testing.assert_allclose(q75 - q25, 1.0, rtol=1e-9)


def test_scale_multiplies_by_a_fixed_factor_and_keeps_relative_amplitude(raw):
    quiet = raw.copy().apply_function(lambda x: x / 3)
    before, before_quiet = raw.get_data(), quiet.get_data()
    loud = Step("scale", {"factor": 1e5}).apply(raw, "test").get_data()
    soft = Step("scale", {"factor": 1e5}).apply(quiet, "test").get_data()
    np.testing.assert_allclose(loud, before * 1e5, rtol=1e-12)
    np.testing.assert_allclose(soft, before_quiet * 1e5, rtol=1e-12)
    # unlike robust_scale, a recording three times quieter stays three times quieter
    np.testing.assert_allclose(np.abs(loud).mean() / np.abs(soft).mean(), 3.0, rtol=1e-9)
    robust = Preprocessing.from_config([{"step": "robust_scale"}])
    ratio = (np.abs(robust.apply(raw.copy()).get_data()).mean()
             / np.abs(robust.apply(quiet.copy()).get_data()).mean())
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-6)


@pytest.mark.parametrize("factor", [0.0, float("nan"), float("inf"), True, "1e5"])
def test_scale_refuses_a_bad_factor(raw, factor):
    with pytest.raises(DataError, match=r"rec\.edf: scale: factor must be a finite non-zero"):
        Step("scale", {"factor": factor}).apply(raw, "rec.edf")


def test_bipolar_montage_names_and_values(raw):
    before = raw.get_data(picks=["Fp1", "F7", "T3"])
    out = Step("bipolar", {"pairs": ["FP1-F7", ["F7", "T3"]]}).apply(raw, "test")
    assert out.ch_names == ["FP1-F7", "F7-T3"]
    np.testing.assert_allclose(out.get_data(), [before[0] - before[1], before[1] - before[2]])


def test_pick_by_name_and_type(raw):
    assert Step("pick_channels", {"channels": ["cz", "FZ"]}).apply(raw.copy(), "t").ch_names == [
        "Cz",
        "Fz",
    ]
    assert len(Step("pick", {"picks": "eeg"}).apply(raw, "t").ch_names) == 19


def test_average_reference(raw):
    out = Step("set_eeg_reference", {"ref_channels": "average"}).apply(raw, "t").get_data()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)


def test_missing_montage_channels_are_named(raw):
    # the mental-arithmetic recordings have no A1/A2 ear electrodes, which the TCP montage uses
    with pytest.raises(DataError, match=r"\['A1', 'A2'\].*bipolar montage"):
        FEMBA_TUH.preprocessing.apply(raw, "Subject01_1.edf")
    with pytest.raises(DataError, match=r"test.edf: channels \['Oz'\]"):
        Step("pick_channels", {"channels": ["Oz"]}).apply(raw, "test.edf")


def test_femba_tuh_preset():
    assert preset("femba_tuh") is FEMBA_TUH
    assert len(TCP_PAIRS) == 22 and TCP_PAIRS[:2] == ("FP1-F7", "F7-T3")
    names = [step["step"] for step in FEMBA_TUH.preprocessing.to_config()]
    assert names == ["bipolar", "filter", "notch_filter", "resample", "robust_scale"]
    assert (FEMBA_TUH.window_s, FEMBA_TUH.stride_s) == (5.0, 5.0)
    with pytest.raises(DataError, match="unknown preprocessing preset"):
        preset("tuh")


def test_femba_tuh_on_a_tuh_like_recording():
    """22 TCP channels at 256 Hz from a synthetic 250-Hz recording with TUH channel names."""
    names = sorted({ch for pair in TCP_PAIRS for ch in pair.split("-")})
    info = mne.create_info([f"EEG {n}-REF" for n in names], 250.0, "eeg")
    data = np.random.default_rng(0).standard_normal((len(names), 2500)) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    chain = Preprocessing.from_config([{"step": "standard_names"}, *FEMBA_TUH.preprocessing.steps])
    out = chain.apply(raw, "tuh")
    assert out.ch_names == list(TCP_PAIRS)
    assert out.info["sfreq"] == 256.0 and out.n_times == 2560


def test_config_round_trip():
    config = [{"step": "filter", "l_freq": 0.5, "h_freq": 40.0}, {"step": "resample", "sfreq": 64}]
    chain = Preprocessing.from_config(config)
    assert chain.to_config() == config
    assert Preprocessing.from_config(json.loads(json.dumps(chain.to_config()))) == chain


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"step": "lowpass"}, "unknown preprocessing step 'lowpass'"),
        ({"step": "filter", "l_freq": 1.0, "hfreq": 40.0}, r"no arguments \['hfreq'\]"),
        ({"step": "filter", "l_freq": 1.0}, "missing a required argument: 'h_freq'"),
        ({"step": "resample", "sfreq": np.float32}, "plain data"),
        ({"l_freq": 1.0}, "needs a 'step' key"),
        ({"step": "scale"}, "missing a required argument: 'factor'"),
    ],
)
def test_bad_steps_are_refused(spec, message):
    with pytest.raises(DataError, match=message):
        Preprocessing.from_config([spec])


def test_failing_step_names_the_recording(raw):
    with pytest.raises(DataError, match=r"rec.edf: step .*'h_freq': 100.0"):
        Step("filter", {"l_freq": None, "h_freq": 100.0}).apply(raw, "rec.edf")
