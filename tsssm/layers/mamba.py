"""The Mamba mixer (Gu & Dao, 2023) on tsssm's selective scan, with streaming steps.

Input ``[batch, length, d_model]`` -> output of the same shape. Inside: an input projection to
``2 * d_inner`` (signal and gate), a depthwise causal convolution over time, input-dependent
``dt``, ``B`` and ``C`` from a linear map of the signal, the selective scan, and an output
projection. Initialisation follows mamba-ssm: ``A = -[1..d_state]`` per channel (stored as
``A_log``), ``dt`` log-uniform in ``[dt_min, dt_max]`` through its bias, ``D = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.kernels import selective_scan, selective_state_update
from tsssm.kernels.selective_scan import BACKENDS


def causal_depthwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
                          ) -> torch.Tensor:
    """``nn.Conv1d(c, c, k, groups=c, padding=k - 1)`` truncated to the first ``length`` steps
    (a causal depthwise convolution), on channel-last ``x`` [batch, length, c] -> [batch,
    length, c], with ``weight`` [c, 1, k] and ``bias`` [c] as the module stores them.

    Computed as ``k`` shifted multiply-adds over the channel axis, with a backward of its own
    (:class:`_CausalDepthwiseConv`): the mixer's projections are channel-last, and this reads
    them as they are, where ``conv1d`` needs a transposed copy in and out.
    """
    if bias is None:
        bias = weight.new_zeros(weight.shape[0])
    return _CausalDepthwiseConv.apply(x, weight, bias)


class _CausalDepthwiseConv(torch.autograd.Function):
    """The shifted multiply-adds of :func:`causal_depthwise_conv` and their gradients: the
    input's as the same sums over the output gradient shifted the other way, each tap's as
    one product summed over batch and time (autograd's own backward of the forward's
    operations made a zeroed padded copy per tap, twice the passes over memory)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        k, length = weight.shape[-1], x.shape[1]
        padded = F.pad(x, (0, 0, k - 1, 0))  # [batch, k - 1 + length, c]
        taps = weight[:, 0].t()  # [k, c]
        out = torch.addcmul(bias, padded[:, :length], taps[0])
        for i in range(1, k):
            out.addcmul_(padded[:, i:i + length], taps[i])
        ctx.save_for_backward(padded, taps)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        padded, taps = ctx.saved_tensors
        k, length = taps.shape[0], grad.shape[1]
        grad_padded = grad.new_zeros(padded.shape)
        grad_taps = torch.empty_like(taps)
        for i in range(k):
            grad_padded[:, i:i + length].addcmul_(grad, taps[i])
            grad_taps[i] = (padded[:, i:i + length] * grad).sum((0, 1))
        return grad_padded[:, k - 1:], grad_taps.t()[:, None], grad.sum((0, 1))


@dataclass
class MambaStreamState:
    """What a mixer carries between steps: the last ``d_conv - 1`` inputs of the convolution
    ``[batch, d_inner, d_conv - 1]`` and the scan state ``[batch, d_inner, d_state]`` (float32)."""

    conv: torch.Tensor
    ssm: torch.Tensor


class MambaMixer(nn.Module):
    """One Mamba mixer.

    Args:
        d_model: width of the input and output.
        d_state: size of the state per channel.
        d_conv: width of the causal depthwise convolution.
        expand: ``d_inner = expand * d_model``.
        dt_rank: rank of the ``dt`` projection; ``None`` means ``ceil(d_model / 16)``.
        dt_min, dt_max, dt_init_floor: range of the initial step sizes.
        conv_bias, bias: biases of the convolution and of the in/out projections.
        backend: selective-scan backend (``"auto"`` picks the fastest for the device).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if backend not in ("auto", *BACKENDS):  # refused when built, not at the first step
            raise ValueError(f"MambaMixer: backend {backend!r} is not one of "
                             f"{', '.join(['auto', *BACKENDS])}")
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.backend = backend
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1,
            bias=conv_bias, **factory,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

        # dt_proj: weights of scale dt_rank^-0.5; bias = softplus^-1 of log-uniform step sizes.
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
        dt = torch.exp(
            torch.rand(self.d_inner, **factory) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        A = torch.arange(1, d_state + 1, dtype=torch.float32, device=device)
        self.A_log = nn.Parameter(torch.log(A).repeat(self.d_inner, 1))  # [d_inner, d_state]
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))

    def _scan_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """From the convolved signal ``x`` [b, d_inner, l] (any layout): ``dt`` [b, d_inner,
        l] (before bias and softplus) and ``B``, ``C`` [b, d_state, l], each a transposed
        view of a [b, l, .] tensor (the layout the CPU kernel reads in place)."""
        x_dbl = self.x_proj(x.transpose(1, 2))  # [b, l, dt_rank + 2 n]
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # bias is added in the scan
        return dt, B.contiguous().transpose(1, 2), C.contiguous().transpose(1, 2)

    def forward(self, hidden: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        """``hidden`` [batch, length, d_model] -> [batch, length, d_model].

        With ``reverse=True`` the mixer reads the sequence from its end (the convolution and
        the scan both run backwards), as the backward branch of a bidirectional block.
        """
        if reverse:
            return self.forward(hidden.flip(1)).flip(1)
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # [b, l, d_inner] each
        x = F.silu(causal_depthwise_conv(x, self.conv1d.weight, self.conv1d.bias)
                   ).transpose(1, 2)  # [b, d_inner, l], stored channel-last
        dt, B, C = self._scan_inputs(x)
        y = selective_scan(
            x, dt, -torch.exp(self.A_log.float()), B, C, D=self.D.float(),
            z=z.transpose(1, 2), delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
            backend=self.backend,
        )  # [b, d_inner, l]
        return self.out_proj(y.transpose(1, 2))

    def initial_stream_state(self, batch: int, device: torch.device | str | None = None
                             ) -> MambaStreamState:
        """Zero state for :meth:`step`."""
        device = device or self.A_log.device
        return MambaStreamState(
            conv=torch.zeros(batch, self.d_inner, self.d_conv - 1, device=device,
                             dtype=self.conv1d.weight.dtype),
            ssm=torch.zeros(batch, self.d_inner, self.d_state, device=device),
        )

    def step(self, hidden: torch.Tensor, state: MambaStreamState) -> torch.Tensor:
        """One time step: ``hidden`` [batch, d_model] -> [batch, d_model]; ``state`` is
        updated in place. Stepping through a sequence equals :meth:`forward` on all of it."""
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # [b, d_inner]
        window = torch.cat([state.conv, x[..., None]], dim=-1)  # [b, d_inner, d_conv]
        state.conv.copy_(window[..., 1:])
        x = (window * self.conv1d.weight[:, 0]).sum(-1)
        if self.conv1d.bias is not None:
            x = x + self.conv1d.bias
        x = F.silu(x)
        dt, B, C = self._scan_inputs(x[..., None])
        y = selective_state_update(
            state.ssm, x, dt[..., 0], -torch.exp(self.A_log.float()), B[..., 0], C[..., 0],
            D=self.D.float(), z=z, dt_bias=self.dt_proj.bias.float(), dt_softplus=True,
        )
        return self.out_proj(y)

    def step_chunk(self, hidden: torch.Tensor, state: MambaStreamState) -> torch.Tensor:
        """Several steps at once: ``hidden`` [batch, length, d_model] -> [batch, length,
        d_model]; ``state`` is updated in place. Equals :meth:`step` on each step in turn
        (and :meth:`forward` from the initial state), with one scan instead of ``length``."""
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)  # [b, d_inner, l] each
        window = torch.cat([state.conv, x], dim=-1)  # [b, d_inner, d_conv - 1 + l]
        state.conv.copy_(window[..., window.shape[-1] - state.conv.shape[-1]:])
        x = F.silu(F.conv1d(window, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner))
        dt, B, C = self._scan_inputs(x)
        y, last_state = selective_scan(
            x, dt, -torch.exp(self.A_log.float()), B, C, D=self.D.float(), z=z,
            delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
            initial_state=state.ssm, return_last_state=True, backend=self.backend,
        )
        state.ssm.copy_(last_state)
        return self.out_proj(y.transpose(1, 2))
