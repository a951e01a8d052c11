"""Preprocessing a long recording in bounded chunks, straight into the cache's ``.npy`` file,
so that memory stays flat in the recording's duration.

A chain can be run in chunks when every step either acts on each sample alone (channel
picks, montages, references without projection, ``scale``), or is an FIR filter
(``filter``/``notch_filter`` with MNE's default ``method="fir"``), or ``resample`` with
``method="polyphase"`` (scipy's FIR polyphase resampler; at most one), with ``robust_scale``
allowed as the last step. Each chunk of ``chunk_s`` seconds is read with a margin of every
filter's length on both sides (through ``Raw.get_data``, so an unloaded recording is read
from disk one chunk at a time), run through the chain with MNE, and trimmed back to its own
samples: inside the recording a FIR output sample depends only on input samples within the
filter's length, and at the recording's two ends the chunk has the recording's own ends, so
MNE pads them exactly as on the whole recording. ``robust_scale`` needs each channel's
quartiles over the whole recording: the chain before it is written one file per channel, each
channel's quartiles are computed from its file alone (memory: one channel), and a last pass
scales and writes the cache. Anything else (``crop``, an IIR filter, MNE's default FFT
``resample``, a resample of a recording with annotations, whose onsets would need the
resampled sample grid) returns None from :func:`chunk_plan`: the recording is then
preprocessed whole, as without a cache.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mne
import numpy as np

from .preprocessing import Preprocessing, Step

CHUNK_S = 300.0  # seconds of recording per chunk
# Steps that act on every sample alone (no time context).
SAMPLEWISE = ("pick", "drop_channels", "pick_channels", "bipolar", "standard_names", "scale",
              "set_eeg_reference")


@dataclass(frozen=True)
class ChunkPlan:
    """How to run a chain in chunks: the steps before any ``robust_scale``, the margin
    (input samples) each chunk reads on both sides, the output/input rate ``ratio``, the
    alignment ``unit`` (input samples; chunk starts are multiples of it so that they fall on
    output samples) and whether ``robust_scale`` ends the chain."""

    steps: Preprocessing
    margin: int
    ratio: Fraction
    unit: int
    robust: bool


def chunk_plan(preprocessing: Preprocessing, raw: mne.io.BaseRaw) -> ChunkPlan | None:
    """The :class:`ChunkPlan` of ``preprocessing`` on ``raw``, or None when the chain cannot
    be run in chunks (see the module docstring)."""
    steps = list(preprocessing.steps)
    robust = bool(steps) and steps[-1].name == "robust_scale"
    if robust:
        steps = steps[:-1]
    sfreq, ratio, margin_s = float(raw.info["sfreq"]), Fraction(1), 0.0
    for step in steps:
        if step.name in SAMPLEWISE:
            if step.name == "set_eeg_reference" and step.kwargs.get("projection", False):
                return None
            continue
        if step.name in ("filter", "notch_filter"):
            length = _fir_length(step, sfreq)
            if length is None:
                return None
            margin_s += length / sfreq
        elif step.name == "resample" and step.kwargs.get("method") == "polyphase":
            if ratio != 1 or len(raw.annotations):
                return None
            new = float(step.kwargs["sfreq"])
            ratio = Fraction(new).limit_denominator(10**6) / Fraction(sfreq).limit_denominator(
                10**6)
            # scipy's polyphase filter: 10 * max(up, down) taps on each side, upsampled.
            margin_s += 2 * 10 * max(ratio.numerator, ratio.denominator) / (
                ratio.numerator * sfreq)
            sfreq = new
        else:
            return None
    unit = ratio.denominator
    margin = math.ceil(margin_s * float(raw.info["sfreq"]) / unit + 1) * unit
    return ChunkPlan(Preprocessing(tuple(steps)), margin, ratio, unit, robust)


def _fir_length(step: Step, sfreq: float) -> int | None:
    """Taps of the FIR filter of a ``filter`` / ``notch_filter`` step (MNE's own design,
    through ``mne.filter.create_filter``); None for an IIR or spectrum-fit filter."""
    kwargs = dict(step.kwargs)
    if kwargs.get("method", "fir") != "fir":
        return None
    design = {key: kwargs[key] for key in ("filter_length", "phase", "fir_window", "fir_design")
              if key in kwargs}
    if step.name == "filter":
        l_freq, h_freq = kwargs.get("l_freq"), kwargs.get("h_freq")
        design.update({key: kwargs[key] for key in ("l_trans_bandwidth", "h_trans_bandwidth")
                       if key in kwargs})
    else:  # notch_filter: the band-stop MNE builds from freqs, notch_widths, trans_bandwidth
        freqs = np.atleast_1d(np.asarray(kwargs["freqs"], dtype=np.float64))
        widths = np.broadcast_to(np.asarray(kwargs.get("notch_widths") or freqs / 200.0,
                                            dtype=np.float64), freqs.shape)
        half = kwargs.get("trans_bandwidth", 1.0) / 2.0
        h_freq = list(freqs - widths / 2.0 - half)
        l_freq = list(freqs + widths / 2.0 + half)
        design.update(l_trans_bandwidth=half, h_trans_bandwidth=half)
    taps = mne.filter.create_filter(None, sfreq, l_freq, h_freq, method="fir",
                                    verbose="error", **design)
    return len(taps)


def _chunks(plan: ChunkPlan, n_times: int, chunk_s: float, sfreq: float
            ) -> Iterator[tuple[int, int, int, int]]:
    """(read_start, read_stop, start, stop) input samples of every chunk: its own samples
    ``start..stop-1`` and the samples read around them."""
    size = max(plan.unit, round(chunk_s * sfreq) // plan.unit * plan.unit)
    for start in range(0, n_times, size):
        stop = min(start + size, n_times)
        yield max(0, start - plan.margin), min(n_times, stop + plan.margin), start, stop


def processed_chunks(raw: mne.io.BaseRaw, plan: ChunkPlan, source: str,
                     chunk_s: float = CHUNK_S) -> Iterator[tuple[np.ndarray, mne.Info]]:
    """The chain of ``plan`` (``robust_scale`` left out) over ``raw``, chunk after chunk:
    float64 [C', t] blocks that, concatenated along time, are the whole recording's output,
    each with the output's ``info``."""
    sfreq = float(raw.info["sfreq"])
    for read_start, read_stop, start, stop in _chunks(plan, raw.n_times, chunk_s, sfreq):
        part = mne.io.RawArray(raw.get_data(start=read_start, stop=read_stop), raw.info.copy(),
                               verbose="error")
        part = plan.steps.apply(part, source)
        data = part.get_data()
        first = int((start - read_start) * plan.ratio)
        last = data.shape[1] if stop == raw.n_times else int((stop - read_start) * plan.ratio)
        yield data[:, first:last], part.info


def write_chunked_npy(raw: mne.io.BaseRaw, plan: ChunkPlan, source: str, path: Path,
                      chunk_s: float | None = None) -> mne.Info:
    """Run ``plan`` over ``raw`` in chunks of ``chunk_s`` seconds (default
    :data:`CHUNK_S`) into ``path`` (a float32 [C, T] ``.npy``, Fortran order, written through
    a private temporary file and renamed); returns the output's ``info`` (channels, rate)."""
    chunk_s = chunk_s or CHUNK_S
    work = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        if plan.robust:
            info, columns = _write_robust(raw, plan, source, work, chunk_s)
        else:
            columns, info = work / "data", None
            with open(columns, "wb") as file:
                for block, chunk_info in processed_chunks(raw, plan, source, chunk_s):
                    info = chunk_info
                    file.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
        assert info is not None
        _npy_from_columns(columns, len(info["ch_names"]), path)
        return info
    finally:
        for file in work.iterdir():
            file.unlink()
        work.rmdir()


def _write_robust(raw: mne.io.BaseRaw, plan: ChunkPlan, source: str, work: Path,
                  chunk_s: float) -> tuple[mne.Info, Path]:
    """The chain, then ``robust_scale`` (see ``preprocessing.robust_scale``) from one file per
    channel: returns the info and a file of float32 samples, time-major ([T, C] rows)."""
    from .preprocessing import check_iqr, robust_statistics

    info, files = None, []
    for block, chunk_info in processed_chunks(raw, plan, source, chunk_s):
        info = chunk_info
        if not files:
            files = [open(work / f"channel{c}", "wb") for c in range(len(block))]  # noqa: SIM115
        for file, channel in zip(files, block, strict=True):
            file.write(channel.tobytes())
    for file in files:
        file.close()
    assert info is not None
    # One channel in memory at a time: [1, T] float64 each, partitioned in place.
    statistics = [robust_statistics(np.fromfile(work / f"channel{c}")[None], overwrite=True)
                  for c in range(len(files))]
    median = np.concatenate([m for m, _ in statistics])  # [C, 1]
    iqr = np.concatenate([i for _, i in statistics])
    check_iqr(info["ch_names"], iqr, source)
    n_times = (work / "channel0").stat().st_size // 8
    step = max(1, round(chunk_s * info["sfreq"]))
    columns = work / "data"
    with open(columns, "wb") as out:
        for start in range(0, n_times, step):
            count = min(step, n_times - start)
            block = np.stack([np.fromfile(work / f"channel{c}", count=count, offset=start * 8)
                              for c in range(len(files))])  # [C, t]
            scaled = (block - median) / iqr
            out.write(np.ascontiguousarray(scaled.T, dtype=np.float32).tobytes())
    return info, columns


def _npy_from_columns(columns: Path, n_chans: int, path: Path) -> None:
    """``path`` (.npy, float32 [C, T], Fortran order) from ``columns``, the raw float32
    samples time-major; copied in blocks, through a temporary file renamed at the end."""
    n_times = columns.stat().st_size // (4 * n_chans)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out, open(columns, "rb") as data:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                      "fortran_order": True, "shape": (n_chans, n_times)}
            np.lib.format.write_array_header_1_0(out, header)
            while block := data.read(2**24):
                out.write(block)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
