"""Phase-recognition runs: phases and progress at every step of new recordings, their inputs
scaled with the training recordings' statistics recorded in ``preprocessing.json``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

import tsssm.data as tsssm_data
from tsssm.data import DataError, StandardScaler

from .predictor import Predictor


class PhasePredictor(Predictor):
    """A phase recogniser of a run; ``predict(data, recordings=None)`` takes a bundled data
    set name or a folder in the run's layout (Cholec80 annotation files, Sleep-EDF feature
    files) and predicts every recording in it (Cholec80: video numbers; Sleep-EDF: night ids
    such as ``"SC4001E0"``; default: all)."""

    task = "phase"

    def predict(self, data: str, recordings: Iterable[int | str] | None = None
                ) -> pl.DataFrame:
        """One row per (recording, step): ``model``, ``sequence``, ``second``, ``truth``,
        ``prediction``, ``progress``, ``truth_progress``, ``confidence``."""
        cfg = self.config.data
        root = None if str(data) == cfg.layout else data
        if cfg.layout == "cholec80":
            sequences = tsssm_data.load_cholec80(
                root, videos=recordings, inputs=cfg.inputs, features_dir=cfg.features_dir,
                fps=cfg.fps, features_fps=cfg.features_fps)
        else:
            sequences = tsssm_data.load_sleep_edf(root, nights=recordings)
        n_inputs = self.module.hparams.n_inputs
        stats = self.inputs["scaler"]
        scaler = StandardScaler(np.array(stats["mean"]), np.array(stats["std"]))
        recipe = self.recipe()
        frames = []
        for sequence in sequences:
            if sequence.inputs.shape[1] != n_inputs:
                raise DataError(f"{sequence.id} has {sequence.inputs.shape[1]} inputs per "
                                f"step; the model was trained on {n_inputs}")
            output = self.module.predict_recording(scaler.transform(sequence.inputs))
            frames.append(recipe.prediction_frame(self.model, sequence, output))
        if not frames:
            raise DataError(f"no recordings found in {data}")
        return pl.concat(frames)
