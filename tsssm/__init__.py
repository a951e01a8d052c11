"""tsssm: state-space models for time series and medical signals.

Every public name loads on first use: ``import tsssm`` is instant, ``tsssm.selective_scan``
brings in torch and the compiled kernel, an estimator brings in Lightning and scikit-learn.
"""

from tsssm import _lazy

from ._version import __version__

_PUBLIC = {
    "available_backends": "tsssm.kernels",
    "selective_scan": "tsssm.kernels",
    "selective_state_update": "tsssm.kernels",
    "create_model": "tsssm.models",
    "list_models": "tsssm.models",
    "Forecaster": "tsssm.estimators",
    "SMambaForecaster": "tsssm.estimators",
    "ChimeraForecaster": "tsssm.estimators",
    "WindowClassifier": "tsssm.estimators",
    "FEMBAClassifier": "tsssm.estimators",
    "ChimeraClassifier": "tsssm.estimators",
    "AnomalyDetector": "tsssm.estimators",
    "ChimeraAnomalyDetector": "tsssm.estimators",
    "PhaseRecognizer": "tsssm.estimators",
    "load_run": "tsssm.serving",
}
__all__ = ["__version__", *_PUBLIC]
__getattr__, __dir__ = _lazy.lazy_exports(__name__, _PUBLIC, eager=["__version__"])
