"""Phase-recognition data: bundled Cholec80 and Sleep-EDF, resampling, features, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from tsssm.data import (
    CHOLEC80_PHASES,
    CHOLEC80_TOOLS,
    DATA_DIR_ENV,
    SLEEP_STAGES,
    ChecksumError,
    DataError,
    PhaseSequence,
    cholec80_split,
    datasets_dir,
    load_cholec80,
    load_sleep_edf,
    segment_progress,
    sleep_edf_split,
    sleep_edf_subject,
)

TOOL_HEADER = "\t".join(["Frame", *CHOLEC80_TOOLS])
# A 6-second video at 1 fps: 3 s Preparation, 2 s CalotTriangleDissection, 1 s ClippingCutting.
PHASES_6S = [CHOLEC80_PHASES[i] for i in (0, 0, 0, 1, 1, 2)]
TOOLS_6S = np.array(
    [[1, 0, 0, 0, 0, 0, 0]] * 3 + [[1, 0, 1, 0, 0, 0, 0]] * 2 + [[0] * 4 + [1, 0, 0]]
)


@pytest.fixture(scope="module")
def cholec80() -> list[PhaseSequence]:
    return load_cholec80()


@pytest.fixture(scope="module")
def sleep() -> list[PhaseSequence]:
    return load_sleep_edf()


def write_phases(path: Path, frames, names) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "Frame\tPhase\n" + "".join(f"{f}\t{n}\n" for f, n in zip(frames, names, strict=True))
    )
    return path


def write_tools(path: Path, frames, rows, header: str = TOOL_HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(map(str, [f, *row])) for f, row in zip(frames, rows, strict=True)]
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def write_video(root: Path, number: int = 1, seconds: int = 6) -> Path:
    """The 1-fps layout of the bundled files, cut to ``seconds``."""
    frames = np.arange(seconds) * 25
    write_phases(root / f"video{number:02d}-phase-1fps.txt", frames, PHASES_6S[:seconds])
    write_tools(root / f"video{number:02d}-tool-1fps.txt", frames, TOOLS_6S[:seconds])
    return root


def data_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1


# --- bundled Cholec80 -----------------------------------------------------------------------


def test_bundled_cholec80_shapes_and_labels(cholec80):
    assert [s.id for s in cholec80] == [f"video{i:02d}" for i in range(1, 49)]
    folder = datasets_dir() / "cholec80"
    for s in cholec80:
        steps = data_lines(folder / f"{s.id}-phase-1fps.txt")  # one line per second
        assert len(s) == steps
        assert s.inputs.shape == (steps, 7) and s.inputs.dtype == torch.float32
        assert s.labels.dtype == torch.int64 and s.fps == 1.0
        assert s.input_names == CHOLEC80_TOOLS
    labels = torch.cat([s.labels for s in cholec80])
    assert labels.min() == 0 and labels.max() == len(CHOLEC80_PHASES) - 1
    assert sum(len(s) for s in cholec80) == 107_741


def test_bundled_cholec80_values_match_the_files(cholec80):
    video = cholec80[0]
    folder = datasets_dir() / "cholec80"
    tools = pl.read_csv(folder / "video01-tool-1fps.txt", separator="\t")
    assert np.array_equal(video.inputs.numpy(), tools.drop("Frame").to_numpy())
    phases = pl.read_csv(folder / "video01-phase-1fps.txt", separator="\t")["Phase"].to_list()
    assert [CHOLEC80_PHASES[i] for i in video.labels] == phases


def test_progress_resets_at_phase_changes(cholec80):
    for s in cholec80:
        progress, labels = s.progress.numpy(), s.labels.numpy()
        assert progress.min() >= 0 and progress.max() <= 1
        change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        assert np.all(progress[change] == 0) and np.all(progress[change - 1] == 1)
        assert progress[0] == 0 and progress[-1] == 1
        assert s.video_progress[0] == 0 and s.video_progress[-1] == 1
        assert torch.all(s.video_progress.diff() > 0)


def test_segment_progress_by_hand():
    progress = segment_progress(np.array([4, 4, 4, 1, 2, 2]))
    assert progress.dtype == np.float32
    assert progress.tolist() == [0.0, 0.5, 1.0, 0.0, 0.0, 1.0]


def test_resample_bundled_to_half_fps(cholec80):
    half = load_cholec80(videos=[1, "video02"], fps=0.5)
    for slow, full in zip(half, cholec80[:2], strict=True):
        assert slow.fps == 0.5 and len(slow) == (len(full) - 1) // 2 + 1
        assert torch.equal(slow.labels, full.labels[::2])
        assert torch.equal(slow.inputs, full.inputs[::2])


def test_cholec80_default_split(cholec80):
    train, val, test = cholec80_split(cholec80)
    assert [s.id for s in val] == [f"video{i}" for i in range(33, 41)]
    assert [s.id for s in test] == [f"video{i}" for i in range(41, 49)]
    assert len(train) == 32
    with pytest.raises(DataError, match=r"\[5\] are in both train and test"):
        cholec80_split(cholec80, train=range(1, 6), val=(), test=range(5, 9))
    with pytest.raises(DataError, match="no loaded sequence belongs to the val videos"):
        cholec80_split(cholec80, val=[99])


# --- annotation files of other rates and layouts --------------------------------------------


def test_original_25fps_phase_file(tmp_path):
    # Frame per video frame (25 fps), in the original sub-folder layout; phase change at 60.
    frames = np.arange(130)
    names = [CHOLEC80_PHASES[0]] * 60 + [CHOLEC80_PHASES[1]] * 70
    write_phases(tmp_path / "phase_annotations" / "video07-phase.txt", frames, names)
    tools = np.eye(7, dtype=int)[:6]
    write_tools(tmp_path / "tool_annotations" / "video07-tool.txt", np.arange(6) * 25, tools)

    (one,) = load_cholec80(tmp_path)
    assert one.id == "video07" and len(one) == 6  # frames 0, 25, ..., 125
    assert one.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(one.inputs.numpy(), tools)

    (two,) = load_cholec80(tmp_path, fps=2.0)  # frames 0, 12.5, ..., 125
    assert len(two) == 11 and two.labels.tolist() == [0] * 5 + [1] * 6
    assert np.array_equal(two.inputs.numpy(), tools[np.arange(11) // 2])


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".parquet"])
def test_features_from_files(tmp_path, suffix):
    root = write_video(tmp_path / "labels")
    features = np.arange(6 * 3, dtype=np.float64).reshape(6, 3)
    path = tmp_path / "features" / f"video01{suffix}"
    path.parent.mkdir()
    if suffix == ".npy":
        np.save(path, features)
    elif suffix == ".npz":
        np.savez(path, features=features, other=np.zeros(2))
    else:
        pl.DataFrame(features, schema=["a", "b", "c"]).write_parquet(path)
    names = ["a", "b", "c"] if suffix == ".parquet" else ["feature_0", "feature_1", "feature_2"]

    (only,) = load_cholec80(root, inputs="features", features_dir=path.parent)
    assert only.input_names == tuple(names)
    assert np.array_equal(only.inputs.numpy(), features)
    (both,) = load_cholec80(root, inputs="both", features_dir=path.parent)
    assert both.input_names == (*CHOLEC80_TOOLS, *names)
    assert np.array_equal(both.inputs.numpy(), np.c_[TOOLS_6S, features])


def test_features_at_another_rate(tmp_path):
    root = write_video(tmp_path)
    features = np.arange(11, dtype=np.float32)[:, None]  # 2 fps over the 6 seconds
    np.save(tmp_path / "video01.npy", features)
    (video,) = load_cholec80(root, inputs="features", features_dir=tmp_path, features_fps=2)
    assert video.inputs[:, 0].tolist() == [0, 2, 4, 6, 8, 10]


def test_feature_length_mismatch(tmp_path):
    root = write_video(tmp_path)
    np.save(tmp_path / "video01.npy", np.zeros((16, 4)))
    with pytest.raises(DataError, match=r"video01\.npy has 16 frames .* have 6 samples"):
        load_cholec80(root, inputs="features", features_dir=tmp_path)


# --- bad input ------------------------------------------------------------------------------


def test_unknown_phase_name(tmp_path):
    write_video(tmp_path)
    write_phases(tmp_path / "video01-phase-1fps.txt", [0, 25, 50], ["Preparation", "Lunch", "x"])
    message = r"video01-phase-1fps\.txt, line 3: unknown phase 'Lunch'; known phases: \['Prep"
    with pytest.raises(DataError, match=message):
        load_cholec80(tmp_path)


def test_frames_out_of_order(tmp_path):
    write_video(tmp_path)
    write_phases(tmp_path / "video01-phase-1fps.txt", [0, 50, 25], PHASES_6S[:3])
    with pytest.raises(DataError, match=r"line 4: frame 25 is not after frame 50 on line 3"):
        load_cholec80(tmp_path)


def test_tool_and_phase_lengths_differ(tmp_path):
    write_video(tmp_path)
    write_tools(tmp_path / "video01-tool-1fps.txt", [0, 25], TOOLS_6S[:2])
    with pytest.raises(DataError, match=r"covers 2 samples at 1 fps but .* covers 6"):
        load_cholec80(tmp_path)
    write_tools(tmp_path / "video01-tool-1fps.txt", [0, 25, 50, 75], TOOLS_6S[:4])
    (video,) = load_cholec80(tmp_path)  # within the tolerance: the last sample is held
    assert np.array_equal(video.inputs.numpy(), TOOLS_6S[[0, 1, 2, 3, 3, 3]])


def test_wrong_tool_columns(tmp_path):
    write_video(tmp_path)
    header = "\t".join(["Frame", *CHOLEC80_TOOLS[:6]])
    write_tools(tmp_path / "video01-tool-1fps.txt", [0], [[0] * 6], header=header)
    with pytest.raises(DataError, match="6 tool columns after 'Frame', expected 7"):
        load_cholec80(tmp_path)
    write_tools(tmp_path / "video01-tool-1fps.txt", [0, 25], [[0] * 7, [0, 2, 0, 0, 0, 0, 0]])
    with pytest.raises(DataError, match=r"line 3: tool 'Bipolar' is '2', not 0 or 1"):
        load_cholec80(tmp_path)


def test_missing_files(tmp_path):
    write_video(tmp_path)
    with pytest.raises(DataError, match=r"no annotation files for video02 .* videos found: \[1\]"):
        load_cholec80(tmp_path, videos=[2])
    with pytest.raises(DataError, match="no feature file for video01"):
        load_cholec80(tmp_path, inputs="features", features_dir=tmp_path)
    (tmp_path / "video01-tool-1fps.txt").unlink()
    with pytest.raises(DataError, match=r"no tool file for video01 .* video01-tool\*\.txt"):
        load_cholec80(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_cholec80(tmp_path / "nowhere")


def test_bad_feature_files(tmp_path):
    write_video(tmp_path)
    np.savez(tmp_path / "video01.npz", a=np.zeros((6, 2)), b=np.zeros((6, 2)))
    with pytest.raises(DataError, match=r"holds the arrays \['a', 'b'\]"):
        load_cholec80(tmp_path, inputs="features", features_dir=tmp_path)
    np.save(tmp_path / "video01.npy", np.zeros((6, 2)))
    with pytest.raises(DataError, match="several feature files"):
        load_cholec80(tmp_path, inputs="features", features_dir=tmp_path)


def test_bad_options(tmp_path):
    with pytest.raises(DataError, match="unknown inputs 'video'"):
        load_cholec80(inputs="video")
    with pytest.raises(DataError, match="needs features_dir"):
        load_cholec80(inputs="both")
    with pytest.raises(DataError, match="must be positive"):
        load_cholec80(fps=0)


# --- checksums ------------------------------------------------------------------------------


def copy_bundled(target: Path, folder: str, files: list[str]) -> Path:
    for name in ["SHA256SUMS", *files]:
        (target / folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(datasets_dir() / folder / name, target / folder / name)
    return target / folder


def test_modified_bundled_file_is_rejected(tmp_path, monkeypatch):
    files = ["video01-phase-1fps.txt", "video01-tool-1fps.txt"]
    folder = copy_bundled(tmp_path, "cholec80", files)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert len(load_cholec80(videos=[1])[0]) == 1733  # the unmodified copy loads
    phase = folder / files[0]
    phase.write_text(phase.read_text().replace("GallbladderRetraction", "CleaningCoagulation"))
    with pytest.raises(ChecksumError, match=re.escape(str(phase))):
        load_cholec80(videos=[1])
    sums = folder / "SHA256SUMS"
    sums.write_text(sums.read_text() + "\n")
    with pytest.raises(ChecksumError, match="SHA256SUMS has sha256"):
        load_cholec80(videos=[1])


def test_modified_sleep_file_is_rejected(tmp_path, monkeypatch):
    folder = copy_bundled(tmp_path, "sleep_edf", ["features/SC4011E0.npz"])
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    path = folder / "features" / "SC4011E0.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"SC4011E0\.npz has sha256"):
        load_sleep_edf(nights=["SC4011E0"])


# --- Sleep-EDF ------------------------------------------------------------------------------


def test_bundled_sleep_edf(sleep):
    assert len(sleep) == 14 and sleep[0].id == "SC4001E0"
    for night in sleep:
        assert night.inputs.shape == (len(night), 72) and night.inputs.dtype == torch.float32
        assert night.labels.min() >= 0 and night.labels.max() < len(SLEEP_STAGES)
        assert night.fps == pytest.approx(1 / 30)
        assert night.progress.min() >= 0 and night.progress.max() <= 1
    assert sum(len(n) for n in sleep) == 36_872
    assert len(load_sleep_edf(nights=["SC4011E0"])[0]) == 951


def test_sleep_split_by_subject(sleep):
    train, val, test = sleep_edf_split(sleep)
    subjects = [{sleep_edf_subject(n.id) for n in part} for part in (train, val, test)]
    assert subjects == [{0, 1, 2, 3, 4}, {5}, {6}]
    assert len(train) + len(val) + len(test) == 14
    with pytest.raises(DataError, match=r"subjects \[4\] are in both train and val"):
        sleep_edf_split(sleep, train=range(5), val=(4, 5))
    assert sleep_edf_subject("SC4121E0") == 12
    with pytest.raises(DataError, match="not a Sleep-EDF sleep-cassette night id"):
        sleep_edf_subject("ST7011J0")


def test_bad_sleep_files(tmp_path):
    np.savez(tmp_path / "SC4991E0.npz", X=np.zeros((5, 72)), y=np.zeros(4, dtype=np.int64))
    with pytest.raises(DataError, match=r"X has shape \(5, 72\) and y \(4,\)"):
        load_sleep_edf(tmp_path)
    np.savez(tmp_path / "SC4991E0.npz", X=np.zeros((2, 72)), y=np.array([0, 7]))
    with pytest.raises(DataError, match="epoch 1 has stage 7"):
        load_sleep_edf(tmp_path)
    np.savez(tmp_path / "SC4991E0.npz", X=np.zeros((2, 72)))
    with pytest.raises(DataError, match="expected the arrays 'X' and 'y'"):
        load_sleep_edf(tmp_path)
    with pytest.raises(DataError, match=r"nights \['SC4001E0'\] not found"):
        load_sleep_edf(tmp_path, nights=["SC4001E0"])
