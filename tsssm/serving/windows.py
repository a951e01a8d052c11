"""Window-classification runs (``series_classification``, ``eeg_classification``): classify
every window of new data, prepared as the run's recipe prepared its test windows, with the
rows written by the recipe's own ``prediction_frame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import torch
from torch.utils.data import Dataset, TensorDataset

import tsssm.data as tsssm_data
from tsssm.data import DataError

from .predictor import Predictor

BATCH_SIZE = 64


class WindowPredictor(Predictor):
    """What both window tasks share: windows [C, T] -> class probabilities -> rows."""

    def frame(self, windows: Dataset, metadata: pl.DataFrame, labelled: bool,
              channels: list[str] | None = None) -> pl.DataFrame:
        """The recipe's prediction rows for ``windows`` (items ``(x [C, T], y)``) and their
        ``metadata`` (one row each); ``label`` is null when ``labelled`` is False;
        ``channels`` names the outputs of a per-channel protocol (None: one per window)."""
        shape = tuple(windows[0][0].shape)
        if shape != tuple(self.inputs["window_shape"]):
            raise DataError(f"the windows are {list(shape)} (channels x samples); the model "
                            f"was trained on {self.inputs['window_shape']}")
        probabilities, labels = self.module.predict_probabilities(windows, BATCH_SIZE)
        recipe = self.recipe()
        recipe.split = tsssm_data.WindowSplit(windows, windows, windows, metadata,
                                              list(self.inputs["class_names"]),
                                              channels=channels)
        frame = recipe.prediction_frame(self.model, labels.numpy(),
                                        probabilities.double().numpy(), metadata)
        return frame if labelled else frame.with_columns(pl.lit(None, pl.String).alias("label"))


class SeriesPredictor(WindowPredictor):
    """A UCR/UEA classifier of a run; ``predict(data)`` takes a problem name or folder (its
    TEST file is classified, as in the run) or an array ``X`` [cases, channels, length]
    (``labels``: optional class names, one per case)."""

    task = "series_classification"

    def predict(self, data: Any, labels: Sequence[str] | None = None) -> pl.DataFrame:
        """One row per case: ``model``, ``case``, ``label``, ``prediction``, ``probability``."""
        from tsssm.tasks.series_classification import znormalize

        cfg = self.config.data
        if isinstance(data, str) or hasattr(data, "__fspath__"):
            if labels is not None:
                raise ValueError("labels go with an array X; a problem's file has its own")
            test = tsssm_data.load_ucr(data, "test", cfg.ragged)
            X, labels = test.X, list(test.y)
        else:
            X = np.asarray(data, dtype=np.float32)
            if X.ndim == 2:
                X = X[:, None, :]
            if X.ndim != 3:
                raise DataError(f"X has shape {X.shape}; it needs [cases, channels, length]")
        if np.isnan(X).any():
            raise DataError("X holds NaN values; the models cannot take them")
        names = list(self.inputs["class_names"])
        unknown = sorted(set(labels or ()) - set(names))
        if unknown:
            raise DataError(f"labels {unknown} are not classes of the run ({names})")
        targets = [names.index(label) for label in labels] if labels else [0] * len(X)
        prepared = znormalize(X) if cfg.znormalize else X
        windows = TensorDataset(torch.from_numpy(prepared.astype(np.float32)),
                                torch.tensor(targets, dtype=torch.int64))
        metadata = pl.DataFrame({"case": [str(i) for i in range(len(X))]})
        return self.frame(windows, metadata, labelled=labels is not None)


class EEGPredictor(WindowPredictor):
    """An EEG window classifier of a run; ``predict(data, subjects=None)`` takes a bundled
    data set name or a folder in the run's layout, loads its recordings (of ``subjects``
    only, when given), preprocesses and windows them as the run's ``[data]`` says, and
    classifies every window."""

    task = "eeg_classification"

    def predict(self, data: str, subjects: Sequence[str] | None = None) -> pl.DataFrame:
        """One row per window: ``model``, ``recording``, ``subject``, ``start_s``,
        ``label``, ``prediction``, ``probability``."""
        from tsssm.tasks._eeg_windows import WINDOW_LABELS, load_recordings, make_windows
        from tsssm.tasks.eeg_classification import METADATA_COLUMNS, PER_CHANNEL_TYPES

        cfg = self.config.data
        recordings = load_recordings(cfg.layout, str(data), cfg.label_map,
                                     cfg.classification_type)
        if subjects is not None:
            known = {r.subject for r in recordings}
            missing = sorted(set(subjects) - known)
            if missing:
                raise DataError(f"subjects {missing} have no recording in {data}; subjects: "
                                f"{sorted(known)}")
            recordings = [r for r in recordings if r.subject in set(subjects)]
        event_map = cfg.label_map if cfg.layout == "eegmmidb" else None
        windows = make_windows(cfg, recordings, WINDOW_LABELS[cfg.layout], event_map)
        channels = (list(windows.ch_names) if cfg.classification_type in PER_CHANNEL_TYPES
                    else None)
        return self.frame(windows, windows.metadata.select(METADATA_COLUMNS), labelled=True,
                          channels=channels)
