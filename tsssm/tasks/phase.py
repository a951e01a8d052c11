"""Task ``phase``: phase recognition over whole recordings, for surgical videos (Cholec80)
and nights of sleep (Sleep-EDF), with one recipe class.

Data: the recordings of ``[data]`` (``PhaseDataConfig``), split by video or subject, inputs
standardised with training statistics. Models: any registered phase recogniser (``phase_ssm``,
``phase_mlp``, ``phase_tcn``), trained on whole recordings (padded batches) through
``PhaseModule``. Evaluation: every test recording in one pass; the surgical-workflow metrics
of ``tsssm.metrics.phase_recognition_report`` (per video, then averaged) and, for sleep, also
accuracy, macro F1 and Cohen's kappa (``sleep_staging_report``: pooled over nights, and the
mean over nights). Predictions go to predictions.parquet, one row per (recording, step):

    model           str       the model
    sequence        str       video ("video41") or night ("SC4001") id
    second          float     time of the frame or epoch from the sequence start, seconds
    truth           str       true phase or stage name ("Preparation", "N2", ...)
    prediction      str       predicted phase or stage name
    progress        float     predicted progress within the current phase, in [0, 1]
    truth_progress  float     true progress within the true phase, in [0, 1]
    confidence      float     probability the model gives its predicted phase, in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars

import tsssm.data as tsssm_data
from tsssm import training
from tsssm.data._bundled import BUNDLED_FOLDER_SHA256
from tsssm.recipes._schema import Context, resolve_layout
from tsssm.recipes.base import Recipe
from tsssm.recipes.config import ModelConfig, TrainConfig

from .spec import Task

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from tsssm.data import PhaseSequence, PhaseSplit, StandardScaler
    from tsssm.runs import PredictionWriter
    from tsssm.training import PhaseModule, SplitDataModule

PHASE_LAYOUTS = ("cholec80", "sleep_edf")
CHOLEC80_INPUTS = ("tools", "features", "both")
PREDICTION_COLUMNS = ("model", "sequence", "second", "truth", "prediction", "progress",
                      "truth_progress", "confidence")
# Per-recording metrics written to metrics.json's "per_sequence" (means over recordings in
# "test"); sleep adds its own three.
_SEQUENCE_METRICS = ("accuracy", "precision", "recall", "jaccard", "edit_score",
                     "predicted_transitions", "true_transitions")
_RELAXED = ("relaxed_accuracy", "relaxed_precision", "relaxed_recall", "relaxed_jaccard")


@dataclass
class PhaseDataConfig:
    """Labelled recordings for phase recognition (surgical phases, sleep stages).

    ``dataset`` is ``"cholec80"`` or ``"sleep_edf"`` (bundled) or a folder laid out like one
    of them (``layout`` says which). ``train``/``val``/``test`` list video numbers (Cholec80)
    or subject numbers (Sleep-EDF); empty lists keep the loader's standard split. The targets
    are the phase, its progress and (when ``video_progress_weight > 0``) the elapsed fraction
    of the recording; the weights are those of the L1 progress terms beside cross-entropy.
    """

    dataset: str = "cholec80"
    layout: str = ""  # "cholec80" or "sleep_edf"; set from a bundled name
    inputs: str = "tools"  # Cholec80: "tools", "features" or "both"
    features_dir: str | None = None  # Cholec80: one [frames, F] array per video
    fps: float = 1.0  # Cholec80: steps per second of the sequences
    features_fps: float = 1.0
    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)
    progress_weight: float = 1.0
    video_progress_weight: float = 0.0


def _validate_phase(data: PhaseDataConfig, ctx: Context) -> None:
    resolve_layout(data, PHASE_LAYOUTS, ctx)
    if data.inputs not in CHOLEC80_INPUTS:
        raise ctx.error("data.inputs", f"data.inputs must be one of {list(CHOLEC80_INPUTS)}, "
                                       f"not {data.inputs!r}")
    if data.inputs != "tools" and data.features_dir is None:
        raise ctx.error("data.features_dir", f"data.inputs = {data.inputs!r} needs "
                                             "data.features_dir (one array per video)")
    for key in ("fps", "features_fps"):
        if not getattr(data, key) > 0:
            raise ctx.error(f"data.{key}", f"data.{key} must be positive")
    for key in ("progress_weight", "video_progress_weight"):
        if getattr(data, key) < 0:
            raise ctx.error(f"data.{key}", f"data.{key} must not be negative")
    parts = {key: set(getattr(data, key)) for key in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = parts[a] & parts[b]
        if shared:
            raise ctx.error(f"data.{b}", f"data.{a} and data.{b} share {sorted(shared)}: a "
                                         "video (subject) belongs to one part only")


def phase_names(layout: str) -> tuple[str, ...]:
    """The phases (Cholec80) or sleep stages (Sleep-EDF) of ``layout``, in label order."""
    return tsssm_data.CHOLEC80_PHASES if layout == "cholec80" else tsssm_data.SLEEP_STAGES


def load_phase_split(data: PhaseDataConfig) -> PhaseSplit:
    """The recordings of ``data``, split as it says (empty lists: the standard split)."""
    root = None if data.dataset == data.layout else data.dataset
    parts = {key: getattr(data, key) for key in ("train", "val", "test") if getattr(data, key)}
    if data.layout == "cholec80":
        sequences = tsssm_data.load_cholec80(
            root, inputs=data.inputs, features_dir=data.features_dir, fps=data.fps,
            features_fps=data.features_fps)
        return tsssm_data.cholec80_split(sequences, **parts)
    return tsssm_data.sleep_edf_split(tsssm_data.load_sleep_edf(root), **parts)


class PhaseRecipe(Recipe):
    """Phase recognition: ``x`` [B, T, F] -> phases [B, T] and progress; see the module
    docstring."""

    task = "phase"
    split: PhaseSplit
    scaler: StandardScaler

    def setup(self) -> None:
        self.split = load_phase_split(self.config.data)
        self.scaler = tsssm_data.fit_input_scaler(self.split.train)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return phase_names(self.config.data.layout)

    def build_module(self, model: ModelConfig, train: TrainConfig) -> PhaseModule:
        data = self.config.data
        return training.PhaseModule(
            model.name, model.options, n_inputs=self.split.train[0].inputs.shape[1],
            n_phases=len(self.phase_names), progress_weight=data.progress_weight,
            video_progress_weight=data.video_progress_weight,
            optimization=train.optimization(), seed=train.seed,
        )

    def datamodule(self, train: TrainConfig) -> SplitDataModule:
        """Batches of whole recordings (see ``tsssm.training.phase``)."""
        datasets = [tsssm_data.PhaseDataset(part, self.scaler) for part in self.split]
        return training.SplitDataModule(*datasets, batch_size=train.batch_size,
                                        seed=train.seed, num_workers=train.num_workers,
                                        collate_fn=tsssm_data.pad_recordings)

    def evaluate(
        self, model: ModelConfig, module: pl.LightningModule, trainer: pl.Trainer,
        predictions: PredictionWriter,
    ) -> dict[str, Any]:
        """Predicts one test recording at a time and writes its rows to ``predictions``;
        the metrics (segment-wise, per recording) keep only each recording's true and
        predicted phase indices [T] (int64)."""
        if not isinstance(module, training.PhaseModule):
            raise TypeError(f"PhaseRecipe evaluates a PhaseModule, not {module!r}")
        truths, predicted = [], []
        for sequence in self.split.test:
            output = module.predict_recording(self.scaler.transform(sequence.inputs))
            predicted.append(output["probabilities"].argmax(-1).numpy())
            truths.append(sequence.labels.numpy())
            predictions.write(self.prediction_frame(model.name, sequence, output))
        return self.score(truths, predicted, self.split.test)

    def score(self, truths: list[np.ndarray], predictions: list[np.ndarray],
              sequences: list[PhaseSequence]) -> dict[str, Any]:
        """``{"test": means over recordings, "per_sequence": one dict per recording}``."""
        from tsssm.metrics import phase_recognition_report, sleep_staging_report

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


TASK = Task(
    name="phase",
    model_task="phase",
    summary="recognise the phase (and its progress) at every step of whole recordings: "
            "surgical videos, nights of sleep",
    data_config=PhaseDataConfig,
    validate=_validate_phase,
    derived=("n_inputs", "n_phases", "predict_video_progress"),
    bundled=lambda: frozenset(PHASE_LAYOUTS) & frozenset(BUNDLED_FOLDER_SHA256),
    path_kind="dir",
    recipe=PhaseRecipe,
    prediction_columns=PREDICTION_COLUMNS,
    headline_metrics=("accuracy", "jaccard"),
    validation_metrics=("val_loss", "val_accuracy"),
)
