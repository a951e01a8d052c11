"""FEMBA classifiers (task "classification"): the encoder plus a small head, fine-tuned from a
pre-trained encoder when one is at hand.

``forward(x [B, C, T]) -> logits [B, n_outputs]`` (per channel for the released FEMBA's
multi-output types, see :class:`~tsssm.models.femba.config.FEMBAConfig`). Two heads, as in the
paper:

- ``femba``: the mean of the tokens, then one linear layer.
- ``femba_mamba_head``: tokens projected to ``head_dim``, GELU, one Mamba mixer across the
  tokens of the window, their mean, then one linear layer (the released FEMBA's
  ``MambaClassifier``, which has no dropout: set ``dropout=0``).

Encoders are initialised from a tsssm pre-training checkpoint or from one BioFoundation
releases (see :func:`load_pretrained_encoder`).

:meth:`FEMBAClassifierModel.stream` scores a long recording window by window in one pass (see
:mod:`tsssm.models.femba.encoder` for what the carried state means); the head reads each
window's tokens on their own.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.layers import Dropout, MambaMixer

from .._registry import register_model
from ..streaming import StreamingModel
from .checkpoints import (
    Checkpoint,
    encoder_tensors,
    is_biofoundation,
    load_matching,
    read_state_dict,
)
from .config import BIOFOUNDATION_ARCHITECTURE, FEMBAConfig, FEMBAMambaHeadConfig
from .encoder import FEMBAEncoder, FEMBAStreamState


class LinearHead(nn.Module):
    """Tokens [B, N, D] -> logits [B, n_outputs]: mean over tokens, dropout, linear."""

    def __init__(self, d_model: int, n_outputs: int, dropout: float) -> None:
        super().__init__()
        self.dropout = Dropout(dropout)
        self.linear = nn.Linear(d_model, n_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(tokens.mean(dim=1)))


class MambaHead(nn.Module):
    """Tokens [B, N, D] -> logits [B, n_outputs]: linear to ``head_dim`` and GELU, one Mamba
    mixer across the tokens, mean over tokens, dropout, linear."""

    def __init__(self, d_model: int, head_dim: int, n_outputs: int, d_state: int, d_conv: int,
                 dropout: float, backend: str) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, head_dim)
        self.mixer = MambaMixer(head_dim, d_state=d_state, d_conv=d_conv, backend=backend)
        self.dropout = Dropout(dropout)
        self.linear = nn.Linear(head_dim, n_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.mixer(F.gelu(self.proj(tokens)))  # [B, N, head_dim]
        return self.linear(self.dropout(hidden.mean(dim=1)))


class FEMBAClassifierModel(StreamingModel, nn.Module):
    """A FEMBA encoder and a head: windows [B, C, T] -> logits [B, *config.output_shape]
    ([B, n_outputs] unless ``classification_type`` is ``"mc"`` or ``"mmc"``).

    Subclasses set ``self.head`` (tokens [B, N, D] -> [B, :attr:`n_logits`]), where
    D = ``self.encoder.d_model``.
    """

    head: nn.Module

    def __init__(self, config: FEMBAConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FEMBAEncoder(config.encoder_config())
        self.n_logits = math.prod(config.output_shape)

    def _logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [B, N, D] -> logits [B, *config.output_shape]."""
        return self.head(tokens).reshape(tokens.shape[0], *self.config.output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T] -> logits [B, *config.output_shape]."""
        return self._logits(self.encoder(x))

    def forward_recording(self, recording: torch.Tensor) -> torch.Tensor:
        """A recording [B, C, k * T] of k consecutive windows -> logits [B, k,
        *config.output_shape]: what :meth:`step` gives window after window, in one call."""
        tokens = self.encoder.forward_recording(recording)  # [B, k * N, D]
        batch, n_tokens = tokens.shape[0], self.encoder.n_tokens
        per_window = tokens.reshape(batch * (tokens.shape[1] // n_tokens), n_tokens, -1)
        return self._logits(per_window).reshape(batch, -1, *self.config.output_shape)

    def init_stream(self, batch: int = 1) -> FEMBAStreamState:
        """Zero state for :meth:`step` of ``batch`` recordings streamed side by side."""
        return self.encoder.init_stream(batch)

    def step(self, window: torch.Tensor, state: FEMBAStreamState) -> torch.Tensor:
        """The next window [B, C, T] of each recording -> its logits [B,
        *config.output_shape], the encoder's forward scans carried from window to window;
        ``state`` is updated in place."""
        return self._logits(self.encoder.step(window, state))

    @staticmethod
    def pretrained_options(checkpoint: Checkpoint, options: dict[str, Any], n_chans: int,
                           n_times: int) -> dict[str, Any]:
        """``options`` completed with what ``checkpoint``'s encoder needs, so that
        :meth:`load_pretrained_encoder` fits: for a released BioFoundation checkpoint its
        sizes and architecture (read from the tensors); tsssm's own checkpoints need nothing
        (their sizes must be given).

        Raises:
            ValueError: the released encoder was trained on windows of other channels or
                length, or ``options`` contradict its sizes (named).
        """
        from .biofoundation import biofoundation_options

        if not is_biofoundation(read_state_dict(checkpoint, "pretrained_options")):
            return dict(options)
        released = biofoundation_options(checkpoint)
        window = (released.pop("n_chans"), released.pop("n_times"))
        if window != (n_chans, n_times):
            raise ValueError(f"the released encoder reads windows of {window[0]} channels x "
                             f"{window[1]} samples; the data gives {n_chans} x {n_times} (use "
                             "the femba_biofoundation preprocessing and 5-s windows)")
        clashes = {k: (v, released[k]) for k, v in options.items()
                   if k in released and v != released[k]}
        if clashes:
            shown = ", ".join(f"{k}={mine!r} (checkpoint: {theirs!r})"
                              for k, (mine, theirs) in clashes.items())
            raise ValueError(f"model options contradict the released encoder: {shown}")
        return {**options, **released}

    def load_pretrained_encoder(self, checkpoint: Checkpoint,
                                freeze_encoder: bool = False) -> FEMBAClassifierModel:
        """Copy the encoder weights of a pre-training checkpoint into :attr:`encoder`; see
        :func:`load_pretrained_encoder`. Returns ``self``."""
        load_pretrained_encoder(self.encoder, checkpoint, freeze_encoder)
        return self


@register_model("femba", FEMBAConfig, task="classification",
                example={"embed_dim": 8, "n_blocks": 1, "patch_times": 8, "d_state": 4,
                         "expand": 2})
class FEMBA(FEMBAClassifierModel):
    """FEMBA with a linear head on the mean token."""

    def __init__(self, config: FEMBAConfig) -> None:
        super().__init__(config)
        self.head = LinearHead(self.encoder.d_model, self.n_logits, config.dropout)


@register_model("femba_mamba_head", FEMBAMambaHeadConfig, task="classification",
                example={"embed_dim": 8, "n_blocks": 1, "patch_times": 8, "d_state": 4,
                         "expand": 2, "head_dim": 8})
class FEMBAMambaHead(FEMBAClassifierModel):
    """FEMBA with a small Mamba head."""

    def __init__(self, config: FEMBAMambaHeadConfig) -> None:
        super().__init__(config)
        self.head = MambaHead(self.encoder.d_model, config.head_dim, self.n_logits,
                              config.d_state, config.d_conv, config.dropout, config.backend)


def load_pretrained_encoder(encoder: FEMBAEncoder, checkpoint: Checkpoint,
                            freeze_encoder: bool = False) -> FEMBAEncoder:
    """Copy pre-trained encoder weights into ``encoder``.

    Args:
        encoder: the encoder to fill (e.g. ``classifier.encoder``).
        checkpoint: a file or the state dict itself: tsssm's (``torch.save`` or a Lightning
            ``.ckpt``; the encoder's tensors are those under ``encoder.`` or
            ``<anything>.encoder.``), or BioFoundation's released FEMBA (``.safetensors``
            or its Lightning ``.ckpt``), whose encoder needs ``encoder`` built with the
            released architecture and sizes: ``biofoundation_options(checkpoint)``. Files
            are read without unpickling code (see :func:`read_state_dict`).
        freeze_encoder: stop gradients to the encoder's parameters (``requires_grad=False``),
            so fine-tuning trains the head only.

    Raises:
        ValueError: a tensor is missing, unexpected, or of another shape (named, with both
            shapes: e.g. a pre-training on other window lengths changes ``pos_embed``).
    """
    caller = "load_pretrained_encoder"
    state = read_state_dict(checkpoint, caller)
    tensors = encoder_tensors(state, caller)
    if is_biofoundation(state):
        # the token layout changes no shape: a wrong one would load without an error
        options = {name: getattr(encoder.config, name) for name in BIOFOUNDATION_ARCHITECTURE}
        if options != BIOFOUNDATION_ARCHITECTURE:
            raise ValueError(f"{caller}: a BioFoundation FEMBA checkpoint needs an encoder "
                             f"with {BIOFOUNDATION_ARCHITECTURE}, this one has {options}; "
                             "build the model with biofoundation_options(checkpoint)")
    load_matching(encoder, tensors, caller, "encoder")
    encoder.requires_grad_(not freeze_encoder)
    return encoder
