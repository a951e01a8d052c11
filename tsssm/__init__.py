"""tsssm: state-space models for time series and medical signals."""

from ._version import __version__
from .kernels import available_backends, selective_scan, selective_state_update

__all__ = ["__version__", "available_backends", "selective_scan", "selective_state_update"]
