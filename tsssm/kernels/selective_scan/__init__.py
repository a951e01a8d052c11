"""The selective scan shared by every tsssm model (one op, one folder).

- ``reference.py``: the recurrence as a plain loop, the specification.
- ``cpu.py`` + ``csrc/cpu_scan.cpp``: the fused C++ CPU kernel with a hand-written backward.
- ``chunked.py``: pure PyTorch for any device.
- ``triton_scan.py``: forward and backward Triton kernels for GPUs.
- ``step.py``: one recurrent step, for streaming inference.
- ``api.py``: the public function, input validation and backend choice.
"""

from .api import BACKENDS, available_backends, resolve_backend, selective_scan
from .step import selective_state_update

__all__ = [
    "BACKENDS",
    "available_backends",
    "resolve_backend",
    "selective_scan",
    "selective_state_update",
]
