"""Loading tsssm's compiled kernel libraries (plain C++, called through ctypes) and the
instruction sets they are built for."""

from __future__ import annotations

import ctypes
import importlib.util

#: The kernels' instruction sets, by the number every library knows them by.
ISAS = ("generic", "avx2", "avx512")


def load_library(module: str, abi_function: str, abi_version: int) -> ctypes.CDLL | None:
    """The shared library of extension ``module``, or None when it is not built or was built
    from sources with another C interface (``abi_function()`` is not ``abi_version``: calling
    it would be wrong)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    version = getattr(lib, abi_function, None)
    if version is None or version() != abi_version:
        return None
    return lib


def supported_isas(lib: ctypes.CDLL | None, isa_supported: str) -> list[str]:
    """The :data:`ISAS` that this CPU can run with ``lib`` (its ``isa_supported(code)``
    function says); empty when ``lib`` is None."""
    if lib is None:
        return []
    check = getattr(lib, isa_supported)
    check.argtypes, check.restype = [ctypes.c_int], ctypes.c_int
    return [name for code, name in enumerate(ISAS) if check(code)]
