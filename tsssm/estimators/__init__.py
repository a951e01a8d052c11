"""scikit-learn and sktime estimators: one generic estimator per task, thin presets per model.

    Forecaster            SMambaForecaster, ChimeraForecaster          series -> forecasts (sktime)
    WindowClassifier      FEMBAClassifier, ChimeraClassifier           windows -> classes
    AnomalyDetector       ChimeraAnomalyDetector                       series -> step scores
    PhaseRecognizer                                                    recordings -> phases

Every one trains through ``tsssm.training.fit`` (deterministic, the best validation epoch
kept when there is validation data), takes a ``device`` (``"auto"``: a GPU when one is
available) and a ``verbose`` level (1, the default: progress bars; 0: silent). Names load on
first use: the forecasters need sktime (``pip install 'tsssm[sktime]'``), the others do not.
"""

from tsssm._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AnomalyDetector": ".anomaly",
    "ChimeraAnomalyDetector": ".anomaly",
    "ChimeraClassifier": ".classification",
    "FEMBAClassifier": ".classification",
    "WindowClassifier": ".classification",
    "ChimeraForecaster": ".forecasting",
    "Forecaster": ".forecasting",
    "SMambaForecaster": ".forecasting",
    "PhaseRecognizer": ".phase",
    "PhaseStream": ".phase",
})
