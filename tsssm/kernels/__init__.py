"""Compute kernels of tsssm. Imports nothing else of tsssm."""

from .scan2d import selective_scan_2d
from .selective_scan import (
    available_backends,
    selective_scan,
    selective_state_update,
)

__all__ = ["available_backends", "selective_scan", "selective_scan_2d", "selective_state_update"]
