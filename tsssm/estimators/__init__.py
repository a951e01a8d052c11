"""scikit-learn-style estimators: one generic estimator per task, thin presets per model.

    Forecaster            SMambaForecaster, ChimeraForecaster          series -> forecasts
    WindowClassifier      FEMBAClassifier, ChimeraClassifier           windows -> classes
    AnomalyDetector       ChimeraAnomalyDetector                       series -> step scores
    PhaseRecognizer                                                    recordings -> phases

Every one trains through ``tsssm.training.fit`` (deterministic, the best validation epoch
kept when there is validation data) and takes a ``device``.
"""

from .anomaly import AnomalyDetector, ChimeraAnomalyDetector
from .classification import ChimeraClassifier, FEMBAClassifier, WindowClassifier
from .forecasting import ChimeraForecaster, Forecaster, SMambaForecaster
from .phase import PhaseRecognizer, PhaseStream

__all__ = [
    "AnomalyDetector",
    "ChimeraAnomalyDetector",
    "ChimeraClassifier",
    "ChimeraForecaster",
    "FEMBAClassifier",
    "Forecaster",
    "PhaseRecognizer",
    "PhaseStream",
    "SMambaForecaster",
    "WindowClassifier",
]
