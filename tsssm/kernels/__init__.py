"""Compute kernels of tsssm. Imports nothing else of tsssm."""

from .selective_scan import (
    available_backends,
    selective_scan,
    selective_state_update,
)

__all__ = ["available_backends", "selective_scan", "selective_state_update"]
