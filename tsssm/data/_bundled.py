"""The data sets bundled with tsssm: ``datasets/`` of the source checkout, or its copy inside
an installed wheel (``tsssm.resources``).

Tests and examples use only these files; nothing is downloaded. Each file is checked against
the sha256 recorded here before it is used (once per process and file version).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tsssm.resources import resource_dir

from .series import DataError

__all__ = [
    "BUNDLED_FOLDER_SHA256",
    "BUNDLED_SHA256",
    "DATA_DIR_ENV",
    "BundledFolder",
    "ChecksumError",
    "bundled_dataset",
    "bundled_folder",
    "check_sha256",
    "datasets_dir",
    "file_sha256",
    "verified_path",
]

DATA_DIR_ENV = "TSSSM_DATA_DIR"
SUMS_FILE = "SHA256SUMS"  # the checksum list of a bundled folder
BUNDLED_SHA256 = {
    # ETDataset, CC BY-ND 4.0: bundled unmodified; see datasets/ETTh1.md.
    "ETTh1.csv": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
}
# Bundled folders: the sha256 of each folder's SHA256SUMS, which lists every file's sha256
# (checked by tsssm.data.phase.bundled_folder). Not in BUNDLED_SHA256, whose names the
# forecasting recipes accept as data sets.
BUNDLED_FOLDER_SHA256 = {
    # Cholec80 phase and tool labels, videos 01-48, CC BY-NC-SA 4.0; see datasets/cholec80/.
    "cholec80": "23ecc872b5b899381917258ffa1356a6c2168a8eab6dae74815906b1c89f0e10",
    # Sleep-EDF Expanded features and hypnograms, 14 nights, ODC-By 1.0; see datasets/sleep_edf/.
    "sleep_edf": "4f7428ad85b5574012754c48e82ad8be2c3617ce3ff0278b9e09b6d4b1b14fd7",
    # EEG (tsssm.data.eeg); built by datasets/eeg/make_bundle.py, see each folder's README.md.
    # Mental arithmetic, 8 subjects, 19 ch resampled to 128 Hz, ODC-By 1.0.
    "eeg/mental_arithmetic": "d42f2378af6f1a42781f66a59b6bdff3bbbc83566cbbfd85e1601fa24061d370",
    # Bonn epilepsy segments, all 5 x 100, unchanged; research use, cite Andrzejak et al. 2001.
    "eeg/bonn": "e9a15f2b49eb51deac80103ded86956cabdd94df284e726bc78fcb3099a28d25",
    # EEGMMIDB subject S001 run R04, unchanged, ODC-By 1.0.
    "eeg/eegmmidb": "54e0b0dc9c0713f0fdb574780fbbf06641185edf36dd6af905db74afb3310467",
    # UCR archive ECG200 train and test, free for research (cite the archive); datasets/ucr/.
    "ucr": "0ad939eccb343a2c78062adc15bbc24ff8e5165871db74e63c6a459f78f90c5e",
}


class ChecksumError(DataError):
    """A bundled file whose content is not the one recorded in ``BUNDLED_SHA256``."""


def datasets_dir() -> Path:
    """``$TSSSM_DATA_DIR`` when set, else the bundled ``datasets/`` (of the installed package,
    or of the source checkout)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return resource_dir("datasets")


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of ``path``; size and mtime are part of the cache key, so edits are noticed."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 (hex) of the file at ``path``, computed once per process and file version."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def check_sha256(path: Path, expected: str, what_went_wrong: str) -> None:
    """Raise :class:`ChecksumError` naming ``path`` unless its sha256 is ``expected``."""
    actual = file_sha256(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} has sha256 {actual}, expected {expected}: {what_went_wrong}; restore the "
            "unmodified data (see datasets/README.md)"
        )


def bundled_dataset(name: str) -> Path:
    """Path of the bundled data set ``name`` ("ETTh1" or "ETTh1.csv"), checksum verified.

    Raises:
        DataError: unknown name, or the file is missing.
        ChecksumError: the file differs from the bundled one.
    """
    filename = name if name.endswith(".csv") else f"{name}.csv"
    if filename not in BUNDLED_SHA256:
        known = sorted(n.removesuffix(".csv") for n in BUNDLED_SHA256)
        raise DataError(f"no bundled data set {name!r}; bundled: {known}")
    folder = datasets_dir()
    path = folder / filename
    where = f"${DATA_DIR_ENV}={folder}" if os.environ.get(DATA_DIR_ENV) else str(folder)
    if not path.is_file():
        raise DataError(
            f"bundled data set {filename} not found in {where}: it ships with tsssm (datasets/ "
            f"of the source checkout, tsssm/_data/datasets/ of a wheel); reinstall tsssm, or "
            f"set {DATA_DIR_ENV} to a folder holding an unmodified copy (sha256 "
            f"{BUNDLED_SHA256[filename]})"
        )
    check_sha256(path, BUNDLED_SHA256[filename], "the file was modified or truncated")
    return path


@dataclass(frozen=True)
class BundledFolder:
    """A bundled data folder whose ``SHA256SUMS`` matches the sha256 recorded in
    ``tsssm/data/_bundled.py``; every file read through ``path`` is checked against it."""

    root: Path
    sums: dict[str, str]  # path relative to root (posix) -> sha256

    def path(self, relative: str) -> Path:
        """The verified file ``root/relative``.

        Raises:
            DataError: the file is not part of the bundled data, or is missing.
            ChecksumError: its content differs from the bundled one.
        """
        if relative not in self.sums:
            raise DataError(f"{relative} is not listed in {self.root / SUMS_FILE}")
        path = self.root / relative
        if not path.is_file():
            raise DataError(f"bundled file {path} is missing (listed in {SUMS_FILE})")
        check_sha256(path, self.sums[relative], "the file was modified or truncated")
        return path


def bundled_folder(name: str) -> BundledFolder:
    """The bundled data folder ``datasets/<name>/``, its ``SHA256SUMS`` verified.

    Raises:
        DataError: unknown name, or the folder or its ``SHA256SUMS`` is missing.
        ChecksumError: ``SHA256SUMS`` differs from the one recorded in ``_bundled.py``.
    """
    if name not in BUNDLED_FOLDER_SHA256:
        known = sorted(BUNDLED_FOLDER_SHA256)
        raise DataError(f"no bundled data folder {name!r}; bundled: {known}")
    root = datasets_dir() / name
    sums = root / SUMS_FILE
    if not sums.is_file():
        raise DataError(
            f"bundled data folder {root} (or its {SUMS_FILE}) not found: it ships with tsssm "
            f"(datasets/ of the source checkout, tsssm/_data/datasets/ of a wheel); reinstall "
            f"tsssm, set {DATA_DIR_ENV} to a folder holding an unmodified copy, or pass root= "
            "to read your own copy"
        )
    check_sha256(sums, BUNDLED_FOLDER_SHA256[name], "the folder's checksum list was modified")
    return BundledFolder(root, _read_sums(str(sums), BUNDLED_FOLDER_SHA256[name]))


def verified_path(bundle: BundledFolder | None, path: Path) -> Path:
    """``path``, checked against ``bundle``'s checksums when it is a bundled file."""
    return path if bundle is None else bundle.path(path.relative_to(bundle.root).as_posix())


@functools.lru_cache(maxsize=8)
def _read_sums(path: str, sha256: str) -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256} (``sha256`` keys the cache to the content)."""
    table = {}
    for line in Path(path).read_text().splitlines():
        digest, _, name = line.partition("  ")
        table[name.removeprefix("./")] = digest
    return table
