"""Rebuild the bundled EEG data (``datasets/eeg/``) from fuller copies of the three data sets.

Usage (from the repository root)::

    .venv/bin/python datasets/eeg/make_bundle.py --source /work/shared/data/eeg

``--source`` holds ``mental_arithmetic/`` (PhysioNet eegmat ``SubjectNN_{1,2}.edf``),
``bonn/{Z,O,N,F,S}/`` (the Bonn text segments) and ``eegmmidb/`` (PhysioNet EEGMMIDB
``S001Rxx.edf``). What is kept, and why, is written in each folder's README.md:

- mental_arithmetic: the 19 EEG channels of subjects 00-07, resampled from 500 to 128 Hz
  (polyphase FIR, anti-aliased) and written as EDF with ``mne.export.export_raw``; the rest
  recording is cropped to its last 62 s, the length of the counting recording. Writing EDF
  needs the ``edfio`` package, which only this script uses.
- bonn: every segment of the five sets, copied byte for byte.
- eegmmidb: run R04 of subject S001 (imagined left vs right fist), copied byte for byte.

Each folder gets a ``SHA256SUMS`` (``sha256sum -c`` format); the script prints the sha256 of
each ``SHA256SUMS``, to be recorded in ``tsssm/data/_bundled.py`` (``BUNDLED_FOLDER_SHA256``).
Tests never run this script.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import mne

HERE = Path(__file__).resolve().parent
MA_SUBJECTS = range(8)
MA_SFREQ = 128.0
MA_SECONDS = 62.0  # length of every counting recording; rest recordings are cropped to it
BONN_SETS = ("Z", "O", "N", "F", "S")
EEGMMIDB_RUNS = ("S001R04.edf",)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_sums(folder: Path) -> str:
    """Write ``folder/SHA256SUMS`` over every data file (not README.md); return its sha256."""
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name not in {"SHA256SUMS", "README.md"}
    )
    lines = [f"{_sha256(p)}  ./{p.relative_to(folder).as_posix()}\n" for p in files]
    sums = folder / "SHA256SUMS"
    sums.write_text("".join(lines))
    return _sha256(sums)


def _fresh(folder: Path) -> Path:
    """Empty ``folder`` of data files (its README.md stays)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.name == "README.md":
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return folder


def mental_arithmetic(source: Path, target: Path) -> None:
    """19 EEG channels at 128 Hz, 62 s per recording (the last 62 s of rest)."""
    for subject in MA_SUBJECTS:
        for part in (1, 2):
            name = f"Subject{subject:02d}_{part}.edf"
            raw = mne.io.read_raw_edf(source / name, preload=True, verbose="error")
            eeg = [ch for ch in raw.ch_names if ch.startswith("EEG ") and "-" not in ch]
            if len(eeg) != 19:
                raise SystemExit(f"{source / name}: expected 19 EEG channels, found {eeg}")
            raw.pick(eeg)
            duration = raw.n_times / raw.info["sfreq"]
            # The last MA_SECONDS: tmax is exclusive of the sample at the end.
            raw.crop(tmin=duration - MA_SECONDS, tmax=None)
            raw.resample(MA_SFREQ, method="polyphase", verbose="error")
            mne.export.export_raw(
                target / name, raw, physical_range="channelwise", overwrite=True, verbose="error"
            )


def bonn(source: Path, target: Path) -> None:
    """All five sets, unchanged (N keeps its upper-case .TXT extension)."""
    for letter in BONN_SETS:
        (target / letter).mkdir()
        for path in sorted((source / letter).iterdir()):
            shutil.copyfile(path, target / letter / path.name)


def eegmmidb(source: Path, target: Path) -> None:
    """Run(s) ``EEGMMIDB_RUNS``, unchanged."""
    for name in EEGMMIDB_RUNS:
        shutil.copyfile(source / name, target / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="fuller copies, e.g. "
                        "/work/shared/data/eeg")
    args = parser.parse_args()
    builders = {"mental_arithmetic": mental_arithmetic, "bonn": bonn, "eegmmidb": eegmmidb}
    for name, build in builders.items():
        target = _fresh(HERE / name)
        build(args.source / name, target)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"eeg/{name}: SHA256SUMS sha256 {_write_sums(target)}, {size} bytes")


if __name__ == "__main__":
    main()
