"""Fused CPU 2-D selective scan: the C++ loop of ``csrc/cpu_scan2d.cpp`` behind autograd."""

from __future__ import annotations

import ctypes
import importlib.util

import torch

from ._inputs import Scan2DInputs

_INSTALL_HINT = (
    "the compiled 2-D CPU kernel (tsssm.kernels.scan2d._cpu_scan2d) is not built; "
    "reinstall with a C++ compiler present: pip install --force-reinstall --no-deps ."
)


def _load_library() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("tsssm.kernels.scan2d._cpu_scan2d")
    if spec is None or spec.origin is None:
        return None
    return ctypes.CDLL(spec.origin)


_LIB = _load_library()


def unavailable_reason(device: torch.device) -> str | None:
    """None when the fused kernel can run on ``device``, else why not and what to do."""
    if device.type != "cpu":
        return f"the fused 2-D CPU kernel runs on CPU tensors only (got {device.type})."
    if _LIB is None:
        return _INSTALL_HINT
    return None


def selective_scan_2d_cpu(inputs: Scan2DInputs):
    raise RuntimeError(_INSTALL_HINT)
