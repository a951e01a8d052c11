"""One streaming API for every model that can run online.

A streaming model has ``init_stream(batch) -> state`` (a zero state for ``batch`` streams
side by side) and ``step(x, state) -> output`` (the next piece of each stream; ``state`` is
updated in place). Its pieces are what its task advances by: one step ``[B, F]`` for phase
recognition, one window ``[B, C, T]`` for FEMBA. The outputs of consecutive steps equal the
offline pass over the pieces joined (``forward`` over a recording for phase models,
``forward_recording`` for FEMBA); ``tests/models/test_contract.py`` checks it for every
registered model that streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch


class StreamingModel:
    """Mixin: :meth:`stream` over the ``init_stream(batch)`` / ``step(x, state)`` pair that
    the class defines (the marker :func:`is_streaming` looks for)."""

    init_stream: Callable[[int], Any]
    step: Callable[[torch.Tensor, Any], Any]

    @torch.no_grad()
    def stream(self, pieces: Iterable[torch.Tensor]) -> Iterator[Any]:
        """The output of :meth:`step` for each piece of ``pieces`` in turn, from a fresh
        state sized by the first piece's batch. Inference only (no gradients), so memory
        stays that of one piece."""
        state = None
        for piece in pieces:
            if state is None:
                state = self.init_stream(piece.shape[0] if isinstance(piece, torch.Tensor)
                                         else 1)
            yield self.step(piece, state)


def is_streaming(model: object) -> bool:
    """Whether ``model`` implements the streaming API (and is built to stream)."""
    return isinstance(model, StreamingModel) and getattr(
        getattr(model, "config", None), "online", True)
