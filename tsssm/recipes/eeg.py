"""``EEGRecipe`` (task ``"eeg"``): classify fixed-length EEG windows, split by subject.

Data: the recordings of ``[data]`` (``EEGDataConfig``: a bundled set or a folder), checked
for bad channels, preprocessed by the configured chain, cut into windows
(``tsssm.data.eeg.EEGWindows``) and split by subject, so no subject's windows sit in two
parts (Bonn, which publishes no subjects, is split by segment). Training windows may be
augmented with MONAI's signal transforms (``augmentation.py``). Models: any registered
``"classification"`` model (``femba``, ``femba_mamba_head``, ``chimera_classifier``); the main
model may start from the encoder of a masked-reconstruction pre-training (``data.pretrained``:
a ``.ckpt`` or an ``eeg_pretrain`` run folder, read with ``weights_only=True``), frozen or not.

Evaluation (``WindowClassificationRecipe``): balanced accuracy, accuracy, AUROC, AUPR, kappa and
macro F1 over the test windows, and per test subject (not for Bonn: one segment holds one
class); predictions.parquet in the ``"eeg"`` schema (recording, subject, start_s, label,
prediction, probability).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as pl
import polars

from tsssm.data.eeg import (
    BONN_SETS,
    EEGRecording,
    EEGSplit,
    EEGWindows,
    load_bonn,
    load_eegmmidb,
    load_mental_arithmetic,
    subject_split,
)
from tsssm.data.series import DataError

from .augmentation import SignalAugmentation
from .classification import Augment, ClassificationModule, WindowClassificationRecipe, WindowSplit
from .config import ConfigError, ModelConfig, TrainConfig
from .tasks import EEGDataConfig, EEGWindowsConfig

METADATA_COLUMNS = ("recording", "subject", "start_s")


def load_recordings(layout: str, dataset: str, label_map: dict[str, int] | None = None
                    ) -> list[EEGRecording]:
    """The recordings of a bundled set (``dataset == layout``) or of a folder in that
    layout. Bonn loads the sets of ``label_map`` (set letter -> class; default: all five,
    each its own class)."""
    data_dir = None if dataset == layout else dataset
    if layout == "mental_arithmetic":
        return load_mental_arithmetic(data_dir)
    if layout == "bonn":
        sets = list(label_map) if label_map else list(BONN_SETS)
        return load_bonn(data_dir, sets=sets, classes=label_map or None)
    if layout == "eegmmidb":
        return load_eegmmidb(data_dir)
    raise DataError(f"unknown EEG layout {layout!r}")


def listed_subjects(data: EEGWindowsConfig, recordings: list[EEGRecording]
                    ) -> list[EEGRecording]:
    """With subject lists, only the recordings of listed subjects (the others would be
    preprocessed for nothing); with fractions, all.

    Raises:
        DataError: a listed subject has no recording.
    """
    if data.fractions:
        return recordings
    listed = {*data.train, *data.val, *data.test}
    known = {r.subject for r in recordings}
    unknown = sorted(listed - known)
    if unknown:
        raise DataError(f"data: subjects {unknown} have no recording in {data.dataset}; "
                        f"subjects: {sorted(known)}")
    return [r for r in recordings if r.subject in listed]


def make_windows(data: EEGWindowsConfig, recordings: list[EEGRecording], labels: str | None,
                 event_map: dict[str, int] | None = None) -> EEGWindows:
    """Windows of ``recordings`` as ``data`` configures them (chain, lengths, bad channels,
    cache)."""
    return EEGWindows.from_recordings(
        recordings, window_s=data.window_s, stride_s=data.stride_s, labels=labels,
        event_map=event_map, preprocessing=data.chain(), bad_channels=data.bad_channels,
        cache_dir=data.cache_dir,
    )


def split_windows(data: EEGWindowsConfig, windows: EEGWindows) -> EEGSplit:
    """``windows`` split by subject: the lists of ``data``, or its fractions."""
    if data.fractions:
        return subject_split(windows, fractions=tuple(data.fractions), seed=data.split_seed)
    return subject_split(windows, data.train, data.val, data.test)


def pretrained_checkpoint(path: str | Path) -> Path:
    """The checkpoint file of ``path``: the file itself, or the best checkpoint of a run
    folder (``checkpoints/<model>/best.ckpt``, exactly one model).

    Raises:
        ConfigError: no such file, or a run folder without exactly one best checkpoint.
    """
    path = Path(path)
    if path.is_file():
        return path
    found = sorted(path.glob("checkpoints/*/best.ckpt"))
    if len(found) != 1:
        listed = ", ".join(str(p.relative_to(path)) for p in found) or "none"
        raise ConfigError(f"data.pretrained: {path} is not a checkpoint file, nor a run folder "
                          f"with one best checkpoint (found: {listed})")
    return found[0]


class EEGRecipe(WindowClassificationRecipe):
    """EEG window classification; see the module docstring."""

    task = "eeg"
    prediction_schema: ClassVar[str] = "eeg"

    @property
    def data(self) -> EEGDataConfig:
        return self.config.data

    def load_windows(self) -> WindowSplit:
        data = self.data
        recordings = listed_subjects(data, load_recordings(data.layout, data.dataset,
                                                           data.label_map))
        if data.layout == "eegmmidb":
            windows = make_windows(data, recordings, "annotations", data.label_map)
        else:
            windows = make_windows(data, recordings, "recording")
        parts = split_windows(data, windows)
        test_metadata = parts.test.metadata.select(METADATA_COLUMNS)
        group = None if data.layout == "bonn" else "subject"
        return WindowSplit(parts.train, parts.val, parts.test, test_metadata,
                           list(data.class_names), group)

    def train_augmentation(self) -> Augment | None:
        return SignalAugmentation(self.data.augment) if self.data.augment else None

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ClassificationModule:
        """The module of ``model``; the main model starts from ``data.pretrained`` when set."""
        module = super().build_module(model, train)
        data = self.data
        if data.pretrained is None or model is not self.config.model:
            return module
        if not hasattr(module.model, "load_pretrained_encoder"):
            raise ConfigError(f"{self.config.source}: data.pretrained: model {model.name!r} "
                              "cannot start from a pre-trained encoder (choose femba or "
                              "femba_mamba_head)")
        checkpoint = pretrained_checkpoint(data.pretrained)
        try:
            module.model.load_pretrained_encoder(checkpoint, freeze_encoder=data.freeze_encoder)
        except ValueError as error:
            raise ConfigError(f"{self.config.source}: data.pretrained {checkpoint}: {error} "
                              "(pre-train with the same encoder options, channels and window "
                              "length)") from None
        return module

    def evaluate(self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
                 ) -> tuple[dict[str, Any], polars.DataFrame]:
        metrics, predictions = super().evaluate(model, module, trainer)
        if model is self.config.model and self.data.pretrained is not None:
            metrics["pretrained"] = str(pretrained_checkpoint(self.data.pretrained))
            metrics["freeze_encoder"] = self.data.freeze_encoder
        return metrics, predictions
