"""Test-session set-up shared by every test.

Triton kernels run on the CPU through Triton's interpreter, which reads TRITON_INTERPRET when
triton is first imported, so it is set here, before any test module imports tsssm.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
