"""Preset defaults of the estimators: model options, optimiser and training settings that
apply when a preset's own model is used and the user leaves them unset.

Each preset (``SMambaForecaster``, ``FEMBAClassifier``, ``PhaseRecognizer``...) declares
``default_model_options``, ``default_optimization`` and (window classifiers)
``default_training`` as class variables; where they came
from (a ``tsssm tune`` study on the family's bundled data, validation split only) is said in
the preset's docstring and in the README's tuning section.
"""

from __future__ import annotations

from typing import Any

from ..training.module import optimization_dict

# What every estimator trains with when neither the user nor its preset says otherwise.
BASE_OPTIMIZATION: dict[str, float] = {"lr": 1e-3, "weight_decay": 1e-2}
# What a window classifier trains for when neither the user nor its preset says otherwise
# (``n_models``: how many models, differently seeded, are trained and averaged).
BASE_TRAINING: dict[str, int] = {"max_epochs": 10, "batch_size": 32, "n_models": 1}


def preset_model_options(estimator: Any, model: str | None, default_model: str | None
                         ) -> dict[str, Any]:
    """``estimator``'s ``model_options`` over its preset's ``default_model_options``; the
    preset's apply only to its own model (``model`` None or ``default_model``)."""
    own = model is None or model == default_model
    defaults = getattr(estimator, "default_model_options", {}) if own else {}
    return {**defaults, **(estimator.model_options or {})}


def preset_optimization(estimator: Any) -> dict[str, Any]:
    """The optimiser settings (``tsssm.training`` ``Optimization`` fields, checked): the
    estimator's ``lr`` and ``weight_decay`` where set (not None), else its class's
    ``default_optimization``, else :data:`BASE_OPTIMIZATION`."""
    settings = {**BASE_OPTIMIZATION, **getattr(estimator, "default_optimization", {})}
    for name in ("lr", "weight_decay"):
        value = getattr(estimator, name)
        if value is not None:
            settings[name] = value
    return optimization_dict(**settings)


def preset_training(estimator: Any) -> dict[str, int]:
    """The training length, batch and ensemble size: the estimator's ``max_epochs``,
    ``batch_size`` and ``n_models`` where set (not None), else its class's
    ``default_training``, else :data:`BASE_TRAINING`. Returns ``{"max_epochs": int,
    "batch_size": int, "n_models": int}`` (values unchecked)."""
    settings = {**BASE_TRAINING, **getattr(estimator, "default_training", {})}
    for name in BASE_TRAINING:
        value = getattr(estimator, name)
        if value is not None:
            settings[name] = value
    return settings
