"""Dropout with counter-based masks on the CPU: ``dropout(x, p, training)``.

Why not ``torch.nn.functional.dropout``: on the CPU it draws one Bernoulli number per element
from a scalar Mersenne Twister, about 10 ns an element on the machines this was written on
(6 ms for the 0.7 M cells of one of Chimera's ETTh1 feed-forward batches, seven calls a step;
`benchmarks/dropout_speed.py`). Here element ``i`` is kept when a keyed 32-bit hash of ``(seed, i)``
clears ``p``, computed in vector registers in the C++ library ``_cpu_dropout`` (see
``csrc/cpu_dropout.cpp``); one seed is drawn per call from torch's default generator, so
``torch.manual_seed`` (and Lightning's seeding) makes runs repeat. The backward recomputes the
mask from the seed instead of saving one, so a dropout keeps no mask in memory.

The same distribution as torch's (each element kept with probability ``1 - p``, independently,
and scaled by ``1 / (1 - p)``), not the same draws. Elsewhere (CUDA, dtypes other than
float32, or without the compiled library) it is ``torch.nn.functional.dropout``.
"""

from __future__ import annotations

import ctypes

import torch
import torch.nn.functional as F

from .._native import ISAS, load_library
from .._native import supported_isas as _supported_isas

__all__ = ["dropout", "dropout_mask_op", "fast_path_available"]

# False: every dropout is torch's (benchmarks set it to compare the two in one process).
FAST_PATH = True

# The version of the C interface these bindings call (``tsssm_dropout_abi_version``).
ABI_VERSION = 1
# Instruction set to run, one of ISAS; None: the widest this CPU supports (tests set others).
ISA: str | None = None
_SEED_LIMIT = 2**63 - 1


def _load_library() -> ctypes.CDLL | None:
    lib = load_library("tsssm.kernels.dropout._cpu_dropout", "tsssm_dropout_abi_version",
                       ABI_VERSION)
    if lib is None:
        return None
    lib.tsssm_dropout.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                  ctypes.c_uint64, ctypes.c_uint32, ctypes.c_float,
                                  ctypes.c_int, ctypes.c_int]
    lib.tsssm_dropout.restype = ctypes.c_int
    return lib


_LIB = _load_library()


def fast_path_available() -> bool:
    """Whether the compiled CPU dropout is built (else :func:`dropout` is torch's)."""
    return _LIB is not None


def supported_isas() -> list[str]:
    """The instruction sets of ``ISAS`` this CPU can run (empty if the library is not built)."""
    return _supported_isas(_LIB, "tsssm_dropout_isa_supported")


def _isa_code() -> int:
    if ISA is None:
        return -1
    if ISA not in supported_isas():
        raise ValueError(f"dropout.ISA = {ISA!r}: this CPU supports {supported_isas()}")
    return ISAS.index(ISA)


def _apply_mask(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """``x`` (float32, CPU) with the elements that ``seed`` drops zeroed and the others scaled
    by ``1 / (1 - p)``; the implementation of ``tsssm::dropout``."""
    x = x.contiguous()
    out = torch.empty_like(x)
    threshold = min(round(p * 2**32), 2**32 - 1)
    status = _LIB.tsssm_dropout(x.data_ptr(), out.data_ptr(), x.numel(), seed, threshold,
                                1.0 / (1.0 - p), _isa_code(), torch.get_num_threads())
    if status != 0:
        raise RuntimeError(f"tsssm dropout kernel refused a tensor of {x.numel()} elements")
    return out


dropout_mask_op = torch.library.custom_op(
    "tsssm::dropout", _apply_mask, mutates_args=(), device_types="cpu"
)


@dropout_mask_op.register_fake
def _(x, p, seed):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output) -> None:
    _, ctx.p, ctx.seed = inputs


def _backward(ctx, grad):
    # The same elements dropped, the same scale: the mask is a function of the seed.
    return dropout_mask_op(grad, ctx.p, ctx.seed), None, None


dropout_mask_op.register_autograd(_backward, setup_context=_setup_context)


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout(x, p, training)`` in distribution: in training each
    element of ``x`` (any shape) is zeroed with probability ``p`` and the rest scaled by ``1
    / (1 - p)``; outside training, or with ``p`` 0, ``x`` itself. Float32 CPU tensors take the
    compiled counter-based mask (module docstring); anything else torch's own dropout."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must lie in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if (p == 1.0 or not FAST_PATH or _LIB is None or x.device.type != "cpu"
            or x.dtype != torch.float32):
        return F.dropout(x, p, training=True)
    seed = int(torch.randint(_SEED_LIMIT, (), dtype=torch.int64))
    return dropout_mask_op(x, float(p), seed)
