"""Test-session set-up shared by every test.

Triton kernels run on the CPU through Triton's interpreter, which reads TRITON_INTERPRET when
triton is first imported, so it is set here, before any test module imports tsssm.

The tests train many tiny models. On a small CPU, PyTorch's intra-op threads cost more than
they give at those sizes, and on a busy machine two threads stall each other (measured 10-100x
slower steps here), so the session uses one thread unless TSSSM_TEST_THREADS says otherwise.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

torch.set_num_threads(int(os.environ.get("TSSSM_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _no_run_dir_from_an_earlier_test() -> None:
    """A run started in this process names its folder in TSSSM_RUN_DIR (for the processes
    DDP starts); each test starts without the folder of an earlier test's run."""
    os.environ.pop("TSSSM_RUN_DIR", None)
