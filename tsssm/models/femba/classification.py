"""FEMBA classifiers (task "classification"): the encoder plus a small head, fine-tuned from a
pre-trained encoder when one is at hand.

``forward(x [B, C, T]) -> logits [B, n_outputs]``. Two heads, as in the paper:

- ``femba``: the mean of the tokens, then one linear layer.
- ``femba_mamba_head``: tokens projected to ``head_dim``, GELU, one Mamba mixer across the
  tokens of the window, their mean, then one linear layer.

:meth:`FEMBAClassifierModel.stream` scores a long recording window by window in one pass (see
:mod:`tsssm.models.femba.encoder` for what the carried state means); the head reads each
window's tokens on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.layers import MambaMixer

from .._registry import register_model
from .config import FEMBAConfig, FEMBAMambaHeadConfig
from .encoder import FEMBAEncoder

Checkpoint = str | Path | Mapping[str, object]


class LinearHead(nn.Module):
    """Tokens [B, N, D] -> logits [B, n_outputs]: mean over tokens, dropout, linear."""

    def __init__(self, d_model: int, n_outputs: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
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
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(head_dim, n_outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.mixer(F.gelu(self.proj(tokens)))  # [B, N, head_dim]
        return self.linear(self.dropout(hidden.mean(dim=1)))


class FEMBAClassifierModel(nn.Module):
    """A FEMBA encoder and a head: windows [B, C, T] -> logits [B, n_outputs].

    Subclasses set ``self.head`` (tokens [B, N, D] -> logits [B, n_outputs]), where
    D = ``self.encoder.d_model``.
    """

    head: nn.Module

    def __init__(self, config: FEMBAConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FEMBAEncoder(config.encoder_config())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, T] -> logits [B, n_outputs]."""
        return self.head(self.encoder(x))

    @torch.no_grad()
    def stream(self, chunks: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Logits [B, n_outputs] of each consecutive window [B, C, T] of ``chunks``, the
        encoder's forward scans carried from window to window (inference only)."""
        for tokens in self.encoder.stream(chunks):
            yield self.head(tokens)

    def load_pretrained_encoder(self, checkpoint: Checkpoint,
                                freeze_encoder: bool = False) -> FEMBAClassifierModel:
        """Copy the encoder weights of a pre-training checkpoint into :attr:`encoder`; see
        :func:`load_pretrained_encoder`. Returns ``self``."""
        load_pretrained_encoder(self.encoder, checkpoint, freeze_encoder)
        return self


@register_model("femba", FEMBAConfig, task="classification")
class FEMBA(FEMBAClassifierModel):
    """FEMBA with a linear head on the mean token."""

    def __init__(self, config: FEMBAConfig) -> None:
        super().__init__(config)
        self.head = LinearHead(self.encoder.d_model, config.n_outputs, config.dropout)


@register_model("femba_mamba_head", FEMBAMambaHeadConfig, task="classification")
class FEMBAMambaHead(FEMBAClassifierModel):
    """FEMBA with a small Mamba head."""

    def __init__(self, config: FEMBAMambaHeadConfig) -> None:
        super().__init__(config)
        self.head = MambaHead(self.encoder.d_model, config.head_dim, config.n_outputs,
                              config.d_state, config.d_conv, config.dropout, config.backend)


def _state_dict_of(checkpoint: Checkpoint) -> Mapping[str, object]:
    """The tensors of a checkpoint: a path (read with ``weights_only=True``), a state dict, or
    a Lightning-style dict holding one under ``"state_dict"``."""
    if isinstance(checkpoint, str | Path):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"load_pretrained_encoder: no checkpoint file at {path}")
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"load_pretrained_encoder: a checkpoint must be a path or a mapping "
                        f"of tensors, got {type(checkpoint).__name__}")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise TypeError("load_pretrained_encoder: the checkpoint's `state_dict` is a "
                        f"{type(state).__name__}, not a mapping of tensors")
    return state


def _encoder_tensors(state: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The tensors under the one ``...encoder.`` prefix of ``state``, keyed without it."""
    prefixes = {key[: key.index("encoder.") + len("encoder.")] for key in state
                if key.startswith("encoder.") or ".encoder." in key}
    prefixes = {p for p in prefixes if p == "encoder." or p.endswith(".encoder.")}
    if len(prefixes) != 1:
        found = ", ".join(sorted(prefixes)) or "none"
        raise ValueError("load_pretrained_encoder: the checkpoint needs exactly one set of "
                         f"encoder weights (keys under '<prefix>encoder.'); found: {found}")
    prefix = prefixes.pop()
    tensors = {key[len(prefix):]: value for key, value in state.items()
               if key.startswith(prefix)}
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"load_pretrained_encoder: `{prefix}{key}` is a "
                            f"{type(value).__name__}, not a tensor")
    return tensors


def load_pretrained_encoder(encoder: FEMBAEncoder, checkpoint: Checkpoint,
                            freeze_encoder: bool = False) -> FEMBAEncoder:
    """Copy pre-trained encoder weights into ``encoder``.

    Args:
        encoder: the encoder to fill (e.g. ``classifier.encoder``).
        checkpoint: a file written by ``torch.save`` (read with ``weights_only=True``: plain
            tensors only, never pickled code), or the state dict itself. The encoder's
            tensors are those under ``encoder.`` (a :class:`FEMBAPretrain` state dict) or
            ``<anything>.encoder.`` (e.g. a Lightning module's ``model.encoder.``).
        freeze_encoder: stop gradients to the encoder's parameters (``requires_grad=False``),
            so fine-tuning trains the head only.

    Raises:
        ValueError: a tensor is missing, unexpected, or of another shape (named, with both
            shapes: e.g. a pre-training on other window lengths changes ``pos_embed``).
    """
    tensors = _encoder_tensors(_state_dict_of(checkpoint))
    expected = encoder.state_dict()
    problems = [f"missing `{key}`" for key in expected if key not in tensors]
    problems += [f"unexpected `{key}`" for key in tensors if key not in expected]
    problems += [
        f"`{key}` has shape {tuple(tensors[key].shape)} in the checkpoint but "
        f"{tuple(value.shape)} in the model"
        for key, value in expected.items() if key in tensors and tensors[key].shape != value.shape
    ]
    if problems:
        raise ValueError("load_pretrained_encoder: the checkpoint does not fit this encoder: "
                         + "; ".join(problems))
    encoder.load_state_dict(tensors)
    encoder.requires_grad_(not freeze_encoder)
    return encoder
