"""``PhaseRecognizer``: phase recognition over whole recordings with scikit-learn's conventions.

    recognizer = PhaseRecognizer(max_epochs=30).fit(videos, labels)  # lists, one item each
    recognizer.predict(new_videos)           # one label array [T] per recording
    recognizer.predict_proba(new_videos)     # one [T, n_classes] array per recording
    recognizer.predict_progress(new_videos)  # one [T] array: progress within the phase, 0-1
    stream = recognizer.stream()             # online models: one step at a time
    label, probabilities, progress = stream.step(features_now)

A recording is an array [T, F] (T steps of F features: tool presence per second, per-frame
visual features, per-epoch EEG features...); labels are any sortable values (phase names or
numbers), one per step. Recordings may have different lengths. One recording given alone as
an array [T, F] (labels [T]) makes the recognizer a plain scikit-learn classifier of its
steps: ``predict`` gives [T], ``predict_proba`` [T, n_classes], ``score`` the accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tsssm.data import PhaseDataset, PhaseSequence, fit_input_scaler, pad_recordings
from tsssm.models import PhaseStreamState
from tsssm.training import (
    PhaseModule,
    SplitDataModule,
    estimator_device,
    estimator_train_config,
    fit,
)

from ._defaults import preset_model_options, preset_optimization
from ._progress import progress

Recordings = Any  # a list of arrays [T_i, F], or one array [T, F]
Labels = Any  # a list of label arrays [T_i], or one array [T]


class PhaseRecognizer(ClassifierMixin, BaseEstimator):
    """Per-step phase classifier and progress regressor over whole recordings.

    Args:
        model: a registered phase model (``tsssm.models.list_models("phase")``):
            ``"phase_ssm"`` (hierarchical SSM), ``"phase_tcn"`` or ``"phase_mlp"``.
        online: causal model (each step sees only the past; can stream) or offline.
        d_model: model width.
        model_options: further options of ``model`` (e.g. ``{"local_window": 16}``), over
            ``default_model_options`` when ``model`` is ``"phase_ssm"``.
        progress_weight: weight of the L1 loss on progress beside cross-entropy.
        max_epochs, batch_size: training (AdamW; ``batch_size`` recordings per step,
            padded to the longest).
        lr, weight_decay: the optimiser's; None takes ``default_optimization``.
        random_state: seed of the weights, dropout and shuffling.
        device: ``"auto"`` (a GPU when one is available, for training and prediction),
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        verbose: 0 silent; 1 progress bars (Lightning's while training, tqdm on long
            scoring); 2 also Lightning's notices and model summary.

    Defaults of ``"phase_ssm"``: one local and three global SSM layers, local window 4, no
    dropout and ``lr`` 7.9e-4 are the best trial of a ``tsssm tune`` study on the bundled
    Sleep-EDF nights (offline, validation accuracy;
    ``benchmarks/tune_estimator_defaults.py --families phase``); width 64 was its choice too.

    Training goes through ``tsssm.training.fit`` (deterministic); there is no validation
    split, so the last epoch is kept.

    Attributes after ``fit``: ``classes_`` [C] (sorted labels), ``n_features_in_`` (F),
    ``module_`` (the trained ``PhaseModule``), ``scaler_`` (per-feature standardisation
    fitted on the training steps).
    """

    default_model_options: ClassVar[dict[str, Any]] = {
        "n_local_layers": 1, "n_global_layers": 3, "local_window": 4, "dropout": 0.0}
    default_optimization: ClassVar[dict[str, float]] = {"lr": 7.9e-4, "weight_decay": 1e-2}

    def __init__(
        self,
        model: str = "phase_ssm",
        online: bool = True,
        d_model: int = 64,
        model_options: dict[str, Any] | None = None,
        progress_weight: float = 0.5,
        max_epochs: int = 30,
        batch_size: int = 4,
        lr: float | None = None,
        weight_decay: float | None = None,
        random_state: int = 0,
        device: str = "auto",
        verbose: int = 1,
    ) -> None:
        self.model = model
        self.online = online
        self.d_model = d_model
        self.model_options = model_options
        self.progress_weight = progress_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def fit(self, X: Recordings, y: Labels) -> PhaseRecognizer:
        """Train on recordings ``X`` (each [T_i, F]) labelled by ``y`` (each [T_i]), or on one
        recording ``X`` [T, F] with labels ``y`` [T]; returns ``self``."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None")
        recordings, labels, _ = self._validated(X, y, reset=True)
        check_classification_targets(np.concatenate(labels))
        self.classes_ = np.unique(np.concatenate(labels))
        if len(self.classes_) < 2:
            raise ValueError(f"y holds 1 class ({self.classes_[0]!r}); phase recognition "
                             "needs at least two")
        sequences = [
            PhaseSequence.build(f"recording{i}", inputs, np.searchsorted(self.classes_, steps),
                                1.0, [f"x{j}" for j in range(self.n_features_in_)])
            for i, (inputs, steps) in enumerate(zip(recordings, labels, strict=True))
        ]
        self.scaler_ = fit_input_scaler(sequences)
        settings = estimator_train_config(
            self.device, max_epochs=self.max_epochs, progress_bar=self.verbose >= 1,
            batch_size=min(self.batch_size, len(sequences)), seed=self.random_state)
        data = SplitDataModule(PhaseDataset(sequences, self.scaler_), None, None,
                               settings.batch_size, self.random_state,
                               collate_fn=pad_recordings)
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.module_ = PhaseModule(
                self.model, {"online": self.online, "d_model": self.d_model,
                             **preset_model_options(self, self.model, "phase_ssm")},
                n_inputs=self.n_features_in_, n_phases=len(self.classes_),
                progress_weight=self.progress_weight,
                optimization=preset_optimization(self), seed=self.random_state,
            )
            fit(self.module_, data, settings, verbose=self.verbose >= 2)
        self.module_.to(estimator_device(self.device)).eval()
        return self

    def _validated(self, X: Recordings, y: Labels | None, reset: bool
                   ) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
        """The recordings (float32 [T_i, F]), their labels (with ``y``, else empty) and
        whether ``X`` was one recording [T, F]; ``reset`` (in ``fit``) records F."""
        if _is_one_recording(X):
            if y is None:
                return [validate_data(self, X, reset=reset, dtype=np.float32)], [], True
            X, y = validate_data(self, X, y, reset=reset, dtype=np.float32)
            return [X], [y], True
        recordings = _recordings(X, "X", None if reset else self.n_features_in_)
        if reset:
            self.n_features_in_ = recordings[0].shape[1]
        if y is None:
            return recordings, [], False
        labels = [np.asarray(labels) for labels in _as_list(y, "y")]
        if len(labels) != len(recordings):
            raise ValueError(f"X has {len(recordings)} recordings but y has {len(labels)}")
        for i, (inputs, steps) in enumerate(zip(recordings, labels, strict=True)):
            if steps.ndim != 1 or len(steps) != len(inputs):
                raise ValueError(f"y[{i}] must hold one label per step of X[{i}] "
                                 f"({len(inputs)}), got shape {steps.shape}")
        return recordings, labels, False

    def _outputs(self, X: Recordings) -> tuple[list[dict[str, torch.Tensor]], bool]:
        check_is_fitted(self)
        recordings, _, single = self._validated(X, None, reset=False)
        outputs = [self.module_.predict_recording(self.scaler_.transform(torch.from_numpy(r)))
                   for r in progress(recordings, "recordings", self.verbose)]
        return outputs, single

    def _per_recording(self, X: Recordings, key: str) -> np.ndarray | list[np.ndarray]:
        outputs, single = self._outputs(X)
        arrays = [o[key].numpy() for o in outputs]
        return arrays[0] if single else arrays

    def predict_proba(self, X: Recordings) -> np.ndarray | list[np.ndarray]:
        """Phase probabilities [T, C] of one recording [T, F], or one such array per
        recording of a list (columns: ``classes_``)."""
        return self._per_recording(X, "probabilities")

    def predict(self, X: Recordings) -> np.ndarray | list[np.ndarray]:
        """Predicted labels [T] of one recording, or one such array per recording."""
        probabilities = self.predict_proba(X)
        if isinstance(probabilities, np.ndarray):
            return self.classes_[probabilities.argmax(-1)]
        return [self.classes_[p.argmax(-1)] for p in probabilities]

    def predict_progress(self, X: Recordings) -> np.ndarray | list[np.ndarray]:
        """Predicted progress within the current phase [T] (0 at a phase's first step, 1 at
        its last) of one recording, or one such array per recording."""
        return self._per_recording(X, "progress")

    def score(self, X: Recordings, y: Labels, sample_weight: ArrayLike | None = None
              ) -> float:
        """Accuracy per recording, averaged over recordings (the surgical-workflow
        convention: a long recording does not outweigh a short one); for one recording,
        scikit-learn's accuracy of its steps (``sample_weight`` [T] weighs them)."""
        predictions = self.predict(X)
        if isinstance(predictions, np.ndarray):
            return float(accuracy_score(y, predictions, sample_weight=sample_weight))
        if sample_weight is not None:
            raise ValueError("sample_weight weighs the steps of one recording; for a list "
                             "of recordings, score each one")
        truths = [np.asarray(labels) for labels in _as_list(y, "y")]
        if len(truths) != len(predictions):
            raise ValueError(f"X has {len(predictions)} recordings but y has {len(truths)}")
        return float(np.mean([np.mean(p == t) for p, t in zip(predictions, truths, strict=True)]))

    def stream(self) -> PhaseStream:
        """A fresh stream over one new recording (online ``phase_ssm`` models only)."""
        check_is_fitted(self)
        return PhaseStream(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class PhaseStream:
    """One recording fed one step at a time to a fitted online :class:`PhaseRecognizer`; each
    step's outputs equal those of ``predict_proba``/``predict_progress`` on the whole
    recording at that step (the scan state is carried, nothing is recomputed)."""

    def __init__(self, recognizer: PhaseRecognizer) -> None:
        model = recognizer.module_.model
        if not hasattr(model, "init_stream"):
            raise TypeError(f"model {recognizer.model!r} cannot stream; use model='phase_ssm'")
        self.recognizer = recognizer
        self.state: PhaseStreamState = model.init_stream(1)  # raises for offline models

    @torch.no_grad()
    def step(self, features: ArrayLike) -> tuple[Any, np.ndarray, float]:
        """``features`` [F] of the next step -> (label, probabilities [C], progress)."""
        recognizer = self.recognizer
        x_t = np.asarray(features, dtype=np.float32)
        if x_t.shape != (recognizer.n_features_in_,) or not np.isfinite(x_t).all():
            raise ValueError(f"a step needs {recognizer.n_features_in_} finite features, got "
                             f"shape {x_t.shape}")
        module = recognizer.module_
        scaled = recognizer.scaler_.transform(torch.from_numpy(x_t))[None].to(module.device)
        outputs = module.model.step(scaled, self.state)
        probabilities = outputs["logits"][0].float().softmax(-1).cpu().numpy()
        progress = float(outputs["progress"][0])
        return recognizer.classes_[probabilities.argmax()], probabilities, progress


def _is_one_recording(X: Any) -> bool:
    """Whether ``X`` is one recording [T, F] (an array-like of at most 2 dimensions, or a
    list of rows of numbers) rather than a list of recordings; a recording of the wrong rank
    is left to scikit-learn's checks and their messages."""
    if isinstance(X, list | tuple):
        return len(X) > 0 and np.ndim(X[0]) <= 1
    return len(X.shape if hasattr(X, "shape") else np.asarray(X).shape) <= 2


def _as_list(values: Any, name: str) -> list[Any]:
    if not isinstance(values, Sequence | np.ndarray) or isinstance(values, str):
        raise ValueError(f"{name} must be a list of recordings, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError(f"{name} is empty: it needs at least one recording")
    return list(values)


def _recordings(X: Any, name: str, n_features: int | None = None) -> list[np.ndarray]:
    """``X`` as float32 arrays [T_i, F] with one F, finite values and T_i >= 1."""
    recordings = [np.asarray(x, dtype=np.float32) for x in _as_list(X, name)]
    width = n_features if n_features is not None else recordings[0].shape[-1]
    for i, x in enumerate(recordings):
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != width:
            raise ValueError(f"{name}[{i}] has shape {x.shape}; every recording must be "
                             f"(steps >= 1, features={width})")
        if not np.isfinite(x).all():
            raise ValueError(f"{name}[{i}] holds NaN or infinite values (first at step "
                             f"{int(np.argwhere(~np.isfinite(x))[0, 0])})")
    return recordings
