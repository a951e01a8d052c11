"""Progress bars on the estimators' long loops outside Lightning (scoring, prediction)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

Item = TypeVar("Item")

# Only loops that last: a bar appears once a loop has run this long (seconds).
_DELAY_S = 2.0


def progress(items: Iterable[Item], description: str, verbose: int) -> Iterable[Item]:
    """``items`` with a tqdm bar (shown when ``verbose >= 1`` and the loop runs longer than
    two seconds; cleared at the end)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, disable=verbose < 1, delay=_DELAY_S, leave=False)
