"""PhaseSSM: a hierarchical input-dependent state-space model for phase recognition.

After Wu et al., "Holistic Surgical Phase Recognition with Hierarchical Input Dependent State
Space Models": a whole recording (thousands of 1-fps frames of an operation, or a night of 30-s
sleep epochs) is modelled at once, in time and memory linear in its length.

- Local aggregation blocks: Mamba scans restarted every ``local_window`` steps capture short
  range dynamics (causal inside each window online, both ways offline).
- Global relation blocks: Mamba over the whole recording (bidirectional offline, causal
  online) relates every step to every other (earlier) one.
- Heads: phase logits, progress inside the current phase in [0, 1] and optionally progress
  through the whole recording, trained by :func:`phase_loss` (cross-entropy plus L1: the
  "hybrid discrete-continuous supervision").

Online models stream: :meth:`PhaseSSM.init_stream` and :meth:`PhaseSSM.step` give, one step
at a time, exactly what :meth:`PhaseSSM.forward` gives on the whole sequence.

Two honest baselines share the task fields, the forward contract and the heads: ``phase_mlp``
(a per-step classifier, no temporal model) and ``phase_tcn`` (a single-stage MS-TCN: dilated
residual convolutions, causal online).

Shapes: B recordings, T steps, F input features, D = ``d_model``, C phases. Recordings of
different lengths are right-padded into one batch; ``lengths`` [B] gives each one's length,
outputs past it are meaningless, and what comes before it equals the unpadded recording's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.layers import BiMamba, Dropout, MambaMixer, MambaStreamState

from ._registry import register_model
from .shapes import PhaseShape, check_int
from .streaming import StreamingModel


def _check_fraction(config: object, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{type(config).__name__}: `{name}` must lie in [0, 1), got {value!r}")


@dataclass
class PhaseSSMConfig(PhaseShape):
    """PhaseSSM hyper-parameters. Feed-forward networks are ``2 * d_model`` wide."""

    d_model: int = 64
    d_state: int = 16
    n_local_layers: int = 2
    n_global_layers: int = 2
    local_window: int = 16
    dropout: float = 0.1
    backend: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, minimum in (("d_model", 1), ("d_state", 1), ("n_local_layers", 0),
                              ("n_global_layers", 0), ("local_window", 1)):
            check_int(self, name, minimum)
        _check_fraction(self, "dropout")


@dataclass
class PhaseNetConfig(PhaseShape):
    """Options shared by the baselines: width ``d_model``, depth ``n_layers``, dropout."""

    d_model: int = 64
    n_layers: int = 2
    dropout: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "d_model", 1)
        check_int(self, "n_layers", 1)
        _check_fraction(self, "dropout")


@dataclass
class PhaseMLPConfig(PhaseNetConfig):
    """Per-step MLP: ``n_layers`` hidden layers of width ``d_model``. It has no temporal
    context, so ``online`` changes nothing (it is accepted for a uniform contract)."""


@dataclass
class PhaseTCNConfig(PhaseNetConfig):
    """Single-stage MS-TCN: ``n_layers`` dilated residual layers, dilations 1, 2, ...,
    2^(n_layers-1), kernel 3; the receptive field is ``2^(n_layers+1) - 1`` steps."""

    n_layers: int = 10


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Bool [B, T] mask, True on the first ``lengths[b]`` steps of each recording."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]


def reverse_valid(hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of ``hidden`` [B, T, D] within its own length; padding stays
    where it is. ``lengths`` None: every sequence is full (a plain flip). Its own inverse."""
    if lengths is None:
        return hidden.flip(1)
    t = torch.arange(hidden.shape[1], device=hidden.device)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [B, T]
    return hidden.gather(1, index[..., None].expand_as(hidden))


def bidirectional_mix(mixers: BiMamba, hidden: torch.Tensor,
                      lengths: torch.Tensor | None) -> torch.Tensor:
    """``BiMamba`` over right-padded sequences: [B, T, D] -> [B, T, D].

    ``BiMamba.forward`` flips the padded batch as a whole, so its backward scan would read the
    padding first; here each sequence is flipped within its own length instead.
    """
    backward = reverse_valid(mixers.backward_mixer(reverse_valid(hidden, lengths)), lengths)
    both = mixers.forward_mixer(hidden) + backward
    return both / 2 if mixers.combine == "mean" else both


class _MixerBlock(nn.Module):
    """Post-norm residual block around a sequence mixer, then a feed-forward network:
    ``h = norm1(h + mix(h)); h = norm2(h + ffn(h))``. The mixer is a causal
    ``MambaMixer`` or, when ``bidirectional``, a ``BiMamba``."""

    def __init__(self, d_model: int, d_state: int, bidirectional: bool, dropout: float,
                 backend: str) -> None:
        super().__init__()
        mixer_cls = BiMamba if bidirectional else MambaMixer
        self.mixer = mixer_cls(d_model, d_state=d_state, backend=backend)
        self.norm1 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.GELU(), Dropout(dropout),
            nn.Linear(2 * d_model, d_model), Dropout(dropout),
        )
        self.norm2 = nn.LayerNorm(d_model)

    def _mix(self, hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """[b, t, D] -> [b, t, D]; ``lengths`` [b] matter to the backward scan only."""
        if isinstance(self.mixer, BiMamba):
            return bidirectional_mix(self.mixer, hidden, lengths)
        return self.mixer(hidden)

    def _finish(self, hidden: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
        """Residual, norms and feed-forward network; per step, so [..., D] -> [..., D]."""
        hidden = self.norm1(hidden + self.dropout(mixed))
        return self.norm2(hidden + self.feed_forward(hidden))

    def initial_stream_state(self, batch: int, device: torch.device) -> MambaStreamState:
        """Zero streaming state of the (causal) mixer."""
        return self.mixer.initial_stream_state(batch, device)


class LocalAggregationBlock(_MixerBlock):
    """Mamba scans restarted every ``window`` steps: [B, T, D] -> [B, T, D].

    The recording is cut into windows of ``window`` steps from its first step (the end is
    zero-padded) and the windows become a batch [B * ceil(T / W), W, D], so each scan (and
    the mixer's convolution) starts afresh at every window's first step. Bidirectional, the
    backward scan of a window that holds a recording's end starts at its last valid step.
    """

    def __init__(self, d_model: int, window: int, d_state: int = 16,
                 bidirectional: bool = False, dropout: float = 0.1,
                 backend: str = "auto") -> None:
        super().__init__(d_model, d_state, bidirectional, dropout, backend)
        self.window = window

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``hidden`` [B, T, D], ``lengths`` [B] or None -> [B, T, D]."""
        batch, steps, width = hidden.shape
        n_windows = -(-steps // self.window)
        padded_steps = n_windows * self.window
        windows = F.pad(hidden, (0, 0, 0, padded_steps - steps))
        windows = windows.reshape(batch * n_windows, self.window, width)  # [B * N, W, D]
        mixed = self._mix(windows, self._window_lengths(lengths, batch, steps, n_windows))
        mixed = mixed.reshape(batch, padded_steps, width)[:, :steps]
        return self._finish(hidden, mixed)

    def _window_lengths(self, lengths: torch.Tensor | None, batch: int, steps: int,
                        n_windows: int) -> torch.Tensor | None:
        """Valid steps of every window [B * N] (0 for windows of padding only); None when all
        windows are full."""
        if lengths is None:
            if steps % self.window == 0:
                return None
            lengths = torch.full((batch,), steps, device=self.norm1.weight.device)
        starts = torch.arange(n_windows, device=lengths.device) * self.window  # [N]
        return (lengths[:, None] - starts).clamp(0, self.window).reshape(-1)

    def step(self, hidden: torch.Tensor, state: MambaStreamState, position: int
             ) -> torch.Tensor:
        """One step at ``position`` (steps since the stream began): [B, D] -> [B, D]; ``state``
        is updated in place and zeroed at every window's first step, as in :meth:`forward`."""
        if position % self.window == 0:
            state.conv.zero_()
            state.ssm.zero_()
        return self._finish(hidden, self.mixer.step(hidden, state))


class GlobalRelationBlock(_MixerBlock):
    """Mamba over the whole recording (``BiMamba`` when bidirectional): [B, T, D] -> [B, T, D]."""

    def __init__(self, d_model: int, d_state: int = 16, bidirectional: bool = False,
                 dropout: float = 0.1, backend: str = "auto") -> None:
        super().__init__(d_model, d_state, bidirectional, dropout, backend)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``hidden`` [B, T, D], ``lengths`` [B] or None -> [B, T, D]."""
        return self._finish(hidden, self._mix(hidden, lengths))

    def step(self, hidden: torch.Tensor, state: MambaStreamState) -> torch.Tensor:
        """One step: [B, D] -> [B, D]; ``state`` is updated in place."""
        return self._finish(hidden, self.mixer.step(hidden, state))


class PhaseHeads(nn.Module):
    """Features [..., D] -> ``logits`` [..., C], ``progress`` [...] in [0, 1] and, when
    ``video_progress``, ``video_progress`` [...] in [0, 1]."""

    def __init__(self, d_model: int, n_phases: int, video_progress: bool) -> None:
        super().__init__()
        self.phase = nn.Linear(d_model, n_phases)
        self.progress = nn.Linear(d_model, 2 if video_progress else 1)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        progress = torch.sigmoid(self.progress(features))  # [..., 1 or 2]
        outputs = {"logits": self.phase(features), "progress": progress[..., 0]}
        if progress.shape[-1] == 2:
            outputs["video_progress"] = progress[..., 1]
        return outputs


class PhaseModel(nn.Module, ABC):
    """The contract of every phase recogniser: ``forward(x [B, T, F], lengths [B] | None)``
    returns ``logits`` [B, T, C], ``progress`` [B, T] and, with ``predict_video_progress``,
    ``video_progress`` [B, T]. Subclasses implement :meth:`encode`."""

    def __init__(self, config: PhaseShape, d_model: int) -> None:
        super().__init__()
        self.config = config
        self.heads = PhaseHeads(d_model, config.n_phases, config.predict_video_progress)

    @abstractmethod
    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, F] -> features [B, T, D]."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        """``x`` [B, T, F], ``lengths`` [B] (int, in 1..T) or None (all full) -> outputs."""
        self._check_inputs(x, lengths)
        return self.heads(self.encode(x, lengths))

    def _check_inputs(self, x: torch.Tensor, lengths: torch.Tensor | None) -> None:
        name, n_inputs = type(self).__name__, self.config.n_inputs
        if x.dim() != 3 or x.shape[2] != n_inputs:
            raise ValueError(f"{name}: `x` has shape {tuple(x.shape)}; it needs "
                             f"(batch, steps, n_inputs={n_inputs})")
        if lengths is None:
            return
        if lengths.shape != (x.shape[0],) or lengths.is_floating_point():
            raise ValueError(f"{name}: `lengths` must be an integer tensor of shape "
                             f"({x.shape[0]},), got {lengths.dtype} {tuple(lengths.shape)}")
        if lengths.numel() and not bool(((lengths >= 1) & (lengths <= x.shape[1])).all()):
            raise ValueError(f"{name}: `lengths` must lie in 1..{x.shape[1]} (the padded "
                             f"length), got {lengths.tolist()}")


@dataclass
class PhaseStreamState:
    """What an online :class:`PhaseSSM` carries between steps.

    Attributes:
        local_states: one mixer state per local aggregation block.
        global_states: one mixer state per global relation block.
        steps: steps taken so far; it places each step in its local window.
    """

    local_states: list[MambaStreamState]
    global_states: list[MambaStreamState]
    steps: int = 0


@register_model("phase_ssm", PhaseSSMConfig, task="phase",
                example={"d_model": 8, "d_state": 4, "n_local_layers": 1, "n_global_layers": 1,
                         "local_window": 4})
class PhaseSSM(StreamingModel, PhaseModel):
    """Input projection, local aggregation blocks, global relation blocks, heads.

    ``forward(x [B, T, F], lengths)`` -> ``logits`` [B, T, C], ``progress`` [B, T] (and
    ``video_progress`` [B, T]). Online models also stream with :meth:`init_stream` and
    :meth:`step`.
    """

    def __init__(self, config: PhaseSSMConfig) -> None:
        super().__init__(config, config.d_model)
        options = {"d_state": config.d_state, "bidirectional": not config.online,
                   "dropout": config.dropout, "backend": config.backend}
        self.embed = nn.Sequential(nn.Linear(config.n_inputs, config.d_model),
                                   Dropout(config.dropout))
        self.local_blocks = nn.ModuleList(
            LocalAggregationBlock(config.d_model, config.local_window, **options)
            for _ in range(config.n_local_layers)
        )
        self.global_blocks = nn.ModuleList(
            GlobalRelationBlock(config.d_model, **options) for _ in range(config.n_global_layers)
        )

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, F] -> features [B, T, D]."""
        hidden = self.embed(x)
        for block in [*self.local_blocks, *self.global_blocks]:
            hidden = block(hidden, lengths)
        return hidden

    def init_stream(self, batch: int = 1) -> PhaseStreamState:
        """Zero state for :meth:`step` of ``batch`` recordings streamed side by side."""
        self._require_online("init_stream")
        device = self.heads.phase.weight.device
        return PhaseStreamState(
            local_states=[b.initial_stream_state(batch, device) for b in self.local_blocks],
            global_states=[b.initial_stream_state(batch, device) for b in self.global_blocks],
        )

    def step(self, x_t: torch.Tensor, stream: PhaseStreamState) -> dict[str, torch.Tensor]:
        """One step: ``x_t`` [B, F] -> ``logits`` [B, C], ``progress`` [B] (and
        ``video_progress`` [B]); ``stream`` is updated in place. Online models only."""
        self._require_online("step")
        if x_t.dim() != 2 or x_t.shape[1] != self.config.n_inputs:
            raise ValueError(f"PhaseSSM.step: `x_t` has shape {tuple(x_t.shape)}; it needs "
                             f"(batch, n_inputs={self.config.n_inputs})")
        hidden = self.embed(x_t)
        for block, state in zip(self.local_blocks, stream.local_states, strict=True):
            hidden = block.step(hidden, state, stream.steps)
        for block, state in zip(self.global_blocks, stream.global_states, strict=True):
            hidden = block.step(hidden, state)
        stream.steps += 1
        return self.heads(hidden)

    def _require_online(self, method: str) -> None:
        if not self.config.online:
            raise RuntimeError(
                f"PhaseSSM.{method}: this model is offline (online=False); its backward scans "
                "read the future, so it cannot stream. Build it with online=True to stream."
            )


@register_model("phase_mlp", PhaseMLPConfig, task="phase",
                example={"d_model": 8, "n_layers": 1})
class PhaseMLP(PhaseModel):
    """Per-step classifier: each step's features alone give its outputs (no temporal model)."""

    def __init__(self, config: PhaseMLPConfig) -> None:
        super().__init__(config, config.d_model)
        layers: list[nn.Module] = []
        for i in range(config.n_layers):
            width_in = config.n_inputs if i == 0 else config.d_model
            layers += [nn.Linear(width_in, config.d_model), nn.GELU(), Dropout(config.dropout)]
        self.layers = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, F] -> features [B, T, D]; ``lengths`` play no part."""
        return self.layers(x)


class DilatedResidualLayer(nn.Module):
    """MS-TCN's layer: dilated convolution (kernel 3), ReLU, 1×1 convolution, dropout, added to
    the input; [B, D, T] -> [B, D, T]. Causal layers pad on the left only."""

    def __init__(self, d_model: int, dilation: int, causal: bool, dropout: float) -> None:
        super().__init__()
        self.padding = (2 * dilation, 0) if causal else (dilation, dilation)
        self.conv = nn.Conv1d(d_model, d_model, 3, dilation=dilation)
        self.pointwise = nn.Conv1d(d_model, d_model, 1)
        self.dropout = Dropout(dropout)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``hidden`` [B, D, T], ``mask`` [B, 1, T] (1 on valid steps) -> [B, D, T]."""
        # Zeroing the padding makes a padded recording read what an unpadded one reads past
        # its end: the convolution's zero padding.
        out = F.relu(self.conv(F.pad(hidden * mask, self.padding)))
        return hidden + self.dropout(self.pointwise(out))


@register_model("phase_tcn", PhaseTCNConfig, task="phase",
                example={"d_model": 8, "n_layers": 2})
class PhaseTCN(PhaseModel):
    """Single-stage MS-TCN (Farha & Gall, 2019): a 1×1 input convolution, then dilated residual
    layers with dilations 1, 2, 4, ...; causal (left-padded) when ``online``."""

    def __init__(self, config: PhaseTCNConfig) -> None:
        super().__init__(config, config.d_model)
        self.embed = nn.Conv1d(config.n_inputs, config.d_model, 1)
        self.layers = nn.ModuleList(
            DilatedResidualLayer(config.d_model, 2**i, config.online, config.dropout)
            for i in range(config.n_layers)
        )

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B, T, F] -> features [B, T, D]."""
        hidden = self.embed(x.transpose(1, 2))  # [B, D, T]
        mask = hidden.new_ones(x.shape[0], 1, x.shape[1])
        if lengths is not None:
            mask = length_mask(lengths, x.shape[1])[:, None].to(hidden.dtype)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return hidden.transpose(1, 2)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` [B, T] over the steps where ``mask`` [B, T] is True."""
    return values.where(mask, 0.0).sum() / mask.sum().clamp(min=1)


def phase_loss(
    outputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    progress: torch.Tensor,
    video_progress: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    progress_weight: float = 1.0,
    video_progress_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Hybrid discrete-continuous supervision: cross-entropy on phases plus weighted L1 on
    progress (both averaged over the valid steps).

    Args:
        outputs: a phase model's outputs: ``logits`` [B, T, C], ``progress`` [B, T] and, when
            ``video_progress`` is given, ``video_progress`` [B, T].
        labels: int64 [B, T] phases in 0..C-1 (anything on masked steps).
        progress: [B, T] progress targets inside each phase, in [0, 1].
        video_progress: [B, T] elapsed fraction of each recording, or None (no such term).
        mask: bool [B, T], True on valid steps (see :func:`length_mask`); None: all valid.
        progress_weight, video_progress_weight: weights of the L1 terms.

    Returns:
        The loss (a scalar with gradients) and its detached parts: ``phase``, ``progress``
        and, when used, ``video_progress``.
    """
    if mask is None:
        mask = torch.ones_like(labels, dtype=torch.bool)
    cross_entropy = F.cross_entropy(outputs["logits"].transpose(1, 2), labels.where(mask, 0),
                                    reduction="none")  # [B, T]
    parts = {
        "phase": _masked_mean(cross_entropy, mask),
        "progress": _masked_mean((outputs["progress"] - progress).abs(), mask),
    }
    loss = parts["phase"] + progress_weight * parts["progress"]
    if video_progress is not None:
        if "video_progress" not in outputs:
            raise ValueError("phase_loss: `video_progress` targets were given but the model "
                             "does not predict them; build it with predict_video_progress=True")
        parts["video_progress"] = _masked_mean(
            (outputs["video_progress"] - video_progress).abs(), mask)
        loss = loss + video_progress_weight * parts["video_progress"]
    return loss, {name: part.detach() for name, part in parts.items()}
