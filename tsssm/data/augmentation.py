"""Random augmentation of training windows with MONAI's signal transforms, configured as data
(``{"name": "SignalRandScale", "prob": 0.5, "boundaries": [0.9, 1.1]}``) and seeded per window
and epoch, so a run (and a resumed run) draws the same augmentations every time.

Transforms (``monai.transforms``; each takes a window [C, T], the same draw for all channels):

- ``SignalRandScale(boundaries)``: multiply by a factor drawn in ``boundaries``.
- ``SignalRandAddGaussianNoise(boundaries)``: add noise of a standard deviation drawn there.
- ``SignalRandDrop(boundaries)``: zero a random stretch of that fraction of the window.
- ``SignalRandAddSine(boundaries, frequencies)``, ``SignalRandAddSquarePulse(...)``: add a
  slow sine / square wave (frequencies in cycles per sample).

Left out: ``SignalRandShift`` (on a [C, T] window it shifts the channel axis too: it passes
one scalar shift to ``scipy.ndimage.shift``) and ``SignalRemoveFrequency`` (needs torchaudio).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from monai.transforms import RandomizableTransform

AUGMENTATIONS = (
    "SignalRandScale",
    "SignalRandAddGaussianNoise",
    "SignalRandDrop",
    "SignalRandAddSine",
    "SignalRandAddSquarePulse",
)


class SignalAugmentation:
    """A chain of MONAI signal transforms, each applied with its own probability.

    Args:
        specs: ``[{"name": one of AUGMENTATIONS, "prob": p in [0, 1] (default 1), **the
            transform's arguments}, ...]``, applied in order.

    Raises:
        ValueError: an unknown name, a bad ``prob`` or an argument the transform lacks (the
            message names the entry).
    """

    def __init__(self, specs: Sequence[Mapping[str, Any]]) -> None:
        self.specs = [dict(spec) for spec in specs]
        self.steps: list[tuple[RandomizableTransform, float]] = []
        for number, spec in enumerate(self.specs):
            self.steps.append(_build(spec, f"augment[{number}]"))

    def __len__(self) -> int:
        return len(self.steps)

    def __call__(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Window ``x`` float32 [C, T] -> augmented float32 [C, T] (``x`` is left as it
        was); the draws depend on ``seed`` only (MONAI's generators and torch's, forked so
        that the caller's global torch RNG is left as it was)."""
        rng = np.random.default_rng(seed)
        # A copy: SignalRandDrop writes into its input, which would be the dataset's window.
        x = x.clone()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            for transform, prob in self.steps:
                draw = int(rng.integers(2**31 - 1))
                if rng.random() < prob:
                    transform.set_random_state(seed=draw)
                    # reshape: SignalRandDrop returns a one-channel window as [T]
                    x = torch.as_tensor(transform(x), dtype=torch.float32).reshape(x.shape)
        return x


def _build(spec: dict[str, Any], where: str) -> tuple[RandomizableTransform, float]:
    # Imported here: monai takes over a second to import, and most runs do not augment.
    from monai import transforms

    options = dict(spec)
    name = options.pop("name", None)
    if name not in AUGMENTATIONS:
        raise ValueError(f"{where}: unknown augmentation {name!r}; choose one of "
                         f"{list(AUGMENTATIONS)} (MONAI signal transforms)")
    prob = options.pop("prob", 1.0)
    if isinstance(prob, bool) or not isinstance(prob, int | float) or not 0 <= prob <= 1:
        raise ValueError(f"{where}: prob must be a number in [0, 1], not {prob!r}")
    cls = getattr(transforms, name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: {name} has no arguments {unknown}; its arguments are "
                         f"{allowed}")
    try:
        return cls(**options), float(prob)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {name}({options}) failed: {error}") from None
