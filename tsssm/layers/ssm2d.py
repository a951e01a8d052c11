"""Chimera's 2-D SSM block (Behrouz et al., NeurIPS 2024) on tsssm's 2-D selective scan.

A grid of cells ``[batch, n_vars, n_times, d_model]`` (one embedding per variate and time
step) -> the same shape. Inside (see :mod:`tsssm.kernels.scan2d` for the recurrence and for
where it simplifies the paper):

- an input projection to a signal ``x`` and a gate ``z``, ``d_inner`` channels each;
- two heads with different time discretisations: the *trend* head's time state steps
  ``t - 1 -> t`` (long-term progression), the *seasonal* head's ``t - season_period -> t``;
- each head bidirectional over variates: one 2-D scan reads the variates forwards, another
  (with its own parameters) backwards, and their outputs are summed;
- every step size, ``B`` and ``C`` of both axes is a linear function of ``x`` (selective);
- an input-dependent mix of the two heads, ``m = sigmoid(W x)``:
  ``y = m * trend + (1 - m) * seasonal``, then the gate ``y * silu(z)`` and an output
  projection.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.kernels import selective_scan_2d


def init_step_bias(bias: torch.Tensor, dt_min: float, dt_max: float, floor: float) -> None:
    """Set ``bias`` so that ``softplus(bias)`` is log-uniform in ``[dt_min, dt_max]``."""
    dt = torch.exp(
        torch.rand_like(bias) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    ).clamp(min=floor)
    with torch.no_grad():
        bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus


class SelectiveSSM2D(nn.Module):
    """One direction and one discretisation of the 2-D SSM, parameters from the input.

    ``x`` ``[batch, n_vars, n_times, d_inner]`` -> ``[batch, n_vars, n_times, d_inner]``
    (before any gate). ``A`` of both axes starts at ``-[1..d_state]`` per channel, ``D`` at 1,
    step sizes log-uniform in ``[dt_min, dt_max]``, and the time -> variate coupling gain at
    ``coupling``.
    """

    def __init__(
        self,
        d_inner: int,
        d_state: int = 16,
        dt_rank: int | None = None,
        period: int = 1,
        reverse_variates: bool = False,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        coupling: float = 0.5,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.d_state, self.period, self.reverse_variates = d_state, period, reverse_variates
        self.dt_rank = dt_rank or math.ceil(d_inner / 16)
        self.backend = backend
        # One projection yields both axes' step-size features and B, C: [2 r + 4 n].
        self.x_proj = nn.Linear(d_inner, 2 * self.dt_rank + 4 * d_state, bias=False, **factory)
        self.dt_time_proj = nn.Linear(self.dt_rank, d_inner, **factory)
        self.dt_var_proj = nn.Linear(self.dt_rank, d_inner, **factory)
        for proj in (self.dt_time_proj, self.dt_var_proj):
            nn.init.uniform_(proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
            init_step_bias(proj.bias, dt_min, dt_max, dt_init_floor)
        states = torch.arange(1, d_state + 1, device=device, dtype=dtype or torch.float32)
        A_log = torch.log(states).repeat(d_inner, 1)
        self.A_time_log = nn.Parameter(A_log.clone())  # [d_inner, d_state]
        self.A_var_log = nn.Parameter(A_log)
        self.D = nn.Parameter(torch.ones(d_inner, **factory))
        # Both couplings start at `coupling` and are learned (any sign).
        self.A_var_to_time = nn.Parameter(torch.full((d_inner, d_state), float(coupling),
                                                     **factory))
        self.A_time_to_var = nn.Parameter(torch.full((d_inner, d_state), float(coupling),
                                                     **factory))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, n_vars, n_times, d_inner] -> [batch, n_vars, n_times, d_inner]."""
        r, n = self.dt_rank, self.d_state
        dt_time, dt_var, B_time, C_time, B_var, C_var = torch.split(
            self.x_proj(x), [r, r, n, n, n, n], dim=-1
        )  # [b, v, t, .]

        def grid(a: torch.Tensor) -> torch.Tensor:  # [b, v, t, c] -> [b, c, v, t]
            return a.permute(0, 3, 1, 2)

        y = selective_scan_2d(
            grid(x), grid(F.linear(dt_time, self.dt_time_proj.weight)),
            grid(F.linear(dt_var, self.dt_var_proj.weight)),
            -torch.exp(self.A_time_log.float()), -torch.exp(self.A_var_log.float()),
            grid(B_time), grid(C_time), grid(B_var), grid(C_var),
            D=self.D.float(), A_var_to_time=self.A_var_to_time.float(),
            A_time_to_var=self.A_time_to_var.float(),
            delta_bias_time=self.dt_time_proj.bias.float(),
            delta_bias_var=self.dt_var_proj.bias.float(), delta_softplus=True,
            period=self.period, reverse_variates=self.reverse_variates, backend=self.backend,
        )
        return y.permute(0, 2, 3, 1)


class SSM2D(nn.Module):
    """Chimera's 2-D SSM block: ``[batch, n_vars, n_times, d_model]`` -> same shape.

    Args:
        d_model: width of the cell embeddings in and out.
        d_state: state size per channel on each axis.
        expand: ``d_inner = expand * d_model``.
        dt_rank: rank of the step-size projections; None means ``ceil(d_inner / 16)``.
        season_period: time lag of the seasonal head's time recurrence.
        bidirectional: also scan the variates backwards (each head gets a second scan).
        dt_min, dt_max, dt_init_floor: range of the initial step sizes.
        coupling: initial gain of the time -> variate coupling.
        backend: 2-D scan backend (``"auto"`` picks the fastest for the device).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 1,
        dt_rank: int | None = None,
        season_period: int = 12,
        bidirectional: bool = True,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        coupling: float = 0.5,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(season_period, int) or season_period < 1:
            raise ValueError(f"SSM2D: season_period must be a positive int, got {season_period!r}")
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.d_inner = d_model, expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, **factory)
        directions = (False, True) if bidirectional else (False,)

        def head(period: int) -> nn.ModuleList:
            return nn.ModuleList(
                SelectiveSSM2D(self.d_inner, d_state, dt_rank, period, reverse, dt_min, dt_max,
                               dt_init_floor, coupling, backend, **factory)
                for reverse in directions
            )

        self.trend = head(1)
        self.seasonal = head(season_period)
        self.mix_proj = nn.Linear(self.d_inner, self.d_inner, **factory)
        self.out_proj = nn.Linear(self.d_inner, d_model, **factory)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """``cells`` [batch, n_vars, n_times, d_model] -> [batch, n_vars, n_times, d_model]."""
        if cells.dim() != 4 or cells.shape[-1] != self.d_model:
            raise ValueError(
                f"SSM2D: input has shape {tuple(cells.shape)}; it needs "
                f"(batch, n_vars, n_times, d_model={self.d_model})"
            )
        x, z = self.in_proj(cells).chunk(2, dim=-1)  # [b, v, t, d_inner] each
        x = F.silu(x)
        trend = sum(scan(x) for scan in self.trend)
        seasonal = sum(scan(x) for scan in self.seasonal)
        mix = torch.sigmoid(self.mix_proj(x))
        y = mix * trend + (1 - mix) * seasonal
        return self.out_proj(y * F.silu(z))
