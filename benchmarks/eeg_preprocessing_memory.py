"""Peak memory of preprocessing a long EEG recording into the window cache: in bounded chunks
(``tsssm.data.eeg.chunked``, the default with ``cache_dir``) against the whole-recording path
(``--whole``: the chain run on the loaded recording, as before chunking existed).

The recording is synthetic (5 electrodes at 250 Hz: noise, a slow drift, 10 and 60 Hz lines),
written as a FIF file and read from disk unloaded. The chain is FEMBA's TUH preparation on 4
bipolar pairs, with scipy's polyphase resampler (MNE's default FFT resampler needs the whole
recording): bipolar, 0.1-75 Hz, 60 Hz notch, 256 Hz, robust_scale. Peak memory is the peak
resident set above what the process held once the file was written (``peak_memory.py``).

    python benchmarks/eeg_preprocessing_memory.py [--hours 1 10] [--whole]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mne
import numpy as np
from peak_memory import peak_memory_mib

import tsssm.data.eeg.windows as windows  # imported here, so outside the measured work
from tsssm.data.eeg import EEGRecording, EEGWindows

SFREQ, NAMES = 250.0, ["FP1", "F7", "T3", "T5", "O1"]
CHAIN = [
    {"step": "bipolar", "pairs": ["FP1-F7", "F7-T3", "T3-T5", "T5-O1"]},
    {"step": "filter", "l_freq": 0.1, "h_freq": 75.0},
    {"step": "notch_filter", "freqs": 60.0},
    {"step": "resample", "sfreq": 256.0, "method": "polyphase"},
    {"step": "robust_scale"},
]


def setup(hours: float, folder: str, whole: bool) -> tuple[Path, Path, bool]:
    """Write the synthetic recording (one hour at a time) as FIF; its path and a cache."""
    rng = np.random.default_rng(0)
    parts = []
    for hour in range(int(np.ceil(hours))):
        n = round(min(1.0, hours - hour) * 3600 * SFREQ)
        t = (hour * 3600 * SFREQ + np.arange(n)) / SFREQ
        data = (rng.standard_normal((len(NAMES), n)) + 3 * np.sin(2 * np.pi * 0.05 * t)
                + np.sin(2 * np.pi * 10 * t) + 0.5 * np.sin(2 * np.pi * 60 * t)) * 1e-5
        parts.append(mne.io.RawArray(data, mne.create_info(NAMES, SFREQ, "eeg"),
                                     verbose="error"))
    raw = mne.concatenate_raws(parts, verbose="error") if len(parts) > 1 else parts[0]
    raw.annotations.delete(range(len(raw.annotations)))  # no "edge" marks between hours
    path = Path(folder) / "night_raw.fif"
    raw.save(path, fmt="single", split_size="2GB", overwrite=True, verbose="error")
    del raw, parts
    cache = Path(folder) / "cache"
    cache.mkdir()
    return path, cache, whole


def work(prepared: tuple[Path, Path, bool]) -> None:
    path, cache, whole = prepared
    if whole:  # the whole-recording path: the chain on the loaded recording
        windows.chunk_plan = lambda *args: None
    raw = mne.io.read_raw_fif(path, preload=False, verbose="error")
    start = time.perf_counter()
    EEGWindows.from_recordings([EEGRecording(raw, "night", "s0", 0)], 5.0,
                               preprocessing=CHAIN, cache_dir=cache)
    print(f"  {time.perf_counter() - start:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--whole", action="store_true",
                        help="preprocess the whole recording at once (no chunks)")
    args = parser.parse_args()
    for hours in args.hours:
        with tempfile.TemporaryDirectory() as folder:
            mib = peak_memory_mib(setup, work, hours, folder, args.whole)
        print(f"{hours:g} h, {'whole recording' if args.whole else 'chunks'}: "
              f"peak {mib:.0f} MiB above the baseline", flush=True)


if __name__ == "__main__":
    main()
