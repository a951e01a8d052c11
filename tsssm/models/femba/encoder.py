"""FEMBA's encoder: patch tokens over channels × time, then bidirectional Mamba blocks.

Shapes: B windows, C = ``n_chans``, T = ``n_times``; G = channel groups and N = time patches
of a window (see :class:`~tsssm.layers.patching.PatchEmbed2d`); E = ``embed_dim``;
D = ``d_model = E * G``. A window [B, C, T] becomes N tokens [B, N, D]: token n holds the
embeddings of the G patches of time patch n (group-major, feature ``g * E + e``, or, with
``token_layout="embedding"`` as in the released FEMBA, feature ``e * G + g``), plus a learned
positional embedding.

Blocks are pre-norm with a final LayerNorm (tsssm's choice), or post-norm without one
(``block_norm="post"``, the released FEMBA's).

Streaming. A bidirectional block reads each window forwards and backwards. Over a long
recording cut into consecutive windows, :meth:`FEMBAEncoder.stream` carries the *forward* scan
(its convolution and state) from one window into the next, so every token sees the whole
recording before it, while the *backward* scan still runs within each window (it cannot read
a future that has not arrived). Positional embeddings count tokens within each window. The
tokens of a window are known as soon as the window is complete, memory does not grow with the
recording, and :meth:`FEMBAEncoder.forward_recording` computes the same tokens offline in one
call. The first window of a stream equals :meth:`FEMBAEncoder.forward` on that window alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from tsssm.layers import BiMamba, Dropout, MambaStreamState
from tsssm.layers.patching import PatchEmbed2d

from ..streaming import StreamingModel
from .config import FEMBAEncoderConfig


class BiMambaBlock(nn.Module):
    """Residual block of a forward and a backward scan, ``[B, L, D]`` -> ``[B, L, D]``.

    ``norm="pre"``: ``h + dropout(forward_scan(norm h) + backward_scan(norm h))``;
    ``norm="post"``: ``norm(h + dropout(forward_scan(h) + backward_scan(h)))``. The forward
    and backward mixers have their own weights.
    """

    def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int, dropout: float,
                 backend: str, norm: str = "pre") -> None:
        super().__init__()
        self.pre_norm = norm == "pre"
        self.norm = nn.LayerNorm(d_model)
        self.mixer = BiMamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand,
                             backend=backend)
        self.dropout = Dropout(dropout)

    def forward(self, hidden: torch.Tensor, window: int | None = None,
                state: MambaStreamState | None = None) -> torch.Tensor:
        """``hidden`` [B, L, D] -> [B, L, D].

        The forward scan reads all L tokens, starting from ``state`` (updated in place) when
        given, from zero otherwise. The backward scan restarts every ``window`` tokens
        (``None``: one window of L tokens; L must be a multiple of ``window``).
        """
        inputs = self.norm(hidden) if self.pre_norm else hidden
        batch, length, width = inputs.shape
        mixers = self.mixer
        if state is None:
            forward = mixers.forward_mixer(inputs)
        else:
            forward = mixers.forward_mixer.step_chunk(inputs, state)
        window = window or length
        windows = inputs.reshape(batch * (length // window), window, width)
        backward = mixers.backward_mixer(windows, reverse=True).reshape(batch, length, width)
        out = hidden + self.dropout(forward + backward)
        return out if self.pre_norm else self.norm(out)

    def initial_stream_state(self, batch: int, device: torch.device) -> MambaStreamState:
        """Zero state of the forward scan."""
        return self.mixer.forward_mixer.initial_stream_state(batch, device)


@dataclass
class FEMBAStreamState:
    """What :meth:`FEMBAEncoder.step` carries between windows: one forward-scan state
    per block, and the number of windows seen."""

    blocks: list[MambaStreamState] = field(default_factory=list)
    windows: int = 0


class FEMBAEncoder(StreamingModel, nn.Module):
    """Windows [B, C, T] -> tokens [B, N, D] (see the module docstring)."""

    def __init__(self, config: FEMBAEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed2d(config.patch_chans, config.patch_times,
                                        config.embed_dim)
        self.n_groups, self.n_tokens = self.patch_embed.grid(config.n_chans, config.n_times)
        self.d_model = config.embed_dim * self.n_groups
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_tokens, self.d_model))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            BiMambaBlock(self.d_model, config.d_state, config.d_conv, config.expand,
                         config.dropout, config.backend, config.block_norm)
            for _ in range(config.n_blocks)
        )
        # Post-norm blocks already end in a norm; the released FEMBA has no final one.
        self.norm = nn.LayerNorm(self.d_model) if config.block_norm == "pre" else nn.Identity()

    def check_windows(self, x: torch.Tensor, name: str = "x", recording: bool = False) -> None:
        """Raise a ValueError naming ``name`` unless ``x`` is a float tensor [B, C, T] (with
        ``recording``: [B, C, k * T], k >= 1)."""
        owner, config = type(self).__name__, self.config
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            kind = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{owner}: `{name}` must be a floating-point tensor, got {kind}")
        times = x.shape[-1] if x.dim() == 3 else -1
        whole = times > 0 and times % config.n_times == 0 if recording else (
            times == config.n_times)
        if x.dim() != 3 or x.shape[1] != config.n_chans or not whole:
            needs = f"a multiple of {config.n_times}" if recording else str(config.n_times)
            raise ValueError(f"{owner}: `{name}` has shape {tuple(x.shape)}; it needs (batch, "
                             f"n_chans={config.n_chans}, n_times={needs})")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Windows [B, C, T] -> patch embeddings [B, G, N, E] (before positions)."""
        self.check_windows(x)
        return self.patch_embed(x)

    def join_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """Patch embeddings [B, G, L, E] -> token features [B, L, D] in ``token_layout``."""
        batch, groups, n_patches, width = patches.shape
        order = (0, 2, 1, 3) if self.config.token_layout == "group" else (0, 2, 3, 1)
        return patches.permute(*order).reshape(batch, n_patches, groups * width)

    def split_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`join_patches`: tokens [B, L, D] -> [B, G, L, E]."""
        batch, n_patches, _ = tokens.shape
        if self.config.token_layout == "group":
            return tokens.reshape(batch, n_patches, self.n_groups, -1).permute(0, 2, 1, 3)
        return tokens.reshape(batch, n_patches, -1, self.n_groups).permute(0, 3, 1, 2)

    def encode_patches(self, patches: torch.Tensor, window: int | None = None,
                       states: list[MambaStreamState] | None = None) -> torch.Tensor:
        """Patch embeddings [B, G, L, E] -> tokens [B, L, D], where L is ``n_tokens`` or, for
        k consecutive windows side by side on the time axis, ``k * n_tokens`` (then pass
        ``window=n_tokens``). ``window`` and ``states`` act as in :meth:`BiMambaBlock.forward`;
        positions count tokens within each window."""
        n_patches = patches.shape[2]
        tokens = self.join_patches(patches)
        positions = self.pos_embed.repeat(1, n_patches // self.n_tokens, 1)  # [1, N, D]
        hidden = self.dropout(tokens + positions)
        for i, block in enumerate(self.blocks):
            hidden = block(hidden, window, None if states is None else states[i])
        return self.norm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows [B, C, T] -> tokens [B, N, D], each window read both ways on its own."""
        return self.encode_patches(self.embed(x))

    def forward_recording(self, recording: torch.Tensor) -> torch.Tensor:
        """A recording [B, C, k * T] of k consecutive windows -> tokens [B, k * N, D]: what
        :meth:`stream` yields for its windows, computed in one call."""
        self.check_windows(recording, "recording", recording=True)
        batch, n_chans, length = recording.shape
        n_windows = length // self.config.n_times
        windows = recording.reshape(batch, n_chans, n_windows, self.config.n_times)
        windows = windows.permute(0, 2, 1, 3).reshape(batch * n_windows, n_chans, -1)
        patches = self.patch_embed(windows)  # [B * k, G, N, E]
        patches = patches.reshape(batch, n_windows, *patches.shape[1:]).permute(0, 2, 1, 3, 4)
        patches = patches.reshape(batch, self.n_groups, n_windows * self.n_tokens, -1)
        return self.encode_patches(patches, window=self.n_tokens)

    def init_stream(self, batch: int = 1) -> FEMBAStreamState:
        """Zero state for :meth:`step` of ``batch`` recordings streamed side by side."""
        device = self.pos_embed.device
        return FEMBAStreamState([block.initial_stream_state(batch, device)
                                 for block in self.blocks])

    def step(self, chunk: torch.Tensor, state: FEMBAStreamState) -> torch.Tensor:
        """The next window [B, C, T] of each recording -> its tokens [B, N, D]; ``state`` is
        updated in place."""
        self.check_windows(chunk, "chunk")
        if state.blocks and state.blocks[0].ssm.shape[0] != chunk.shape[0]:
            raise ValueError(f"FEMBAEncoder.step: the stream holds "
                             f"{state.blocks[0].ssm.shape[0]} recordings, the chunk "
                             f"{chunk.shape[0]}")
        tokens = self.encode_patches(self.patch_embed(chunk), states=state.blocks)
        state.windows += 1
        return tokens
