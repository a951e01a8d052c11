"""What the estimators share about Lightning."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Silence Lightning's start-up notices (devices, tips) unless ``verbose``."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
