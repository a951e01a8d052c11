"""scikit-learn-style estimators over tsssm's models and training loop."""

from .classification import FEMBAClassifier, WindowClassifier
from .forecasting import SMambaForecaster
from .phase import PhaseRecognizer, PhaseStream

__all__ = [
    "FEMBAClassifier",
    "PhaseRecognizer",
    "PhaseStream",
    "SMambaForecaster",
    "WindowClassifier",
]
