"""FEMBA's self-supervised pre-training: hide random patches, reconstruct them.

A fraction ``mask_ratio`` of the patches of every window (exactly
``round(mask_ratio * G * N)``, at least one) is replaced, after the patch embedding, by a
learned mask token, so nothing of a hidden patch reaches the encoder. A linear decoder maps
every token back to the G patches of its time step, and :func:`masked_reconstruction_loss`
scores the hidden patches only (Smooth-L1, as in FEMBA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._registry import register_model
from .config import FEMBAPretrainConfig
from .encoder import FEMBAEncoder


def masked_reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor,
                               mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Smooth-L1 between ``reconstruction`` and ``target`` [B, C, T], averaged over the
    samples where the bool ``mask`` [B, C, T] is True (the hidden patches); the others play
    no part. ``beta`` is where Smooth-L1 turns from quadratic to linear."""
    if reconstruction.shape != target.shape or mask.shape != target.shape:
        raise ValueError(
            "masked_reconstruction_loss: `reconstruction`, `target` and `mask` need one shape, "
            f"got {tuple(reconstruction.shape)}, {tuple(target.shape)} and {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"masked_reconstruction_loss: `mask` must be bool, got {mask.dtype}")
    if not bool(mask.any()):
        raise ValueError("masked_reconstruction_loss: `mask` hides nothing; there is no "
                         "masked patch to score")
    return F.smooth_l1_loss(reconstruction[mask], target[mask], beta=beta)


@register_model("femba_pretrain", FEMBAPretrainConfig, task="pretraining")
class FEMBAPretrain(nn.Module):
    """Encoder, mask token and linear decoder for masked-patch reconstruction.

    ``forward(x [B, C, T], patch_mask=None)`` -> ``reconstruction`` [B, C, T], ``mask``
    [B, C, T] (bool, True on hidden samples) and ``patch_mask`` [B, G, N] (bool, True on
    hidden patches). Train with ``masked_reconstruction_loss(out["reconstruction"], x,
    out["mask"])``; fine-tune a classifier from :attr:`encoder`'s weights.
    """

    def __init__(self, config: FEMBAPretrainConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FEMBAEncoder(config)
        self.mask_token = nn.Parameter(torch.zeros(config.embed_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        patch = self.encoder.patch_embed
        self.decoder = nn.Linear(self.encoder.d_model, self.encoder.n_groups * patch.patch_size)

    def random_patch_mask(self, batch: int, generator: torch.Generator | None = None
                          ) -> torch.Tensor:
        """Bool [batch, G, N]: exactly ``round(mask_ratio * G * N)`` (at least one) patches
        of each window, drawn uniformly without replacement, are True."""
        groups, tokens = self.encoder.n_groups, self.encoder.n_tokens
        n_patches = groups * tokens
        n_hidden = max(1, round(self.config.mask_ratio * n_patches))
        device = self.mask_token.device
        scores = torch.rand(batch, n_patches, generator=generator,
                            device=generator.device if generator is not None else device)
        ranks = scores.argsort(dim=1).argsort(dim=1).to(device)  # a random permutation per row
        return (ranks < n_hidden).reshape(batch, groups, tokens)

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``x`` [B, C, T]; ``patch_mask`` bool [B, G, N] or None (drawn by
        :meth:`random_patch_mask` with ``generator``) -> outputs (see the class docstring)."""
        patches = self.encoder.embed(x)  # [B, G, N, E]
        if patch_mask is None:
            patch_mask = self.random_patch_mask(x.shape[0], generator)
        elif patch_mask.shape != patches.shape[:3] or patch_mask.dtype != torch.bool:
            raise ValueError(f"FEMBAPretrain: `patch_mask` must be bool of shape "
                             f"{tuple(patches.shape[:3])} (batch, channel groups, time "
                             f"patches), got {patch_mask.dtype} {tuple(patch_mask.shape)}")
        patches = torch.where(patch_mask[..., None], self.mask_token.to(patches.dtype), patches)
        tokens = self.encoder.encode_patches(patches)  # [B, N, D]
        batch, n_tokens, _ = tokens.shape
        decoded = self.decoder(tokens).reshape(batch, n_tokens, self.encoder.n_groups, -1)
        patch = self.encoder.patch_embed
        n_chans, n_times = x.shape[1:]
        sample_mask = patch_mask[..., None].expand(-1, -1, -1, patch.patch_size)
        return {
            "reconstruction": patch.unpatchify(decoded.transpose(1, 2), n_chans, n_times),
            "mask": patch.unpatchify(sample_mask, n_chans, n_times),
            "patch_mask": patch_mask,
        }
