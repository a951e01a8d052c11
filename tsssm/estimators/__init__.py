"""scikit-learn-style estimators over tsssm's models and training loop."""

from .chimera import ChimeraAnomalyDetector, ChimeraClassifier, ChimeraForecaster
from .classification import FEMBAClassifier, WindowClassifier
from .forecasting import SMambaForecaster
from .phase import PhaseRecognizer, PhaseStream

__all__ = [
    "ChimeraAnomalyDetector",
    "ChimeraClassifier",
    "ChimeraForecaster",
    "FEMBAClassifier",
    "PhaseRecognizer",
    "PhaseStream",
    "SMambaForecaster",
    "WindowClassifier",
]
