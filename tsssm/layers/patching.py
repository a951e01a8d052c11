"""Patches over channels × time: cut windows into rectangles, embed them, put them back.

A window ``[batch, n_chans, n_times]`` is zero-padded at its ends up to whole patches and cut
into ``patch_chans × patch_times`` rectangles laid on a grid of ``chan_groups × time_patches``
(``chan_groups = ceil(n_chans / patch_chans)``, ``time_patches = ceil(n_times / patch_times)``).
Embedding each rectangle with one linear map is the strided 2-D convolution of ViT-style
tokenizers (FEMBA's 2 × 16 EEG patches).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed2d(nn.Module):
    """Linear embedding of ``patch_chans × patch_times`` patches.

    ``forward(x [batch, n_chans, n_times])`` -> ``[batch, chan_groups, time_patches,
    embed_dim]``. :meth:`patchify` and :meth:`unpatchify` convert between windows and raw
    patches ``[batch, chan_groups, time_patches, patch_chans * patch_times]`` (the targets of a
    masked-patch reconstruction).

    Args:
        patch_chans, patch_times: patch height (channels) and width (samples).
        embed_dim: width of each patch's embedding.
    """

    def __init__(
        self,
        patch_chans: int,
        patch_times: int,
        embed_dim: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("patch_chans", patch_chans), ("patch_times", patch_times),
                            ("embed_dim", embed_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PatchEmbed2d: `{name}` must be a positive integer, "
                                 f"got {value!r}")
        self.patch_chans, self.patch_times = patch_chans, patch_times
        self.patch_size = patch_chans * patch_times
        self.proj = nn.Linear(self.patch_size, embed_dim, device=device, dtype=dtype)

    def grid(self, n_chans: int, n_times: int) -> tuple[int, int]:
        """``(chan_groups, time_patches)`` of a ``n_chans × n_times`` window."""
        return math.ceil(n_chans / self.patch_chans), math.ceil(n_times / self.patch_times)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> patches [batch, chan_groups, time_patches,
        patch_chans * patch_times] (zero-padded at the last channels and samples)."""
        if x.dim() != 3:
            raise ValueError(f"PatchEmbed2d: `x` has shape {tuple(x.shape)}; it needs "
                             "(batch, n_chans, n_times)")
        batch, n_chans, n_times = x.shape
        groups, patches = self.grid(n_chans, n_times)
        x = F.pad(x, (0, patches * self.patch_times - n_times,
                      0, groups * self.patch_chans - n_chans))
        x = x.reshape(batch, groups, self.patch_chans, patches, self.patch_times)
        return x.permute(0, 1, 3, 2, 4).reshape(batch, groups, patches, self.patch_size)

    def unpatchify(self, patches: torch.Tensor, n_chans: int, n_times: int) -> torch.Tensor:
        """Inverse of :meth:`patchify`: [batch, chan_groups, time_patches, patch_chans *
        patch_times] -> [batch, n_chans, n_times] (the padding is cut off)."""
        batch, groups, n_patches, size = patches.shape
        if (groups, n_patches) != self.grid(n_chans, n_times) or size != self.patch_size:
            raise ValueError(
                f"PatchEmbed2d.unpatchify: patches of shape {tuple(patches.shape)} do not tile "
                f"a {n_chans} × {n_times} window (grid {self.grid(n_chans, n_times)}, "
                f"patch size {self.patch_size})"
            )
        x = patches.reshape(batch, groups, n_patches, self.patch_chans, self.patch_times)
        x = x.permute(0, 1, 3, 2, 4).reshape(batch, groups * self.patch_chans,
                                             n_patches * self.patch_times)
        return x[:, :n_chans, :n_times]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_chans, n_times] -> [batch, chan_groups, time_patches, embed_dim]."""
        return self.proj(self.patchify(x))
