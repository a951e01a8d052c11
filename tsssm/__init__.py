"""tsssm: state-space models for time series and medical signals.

The kernel functions load with the package; the models and estimators (which bring in
Lightning and scikit-learn) load the first time one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .kernels import available_backends, selective_scan, selective_state_update

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "create_model": "tsssm.models",
    "list_models": "tsssm.models",
    "SMambaForecaster": "tsssm.estimators",
    "PhaseRecognizer": "tsssm.estimators",
    "FEMBAClassifier": "tsssm.estimators",
    "WindowClassifier": "tsssm.estimators",
}

__all__ = ["__version__", "available_backends", "selective_scan", "selective_state_update",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later uses skip this function
        return value
    raise AttributeError(f"module 'tsssm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
