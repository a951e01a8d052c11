"""The optional time-series packages (aeon, sktime): importing them with an install hint,
and finding the data sets they ship without importing them."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

INSTALL_HINT = 'pip install "tsssm[timeseries-datasets]"'


def import_aeon(module: str, what: str) -> ModuleType:
    """Import ``module`` of the optional dependency aeon, or say how to install it.

    Raises:
        ImportError: aeon is not installed; the message names ``what`` needs it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{what} needs aeon: {INSTALL_HINT}") from error


def shipped_data_dir(package: str) -> Path | None:
    """``<package>/datasets/data`` of an installed aeon or sktime (located, not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / "data"
