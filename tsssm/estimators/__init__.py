"""scikit-learn-style estimators over tsssm's models and training loop."""

from .forecasting import SMambaForecaster

__all__ = ["SMambaForecaster"]
