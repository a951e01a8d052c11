"""Task ``eeg_pretraining``: masked-patch reconstruction pre-training of
an EEG encoder (``femba_pretrain``) on unlabelled windows, for ``eeg_classification`` to fine-tune.

Data (``EEGPretrainDataConfig``): the windows of ``data.dataset``'s ``train`` subjects, plus
every recording of the bundled ``extra_datasets``, through one preprocessing chain (it must
bring them to the same channels and rate, e.g. ``pick_channels`` + ``resample``); the
``val`` subjects pick the best checkpoint, the ``test`` subjects score the held-out
reconstruction. Labels play no part. To fine-tune without leaking, give the
``eeg_classification`` recipe the same split: its test subjects are then never trained on,
here or there.

Checkpoints: ``checkpoints/<model>/best.ckpt`` (lowest validation reconstruction loss) in the
run folder; ``data.pretrained`` of an ``eeg_classification`` recipe takes the folder or the file.

Metrics: ``test.reconstruction_loss`` (Smooth-L1 over the hidden samples of every test window,
masks drawn from (seed, window) so every evaluation hides the same patches) beside
``test.zero_loss``, the same loss of reconstructing every hidden sample as 0 (the median of
robust-scaled EEG): a model worth fine-tuning scores well below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tsssm.data as tsssm_data
from tsssm import training
from tsssm.data.series import DataError
from tsssm.recipes._schema import Context
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ModelConfig, TrainConfig

from ._eeg_windows import (
    EEG_LAYOUTS,
    EEGWindowsConfig,
    listed_subjects,
    load_recordings,
    make_windows,
    split_windows,
    tuab_eval_subjects,
    validate_eeg_windows,
)
from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from torch.utils.data import Dataset

    from tsssm.data.eeg import EEGWindows
    from tsssm.runs import PredictionWriter
    from tsssm.training import PretrainModule, WindowDataModule


@dataclass
class EEGPretrainDataConfig(EEGWindowsConfig):
    """Masked-reconstruction pre-training: unlabelled windows of the ``train`` subjects of
    :class:`EEGWindowsConfig`'s split (``val`` picks the best checkpoint, ``test`` scores the
    held-out reconstruction), plus every recording of the bundled ``extra_datasets``, all
    through one preprocessing chain that must bring them to the same channels and rate."""

    extra_datasets: list[str] = field(default_factory=list)


def _validate_eeg_pretrain(data: EEGPretrainDataConfig, ctx: Context) -> None:
    validate_eeg_windows(data, ctx)
    unknown = [name for name in data.extra_datasets if name not in EEG_LAYOUTS]
    if unknown:
        raise ctx.error("data.extra_datasets", f"data.extra_datasets: {unknown} are not "
                                               f"bundled EEG sets {list(EEG_LAYOUTS)}")
    if data.dataset in data.extra_datasets:
        raise ctx.error("data.extra_datasets", f"data.extra_datasets repeats data.dataset "
                                               f"{data.dataset!r}: its test subjects must "
                                               "stay out of training")


class EEGPretrainRecipe(Recipe):
    """Masked-reconstruction pre-training on EEG windows; see the module docstring."""

    task = "eeg_pretraining"
    train_windows: Dataset
    val_windows: EEGWindows
    test_windows: EEGWindows

    @property
    def data(self) -> EEGPretrainDataConfig:
        return self.config.data

    def setup(self) -> None:
        data = self.data
        recordings = listed_subjects(data, load_recordings(data.layout, data.dataset))
        test = tuab_eval_subjects(recordings) if data.layout == "tuab" else None
        parts = split_windows(data, make_windows(data, recordings, labels=None), test)
        extra = [make_windows(data, load_recordings(name, name), labels=None)
                 for name in data.extra_datasets]
        for name, windows in zip(data.extra_datasets, extra, strict=True):
            _check_same_windows(parts.train, windows, name)
        from torch.utils.data import ConcatDataset

        self.train_windows = ConcatDataset([parts.train, *extra])
        self.val_windows, self.test_windows = parts.val, parts.test
        self.window_info = {
            "ch_names": list(parts.train.ch_names), "sfreq": parts.train.sfreq,
            "n_times": parts.train.n_times,
            "train_windows": len(self.train_windows),
            "subjects": {name: sorted(set(getattr(parts, name).metadata["subject"]))
                         for name in ("train", "val", "test")},
            "extra_datasets": list(data.extra_datasets),
        }

    def build_module(self, model: ModelConfig, train: TrainConfig) -> PretrainModule:
        return training.PretrainModule(
            model.name, model.options, n_chans=self.val_windows.n_chans,
            n_times=self.val_windows.n_times, optimization=train.optimization(),
            seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> WindowDataModule:
        windows = tsssm_data.WindowDataset
        return training.WindowDataModule(
            windows(self.train_windows), windows(self.val_windows),
            windows(self.test_windows), batch_size=train.batch_size, seed=train.seed,
            num_workers=train.num_workers,
        )

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Reconstruction scores of the test windows (the task writes no predictions)."""
        if not isinstance(module, training.PretrainModule):
            raise TypeError(f"EEGPretrainRecipe evaluates a PretrainModule, not "
                            f"{type(module).__name__}")
        batch_size = self.config.train_for(model).batch_size
        test = module.reconstruction_scores(self.test_windows, batch_size)
        return {"test": test, "windows": self.window_info}


def _check_same_windows(reference: EEGWindows, other: EEGWindows, name: str) -> None:
    """Raise a DataError unless ``other`` has the channels, rate and length of
    ``reference``."""
    mine = (reference.ch_names, reference.sfreq, reference.n_times)
    theirs = (other.ch_names, other.sfreq, other.n_times)
    if mine != theirs:
        raise DataError(
            f"data.extra_datasets: {name} gives windows of channels {list(other.ch_names)} at "
            f"{other.sfreq:g} Hz, {other.n_times} samples; data.dataset gives "
            f"{list(reference.ch_names)} at {reference.sfreq:g} Hz, {reference.n_times} "
            "samples: add pick_channels and resample steps to data.preprocessing"
        )


TASK = Task(
    name="eeg_pretraining",
    model_task="pretraining",
    summary="pre-train an EEG encoder by masked-patch reconstruction on unlabelled windows",
    data_config=EEGPretrainDataConfig,
    validate=_validate_eeg_pretrain,
    derived=("n_chans", "n_times"),
    bundled=lambda: frozenset(EEG_LAYOUTS),
    path_kind="dir",
    recipe=EEGPretrainRecipe,
    prediction_columns=(),
    headline_metrics=("reconstruction_loss", "zero_loss"),
)
