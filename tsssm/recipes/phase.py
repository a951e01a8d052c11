"""``PhaseRecipe``: phase recognition over whole recordings, for surgical videos (Cholec80)
and nights of sleep (Sleep-EDF), with one recipe class.

Data: the recordings of ``[data]`` (``PhaseDataConfig``), split by video or subject, inputs
standardised with training statistics. Models: any registered phase recogniser (``phase_ssm``,
``phase_mlp``, ``phase_tcn``), trained on whole recordings (padded batches) through
``PhaseModule``. Evaluation: every test recording in one pass; the surgical-workflow metrics
of ``tsssm.metrics.phase_recognition_report`` (per video, then averaged) and, for sleep, also
accuracy, macro F1 and Cohen's kappa (``sleep_staging_report``: pooled over nights, and the
mean over nights). Predictions go to predictions.parquet, one row per (recording, step).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import polars

from tsssm.data import (
    CHOLEC80_PHASES,
    SLEEP_STAGES,
    PhaseSequence,
    PhaseSplit,
    StandardScaler,
    cholec80_split,
    load_cholec80,
    load_sleep_edf,
    sleep_edf_split,
)
from tsssm.metrics import phase_recognition_report, sleep_staging_report

from .base import Recipe
from .config import ModelConfig, TrainConfig
from .loaders import SplitDataModule
from .phase_module import PhaseDataset, PhaseModule, fit_input_scaler, pad_recordings
from .tasks import PhaseDataConfig

PHASE_NAMES = {"cholec80": CHOLEC80_PHASES, "sleep_edf": SLEEP_STAGES}
# Per-recording metrics written to metrics.json's "per_sequence" (means over recordings in
# "test"); sleep adds its own three.
_SEQUENCE_METRICS = ("accuracy", "precision", "recall", "jaccard", "edit_score",
                     "predicted_transitions", "true_transitions")
_RELAXED = ("relaxed_accuracy", "relaxed_precision", "relaxed_recall", "relaxed_jaccard")


def load_phase_split(data: PhaseDataConfig) -> PhaseSplit:
    """The recordings of ``data``, split as it says (empty lists: the standard split)."""
    root = None if data.dataset == data.layout else data.dataset
    parts = {key: getattr(data, key) for key in ("train", "val", "test") if getattr(data, key)}
    if data.layout == "cholec80":
        sequences = load_cholec80(root, inputs=data.inputs, features_dir=data.features_dir,
                                  fps=data.fps, features_fps=data.features_fps)
        return cholec80_split(sequences, **parts)
    return sleep_edf_split(load_sleep_edf(root), **parts)


class PhaseRecipe(Recipe):
    """Phase recognition: ``x`` [B, T, F] -> phases [B, T] and progress; see the module
    docstring."""

    task = "phase"
    split: PhaseSplit
    scaler: StandardScaler

    def setup(self) -> None:
        self.split = load_phase_split(self.config.data)
        self.scaler = fit_input_scaler(self.split.train)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return PHASE_NAMES[self.config.data.layout]

    def build_module(self, model: ModelConfig, train: TrainConfig) -> PhaseModule:
        data = self.config.data
        return PhaseModule(
            model.name, model.options, n_inputs=self.split.train[0].inputs.shape[1],
            n_phases=len(self.phase_names), progress_weight=data.progress_weight,
            video_progress_weight=data.video_progress_weight, lr=train.lr,
            weight_decay=train.weight_decay, lr_decay=train.lr_decay, seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches of whole recordings (see ``phase_module``)."""
        datasets = [PhaseDataset(part, self.scaler) for part in self.split]
        return SplitDataModule(*datasets, batch_size=train.batch_size, seed=train.seed,
                               num_workers=train.num_workers, collate_fn=pad_recordings)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer
    ) -> tuple[dict[str, Any], polars.DataFrame]:
        if not isinstance(module, PhaseModule):
            raise TypeError(f"PhaseRecipe evaluates a PhaseModule, not {module!r}")
        outputs = [module.predict_recording(self.scaler.transform(s.inputs))
                   for s in self.split.test]
        predictions = [o["probabilities"].argmax(-1).numpy() for o in outputs]
        truths = [s.labels.numpy() for s in self.split.test]
        metrics = self.score(truths, predictions, self.split.test)
        frames = [self.prediction_frame(model.name, s, o) for s, o in
                  zip(self.split.test, outputs, strict=True)]
        return metrics, polars.concat(frames)

    def score(self, truths: list[np.ndarray], predictions: list[np.ndarray],
              sequences: list[PhaseSequence]) -> dict[str, Any]:
        """``{"test": means over recordings, "per_sequence": one dict per recording}``."""
        n_phases, fps = len(self.phase_names), sequences[0].fps
        report = phase_recognition_report(truths, predictions, fps=fps, num_classes=n_phases)
        names = list(_SEQUENCE_METRICS)
        if self.config.data.layout == "cholec80":
            names += _RELAXED  # sleep epochs (30 s) are longer than the 10-s tolerance
        per_sequence = [{"sequence": s.id, "steps": len(s)} for s in sequences]
        test: dict[str, Any] = {"sequences": len(sequences)}
        for name in names:
            test[name] = report[name]["mean"]
            for entry, value in zip(per_sequence, report[name]["per_video"], strict=True):
                entry[name] = value
        test["per_phase_jaccard"] = dict(zip(self.phase_names, report["jaccard"]["per_phase"],
                                             strict=True))
        if self.config.data.layout == "sleep_edf":
            sleep = sleep_staging_report(truths, predictions, num_classes=n_phases)
            for name in ("accuracy", "macro_f1", "kappa"):
                test[f"{name}_pooled"] = sleep[name]["pooled"]
            for name in ("macro_f1", "kappa"):  # the mean over nights, like the rest of "test"
                test[name] = sleep[name]["mean"]
                for entry, value in zip(per_sequence, sleep[name]["per_night"], strict=True):
                    entry[name] = value
        return {"test": test, "per_sequence": per_sequence}

    def prediction_frame(self, model: str, sequence: PhaseSequence,
                         output: dict[str, Any]) -> polars.DataFrame:
        """One row per step of ``sequence``: ``model``, ``sequence`` (its id), ``second``
        (start of the step), ``truth`` and ``prediction`` (phase names), ``progress`` and
        ``truth_progress`` (within the phase, 0-1), ``confidence`` (predicted phase's
        probability)."""
        names = np.array(self.phase_names)
        probabilities = output["probabilities"].numpy()
        steps = len(sequence)
        return polars.DataFrame({
            "model": polars.repeat(model, steps, eager=True),
            "sequence": polars.repeat(sequence.id, steps, eager=True),
            "second": (np.arange(steps) / sequence.fps).astype(np.float64),
            "truth": names[sequence.labels.numpy()],
            "prediction": names[probabilities.argmax(-1)],
            "progress": output["progress"].numpy(),
            "truth_progress": sequence.progress.numpy(),
            "confidence": probabilities.max(-1),
        })
