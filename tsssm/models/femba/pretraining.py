"""FEMBA's self-supervised pre-training: hide random patches, reconstruct them.

A fraction ``mask_ratio`` of the patches of every window (exactly
``round(mask_ratio * G * N)``, at least one) is replaced, after the patch embedding, by a
learned mask token (``masking="token"``), or its samples are set to 0 before it
(``masking="zero"``, the released FEMBA), so nothing of a hidden patch reaches the encoder. A
linear decoder maps every token back to the G patches of its time step (``decoder="linear"``)
or the released FEMBA's convolutional decoder does (``decoder="conv"``, :class:`ConvDecoder`),
and :func:`masked_reconstruction_loss` scores the hidden patches only (Smooth-L1, as in FEMBA).

Departing from the released pre-training, the hidden patches are drawn anew for each window
(the released task hides the same patches in every window of a batch).
"""

from __future__ import annotations

from collections.abc import Callable

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


class ConvDecoder(nn.Module):
    """The released FEMBA's decoder: tokens [B, N, D] -> samples [B, G * pc, N * pt].

    One ``kernel`` 2-D convolution (1 -> 1 map, no bias, size kept) over the N × D grid of
    token features, then each patch's E features (split from its token as the encoder joined
    them) are mapped to its ``pc × pt`` samples by a transposed convolution of stride
    ``(pc, pt)`` (a linear map per patch, one bias shared by every sample).
    """

    def __init__(self, encoder: FEMBAEncoder, kernel: tuple[int, int]) -> None:
        super().__init__()
        patch = encoder.patch_embed
        self.token_conv = nn.Conv2d(1, 1, kernel, padding=(kernel[0] // 2, kernel[1] // 2),
                                    bias=False)
        self.patch_conv = nn.ConvTranspose2d(encoder.config.embed_dim, 1,
                                             (patch.patch_chans, patch.patch_times),
                                             stride=(patch.patch_chans, patch.patch_times))

    def forward(self, tokens: torch.Tensor,
                split_tokens: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``tokens`` [B, N, D] -> [B, G * pc, N * pt]; ``split_tokens`` is the encoder's
        :meth:`~FEMBAEncoder.split_tokens` ([B, N, D] -> [B, G, N, E])."""
        mixed = self.token_conv(tokens[:, None])[:, 0]  # [B, N, D]
        patches = split_tokens(mixed).permute(0, 3, 1, 2)  # [B, E, G, N]
        return self.patch_conv(patches)[:, 0]


@register_model("femba_pretrain", FEMBAPretrainConfig, task="pretraining",
                example={"embed_dim": 8, "n_blocks": 1, "patch_times": 8, "d_state": 4,
                         "expand": 2})
class FEMBAPretrain(nn.Module):
    """Encoder, mask token (``masking="token"``) and decoder for masked-patch reconstruction.

    ``forward(x [B, C, T], patch_mask=None)`` -> ``reconstruction`` [B, C, T], ``mask``
    [B, C, T] (bool, True on hidden samples) and ``patch_mask`` [B, G, N] (bool, True on
    hidden patches). Train with ``masked_reconstruction_loss(out["reconstruction"], x,
    out["mask"])``; fine-tune a classifier from :attr:`encoder`'s weights.
    """

    def __init__(self, config: FEMBAPretrainConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FEMBAEncoder(config)
        if config.masking == "token":
            self.mask_token = nn.Parameter(torch.zeros(config.embed_dim))
            nn.init.trunc_normal_(self.mask_token, std=0.02)
        patch = self.encoder.patch_embed
        if config.decoder == "linear":
            self.decoder = nn.Linear(self.encoder.d_model,
                                     self.encoder.n_groups * patch.patch_size)
        else:
            self.decoder = ConvDecoder(self.encoder, config.decoder_kernel)

    def random_patch_mask(self, batch: int, generator: torch.Generator | None = None
                          ) -> torch.Tensor:
        """Bool [batch, G, N]: exactly ``round(mask_ratio * G * N)`` (at least one) patches
        of each window, drawn uniformly without replacement, are True."""
        groups, tokens = self.encoder.n_groups, self.encoder.n_tokens
        n_patches = groups * tokens
        n_hidden = max(1, round(self.config.mask_ratio * n_patches))
        device = self.encoder.pos_embed.device
        scores = torch.rand(batch, n_patches, generator=generator,
                            device=generator.device if generator is not None else device)
        ranks = scores.argsort(dim=1).argsort(dim=1).to(device)  # a random permutation per row
        return (ranks < n_hidden).reshape(batch, groups, tokens)

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``x`` [B, C, T]; ``patch_mask`` bool [B, G, N] or None (drawn by
        :meth:`random_patch_mask` with ``generator``) -> outputs (see the class docstring)."""
        self.encoder.check_windows(x)
        patch = self.encoder.patch_embed
        grid = patch.grid(*x.shape[1:])
        if patch_mask is None:
            patch_mask = self.random_patch_mask(x.shape[0], generator)
        elif patch_mask.shape != (x.shape[0], *grid) or patch_mask.dtype != torch.bool:
            raise ValueError(f"FEMBAPretrain: `patch_mask` must be bool of shape "
                             f"{(x.shape[0], *grid)} (batch, channel groups, time "
                             f"patches), got {patch_mask.dtype} {tuple(patch_mask.shape)}")
        n_chans, n_times = x.shape[1:]
        sample_mask = patch.unpatchify(
            patch_mask[..., None].expand(-1, -1, -1, patch.patch_size), n_chans, n_times)
        if self.config.masking == "zero":
            patches = patch(x.masked_fill(sample_mask, 0.0))  # [B, G, N, E]
        else:
            patches = torch.where(patch_mask[..., None], self.mask_token.to(x.dtype), patch(x))
        tokens = self.encoder.encode_patches(patches)  # [B, N, D]
        if self.config.decoder == "linear":
            batch, n_tokens, _ = tokens.shape
            decoded = self.decoder(tokens).reshape(batch, n_tokens, self.encoder.n_groups, -1)
            reconstruction = patch.unpatchify(decoded.transpose(1, 2), n_chans, n_times)
        else:  # the padded grid is cut off
            reconstruction = self.decoder(tokens, self.encoder.split_tokens)[
                :, :n_chans, :n_times]
        return {"reconstruction": reconstruction, "mask": sample_mask, "patch_mask": patch_mask}


class FEMBAReconstructor(nn.Module):
    """A :class:`FEMBAPretrain` (``self.pretrain``) as a plain module: ``forward(x [B, C, T],
    patch_mask=None)`` -> reconstruction [B, C, T], hiding the patches of ``patch_mask``
    (bool [B, G, N]) or none (the released FEMBA called with an all-False mask)."""

    def __init__(self, pretrain: FEMBAPretrain) -> None:
        super().__init__()
        self.pretrain = pretrain

    def forward(self, x: torch.Tensor, patch_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, C, T] -> reconstruction [B, C, T]."""
        if patch_mask is None:
            self.pretrain.encoder.check_windows(x)
            grid = self.pretrain.encoder.patch_embed.grid(*x.shape[1:])
            patch_mask = torch.zeros(x.shape[0], *grid, dtype=torch.bool, device=x.device)
        return self.pretrain(x, patch_mask)["reconstruction"]
