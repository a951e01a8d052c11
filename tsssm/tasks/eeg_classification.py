"""Task ``eeg_classification``: classify fixed-length EEG windows, split by subject.

Data: the recordings of ``[data]`` (``EEGDataConfig``: a bundled set or a folder), checked
for bad channels, preprocessed by the configured chain, cut into windows
(``tsssm.data.eeg.EEGWindows``) and split by subject, so no subject's windows sit in two
parts (Bonn, which publishes no subjects, is split by segment). Training windows may be
augmented with MONAI's signal transforms (``tsssm.data.augmentation``). Models: any registered
``"classification"`` model (``femba``, ``femba_mamba_head``, ``chimera_classifier``); the main
model may start from the encoder of a masked-reconstruction pre-training (``data.pretrained``:
a ``.ckpt`` or an ``eeg_pretraining`` run folder, read with ``weights_only=True``), frozen or not.

TUAR is read for one of FEMBA's protocols, ``data.classification_type`` (BioFoundation's
names; the model's output type follows it):

    bc    artifact or not per window             2 classes, cross-entropy
    mc    artifact or not per channel            one logit per channel, BCE-with-logits
    mmc   artifact type (or none) per channel    6 classes per channel, cross-entropy
    mcc   artifact type (or none) per window     6 classes, cross-entropy

Evaluation (``WindowClassificationRecipe``): balanced accuracy, accuracy, AUROC, AUPR, kappa and
macro F1 (AUROC and AUPR macro over one-vs-rest for more than two classes) over the test
windows, and per test subject (not for Bonn: one segment holds one class). Per-channel
protocols score all (window, channel) labels pooled (``test``, ``per_group``; ``windows``
then counts labels), each channel (``per_channel``) and the mean over channels
(``channel_mean``). predictions.parquet, one row per (recording, window), or per (recording,
window, channel) for the per-channel protocols:

    model           str       the model
    recording       str       recording id
    subject         str       subject id
    start_s         float     window start from the recording start, seconds
    channel         str       the channel of a per-channel label; null for one per window
    label           str       true class name
    prediction      str       predicted class name
    probability     float     probability of the positive class (binary tasks), else of
                              the predicted class
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tsssm.data as tsssm_data
import tsssm.data.eeg as eeg_data
from tsssm.recipes._schema import Context
from tsssm.recipes.config import ConfigError, ModelConfig, TrainConfig

from ._eeg_windows import (
    EEG_LAYOUTS,
    TUAR_MODES,
    WINDOW_LABELS,
    EEGWindowsConfig,
    listed_subjects,
    load_recordings,
    make_windows,
    resolve_path,
    split_windows,
    tuab_eval_subjects,
    validate_eeg_windows,
)
from ._window_classification import WindowClassificationRecipe
from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from tsssm.data.windows import Augment, WindowSplit
    from tsssm.runs import PredictionWriter
    from tsssm.training import ClassificationModule

METADATA_COLUMNS = ("recording", "subject", "start_s")
# The classes of the layouts that label windows themselves, in label order (TUAR: of its
# binary protocols; the artifact-type ones have tuar_type_classes()).
FIXED_CLASSES = {
    "mental_arithmetic": lambda: eeg_data.MENTAL_ARITHMETIC_CLASSES,
    "tuab": lambda: eeg_data.TUAB_CLASSES,
    "tuar": lambda: ("clean", "artifact"),
    "tusl": lambda: ("none", *sorted(eeg_data.TUSL_CLASSES, key=eeg_data.TUSL_CLASSES.get)),
}
# The protocols with one label per channel (the others label each window once).
PER_CHANNEL_TYPES = ("mc", "mmc")
PREDICTION_COLUMNS = ("model", *METADATA_COLUMNS, "channel", "label", "prediction",
                      "probability")


@dataclass
class EEGDataConfig(EEGWindowsConfig):
    """EEG window classification: :class:`EEGWindowsConfig` plus labels, augmentation and a
    pre-trained start.

    Labels: mental arithmetic is rest (0) vs arithmetic (1), from the recordings.
    ``label_map`` maps Bonn set letters (only the sets listed are loaded; default: each set
    its own class) or EEGMMIDB annotations (default: T0 rest, T1, T2) to classes 0..K-1;
    ``class_names`` names the K classes (default: the keys of each class joined by "+").
    ``augment`` lists MONAI signal transforms applied to training windows
    (``{name = "SignalRandScale", prob = 0.5, boundaries = [0.9, 1.1]}``, see
    ``tsssm.data.augmentation``). ``pretrained`` is a pre-training checkpoint (``.ckpt``)
    or an ``eeg_pretraining`` run folder (relative to the recipe file) whose encoder starts the
    main model (the baselines train from scratch); ``freeze_encoder`` then trains its head
    only. ``classification_type`` is the TUAR protocol (``"bc"``, ``"mc"``, ``"mmc"``,
    ``"mcc"``, see the module docstring); other data sets have ``"bc"`` only (one class per
    window, any number of classes).
    """

    label_map: dict = field(default_factory=dict)
    classification_type: str = "bc"
    class_names: list[str] = field(default_factory=list)
    augment: list[dict] = field(default_factory=list)
    pretrained: str | None = None
    freeze_encoder: bool = False


def tuar_type_classes() -> tuple[str, ...]:
    """The classes of TUAR's artifact-type protocols (mmc, mcc), in label order."""
    return ("none", *eeg_data.TUAR_ARTIFACT_TYPES)


def _default_label_map(layout: str) -> dict[str, int]:
    if layout == "bonn":
        return {letter: number for number, letter in enumerate(eeg_data.BONN_SETS)}
    return dict(eeg_data.EEGMMIDB_EVENT_MAP) if layout == "eegmmidb" else {}


def _validate_eeg(data: EEGDataConfig, ctx: Context) -> None:
    validate_eeg_windows(data, ctx)
    if data.classification_type not in TUAR_MODES:
        raise ctx.error("data.classification_type", f"data.classification_type must be one "
                                                    f"of {list(TUAR_MODES)}, not "
                                                    f"{data.classification_type!r}")
    if data.classification_type != "bc" and data.layout != "tuar":
        raise ctx.error("data.classification_type", f"data.classification_type "
                                                    f"{data.classification_type!r} is a TUAR "
                                                    f"protocol; {data.layout} has 'bc' only")
    if data.layout in FIXED_CLASSES:
        if data.label_map:
            raise ctx.error("data.label_map", f"data.label_map: {data.layout} takes its "
                                              "labels from the recordings or their "
                                              "annotation files; leave it out")
        typed = data.layout == "tuar" and data.classification_type in ("mmc", "mcc")
        classes = list(tuar_type_classes() if typed else FIXED_CLASSES[data.layout]())
    else:
        data.label_map = data.label_map or _default_label_map(data.layout)
        values = list(data.label_map.values())
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ctx.error("data.label_map", f"data.label_map values must be class numbers "
                                              f"(integers), got {data.label_map}")
        if sorted(set(values)) != list(range(max(values, default=-1) + 1)) or len(
                set(values)) < 2:
            raise ctx.error("data.label_map", f"data.label_map must use the classes 0..K-1, "
                                              f"each at least once, K >= 2; got {values}")
        unknown = sorted(set(data.label_map) - set(eeg_data.BONN_SETS))
        if data.layout == "bonn" and unknown:
            raise ctx.error("data.label_map", f"data.label_map: {unknown} are not Bonn sets "
                                              f"{list(eeg_data.BONN_SETS)}")
        classes = ["+".join(k for k, v in data.label_map.items() if v == number)
                   for number in range(max(values) + 1)]
    data.class_names = data.class_names or classes
    if len(data.class_names) != len(classes):
        raise ctx.error("data.class_names", f"data.class_names names {len(data.class_names)} "
                                            f"classes; the labels have {len(classes)}")
    try:
        tsssm_data.SignalAugmentation(data.augment)
    except ValueError as error:
        raise ctx.error("data.augment", f"data.{error}") from None
    if data.pretrained is not None:
        data.pretrained = resolve_path(data.pretrained, "data.pretrained", ctx)
        if not Path(data.pretrained).exists():
            raise ctx.error("data.pretrained", f"data.pretrained: no checkpoint file or run "
                                               f"folder {data.pretrained}")
    elif data.freeze_encoder:
        raise ctx.error("data.freeze_encoder", "data.freeze_encoder needs data.pretrained "
                                               "(an encoder to freeze)")


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

    task = "eeg_classification"
    prediction_columns = PREDICTION_COLUMNS

    @property
    def data(self) -> EEGDataConfig:
        return self.config.data

    def load_windows(self) -> WindowSplit:
        data = self.data
        recordings = listed_subjects(data, load_recordings(
            data.layout, data.dataset, data.label_map, data.classification_type))
        event_map = data.label_map if data.layout == "eegmmidb" else None
        windows = make_windows(data, recordings, WINDOW_LABELS[data.layout], event_map)
        test = tuab_eval_subjects(recordings) if data.layout == "tuab" else None
        parts = split_windows(data, windows, test)
        test_metadata = parts.test.metadata.select(METADATA_COLUMNS)
        group = None if data.layout == "bonn" else "subject"
        channels = (list(windows.ch_names) if data.classification_type in PER_CHANNEL_TYPES
                    else None)
        return tsssm_data.WindowSplit(parts.train, parts.val, parts.test, test_metadata,
                                      list(data.class_names), group, channels)

    def train_augmentation(self) -> Augment | None:
        augment = self.data.augment
        return tsssm_data.SignalAugmentation(augment) if augment else None

    def build_module(self, model: ModelConfig, train: TrainConfig) -> ClassificationModule:
        """The module of ``model``, its output type that of ``data.classification_type``;
        the main model starts from ``data.pretrained`` when set (tsssm's pre-training
        checkpoints, or BioFoundation's released FEMBA, whose sizes and architecture then
        complete the model's options)."""
        from tsssm.models import model_entry

        data = self.data
        main = model is self.config.model
        model = self.with_output_type(model)
        if data.pretrained is None or not main:
            return super().build_module(model, train)
        model_cls = model_entry(model.name).model_cls
        if hasattr(model_cls, "pretrained_options"):
            n_chans, n_times = self.split.window_shape
            try:
                options = model_cls.pretrained_options(
                    pretrained_checkpoint(data.pretrained), model.options, n_chans, n_times)
            except ValueError as error:
                raise ConfigError(f"{self.config.source}: data.pretrained: {error}") from None
            model = dataclasses.replace(model, options=options)
        module = super().build_module(model, train)
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

    def with_output_type(self, model: ModelConfig) -> ModelConfig:
        """``model`` with the output type of ``data.classification_type`` among its options
        (models with a ``classification_type``: FEMBA's).

        Raises:
            ConfigError: a per-channel protocol and a model with one output per window.
        """
        from tsssm.models import model_entry

        kind = self.data.classification_type
        fields = {f.name for f in dataclasses.fields(model_entry(model.name).config_cls)}
        if "classification_type" in fields:
            return dataclasses.replace(model, options={**model.options,
                                                       "classification_type": kind})
        if kind in PER_CHANNEL_TYPES:
            raise ConfigError(f"{self.config.source}: data.classification_type {kind!r} "
                              f"labels every channel; model {model.name!r} gives one output "
                              "per window (choose femba or femba_mamba_head)")
        return model

    def evaluate(self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
                 predictions: PredictionWriter) -> dict[str, Any]:
        metrics = super().evaluate(model, module, trainer, predictions)
        if model is self.config.model and self.data.pretrained is not None:
            metrics["pretrained"] = str(pretrained_checkpoint(self.data.pretrained))
            metrics["freeze_encoder"] = self.data.freeze_encoder
        return metrics


TASK = Task(
    name="eeg_classification",
    model_task="classification",
    summary="classify fixed-length EEG windows, split by subject (optionally from a "
            "pre-trained encoder)",
    data_config=EEGDataConfig,
    validate=_validate_eeg,
    derived=("n_chans", "n_times", "n_outputs", "classification_type"),
    bundled=lambda: frozenset(EEG_LAYOUTS),
    path_kind="dir",
    recipe=EEGRecipe,
    prediction_columns=PREDICTION_COLUMNS,
    headline_metrics=("balanced_accuracy", "auroc"),
    validation_metrics=("val_loss", "val_balanced_accuracy"),
)
