"""Chimera's 2-D SSM block (Behrouz et al., NeurIPS 2024) on tsssm's 2-D selective scan.

A grid of cells ``[batch, n_vars, n_times, d_model]`` (one embedding per variate and time
step) -> the same shape. Inside (see :mod:`tsssm.kernels.scan2d` for the recurrence):

- an input projection to a signal ``x`` and a gate ``z``, ``d_inner`` channels each;
- two heads that differ by their discretisation: the *trend* head's step sizes start
  log-uniform in ``trend_dt`` (small steps, long memory: long-term progression), the
  *seasonal* head's in ``seasonal_dt`` (larger steps, shorter memory), both learned; the
  seasonal head's time state can also step ``t - season_period -> t`` (a seasonal lag);
- each head bidirectional over variates: one 2-D scan reads the variates forwards, another
  (with its own parameters) backwards, and their outputs are summed;
- in every scan the couplings named by ``couplings`` are learned (``"both"``, the default:
  time -> variate and variate -> time; ``"time_to_var"`` or ``"var_to_time"``: that one
  only; ``"none"``: independent axes), ``[d_inner, d_state]`` each, starting at
  ``coupling``; every step size, ``B`` and ``C`` of both axes is a linear function of ``x``
  (selective);
- the *variate-selection* head: ``s = sigmoid(w . x)`` per cell scales that cell's input into
  the variate scans (``B_var``), so the input decides which variates feed the variate axis;
- an input-dependent gate mixes the two heads, ``m = sigmoid(W x)``: ``y = m * trend +
  (1 - m) * seasonal``, then the output gate ``y * silu(z)`` and an output projection.

Where this departs from the paper: the selection head is one gate shared by the heads (no scan
of its own), and the seasonal head's discretisation is the trend head's zero-order hold with
its own step-size range rather than a different discretisation rule.

Streaming: ``forward(cells, state, return_state=True)`` continues from ``state`` (the last
states of every scan) and returns the new one, so a grid fed one time column at a time
(:meth:`SSM2D.step`) gives the outputs of the whole grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tsssm.kernels import selective_scan_2d
from tsssm.kernels.scan2d import BACKENDS_2D

#: The last states of one 2-D scan: ``(time_state [batch, d_inner, n_vars, period, d_state],
#: var_state [batch, d_inner, n_vars, d_state])``.
ScanState = tuple[torch.Tensor, torch.Tensor]

#: Which couplings of the 2-D scan are learned: name -> (``A_var_to_time``,
#: ``A_time_to_var``). ``"time_to_var"``: the time state feeds the variate axis only (the
#: one-way model); ``"var_to_time"``: the reverse; ``"none"``: two independent 1-D axes.
COUPLINGS: dict[str, tuple[bool, bool]] = {
    "both": (True, True),
    "time_to_var": (False, True),
    "var_to_time": (True, False),
    "none": (False, False),
}


def init_step_bias(bias: torch.Tensor, dt_min: float, dt_max: float, floor: float) -> None:
    """Set ``bias`` so that ``softplus(bias)`` is log-uniform in ``[dt_min, dt_max]``."""
    dt = torch.exp(
        torch.rand_like(bias) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    ).clamp(min=floor)
    with torch.no_grad():
        bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus


def _check_dt_range(name: str, dt_range: tuple[float, float]) -> None:
    low, high = dt_range
    if not 0 < low <= high:
        raise ValueError(f"SSM2D: {name} must be (min, max) with 0 < min <= max, got {dt_range!r}")


def check_couplings(owner: str, couplings: object) -> None:
    """Raise a ValueError naming ``owner`` unless ``couplings`` is a key of :data:`COUPLINGS`."""
    if not isinstance(couplings, str) or couplings not in COUPLINGS:
        raise ValueError(f"{owner}: couplings must be one of "
                         f"{', '.join(repr(name) for name in COUPLINGS)}, got {couplings!r}")


class SelectiveSSM2D(nn.Module):
    """One direction and one discretisation of the 2-D SSM, parameters from the input.

    ``x`` ``[batch, n_vars, n_times, d_inner]`` (and ``select`` ``[batch, n_vars, n_times,
    1]``, the selection weight of each cell's input into the variate scan) -> ``[batch,
    n_vars, n_times, d_inner]`` (before any gate). ``A`` of both axes starts at
    ``-[1..d_state]`` per channel, ``D`` at 1, the time axis's step sizes log-uniform in
    ``[dt_min, dt_max]``, the variate axis's in ``variate_dt`` (None: the same range),
    the couplings that ``couplings`` names (see :data:`COUPLINGS`) at ``coupling``, learned;
    a coupling not learned is None (absent from the parameters).
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
        coupling: float = 0.0,
        couplings: str = "both",
        backend: str = "auto",
        variate_dt: tuple[float, float] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_couplings("SelectiveSSM2D", couplings)
        if backend not in BACKENDS_2D:  # refused when built, not at the first step
            raise ValueError(f"SelectiveSSM2D: backend {backend!r} is not one of "
                             f"{', '.join(BACKENDS_2D)}")
        factory = {"device": device, "dtype": dtype}
        self.d_inner, self.d_state = d_inner, d_state
        self.period, self.reverse_variates = period, reverse_variates
        self.dt_rank = dt_rank or math.ceil(d_inner / 16)
        self.backend = backend
        # One projection yields both axes' step-size features and B, C: [2 r + 4 n].
        self.x_proj = nn.Linear(d_inner, 2 * self.dt_rank + 4 * d_state, bias=False, **factory)
        self.dt_time_proj = nn.Linear(self.dt_rank, d_inner, **factory)
        self.dt_var_proj = nn.Linear(self.dt_rank, d_inner, **factory)
        var_min, var_max = variate_dt or (dt_min, dt_max)
        for proj, (low, high) in ((self.dt_time_proj, (dt_min, dt_max)),
                                  (self.dt_var_proj, (var_min, var_max))):
            nn.init.uniform_(proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
            init_step_bias(proj.bias, low, high, dt_init_floor)
        states = torch.arange(1, d_state + 1, device=device, dtype=dtype or torch.float32)
        A_log = torch.log(states).repeat(d_inner, 1)
        self.A_time_log = nn.Parameter(A_log.clone())  # [d_inner, d_state]
        self.A_var_log = nn.Parameter(A_log)
        self.D = nn.Parameter(torch.ones(d_inner, **factory))

        def learned(on: bool) -> nn.Parameter | None:
            # Any sign; zero starts the scan as two independent axes (2-D Mamba).
            return (nn.Parameter(torch.full((d_inner, d_state), float(coupling), **factory))
                    if on else None)

        var_to_time, time_to_var = COUPLINGS[couplings]
        self.A_var_to_time, self.A_time_to_var = learned(var_to_time), learned(time_to_var)

    def initial_state(self, batch: int, n_vars: int) -> ScanState:
        """Zero states before a grid (float32, on the parameters' device)."""
        device = self.D.device
        return (torch.zeros(batch, self.d_inner, n_vars, self.period, self.d_state,
                            device=device),
                torch.zeros(batch, self.d_inner, n_vars, self.d_state, device=device))

    def forward(self, x: torch.Tensor, select: torch.Tensor | None = None,
                state: ScanState | None = None) -> tuple[torch.Tensor, ScanState]:
        """``x`` [batch, n_vars, n_times, d_inner] -> (``y`` of the same shape, the last
        states), continuing from ``state`` (None: zeros)."""
        r, n = self.dt_rank, self.d_state
        # x_proj's rows one slice at a time, so that every part comes out contiguous, the
        # layout the scan reads (a split of one product would be strided: copies forward and
        # a gather of the parts' gradients backward cost more than the product itself).
        dt_time, dt_var, B_time, C_time, B_var, C_var = (
            F.linear(x, rows) for rows in self.x_proj.weight.split([r, r, n, n, n, n])
        )  # [b, v, t, .]
        if select is not None:
            B_var = B_var * select

        def grid(a: torch.Tensor) -> torch.Tensor:  # [b, v, t, c] -> [b, c, v, t]
            return a.permute(0, 3, 1, 2)

        def coupling(a: nn.Parameter | None) -> torch.Tensor | None:
            return None if a is None else a.float()

        y, last = selective_scan_2d(
            grid(x), grid(F.linear(dt_time, self.dt_time_proj.weight)),
            grid(F.linear(dt_var, self.dt_var_proj.weight)),
            -torch.exp(self.A_time_log.float()), -torch.exp(self.A_var_log.float()),
            grid(B_time), grid(C_time), grid(B_var), grid(C_var), D=self.D.float(),
            A_var_to_time=coupling(self.A_var_to_time),
            A_time_to_var=coupling(self.A_time_to_var),
            delta_bias_time=self.dt_time_proj.bias.float(),
            delta_bias_var=self.dt_var_proj.bias.float(), delta_softplus=True,
            period=self.period, reverse_variates=self.reverse_variates, initial_state=state,
            return_last_state=True, backend=self.backend,
        )
        return y.permute(0, 2, 3, 1), last


class SSM2D(nn.Module):
    """Chimera's 2-D SSM block: ``[batch, n_vars, n_times, d_model]`` -> same shape.

    Args:
        d_model: width of the cell embeddings in and out.
        d_state: state size per channel on each axis.
        expand: ``d_inner = expand * d_model``.
        dt_rank: rank of the step-size projections; None means ``ceil(d_inner / 16)``.
        season_period: time lag of the seasonal head's time recurrence (1: every step; the
            heads then differ by their step sizes only).
        bidirectional: also scan the variates backwards (each head gets a second scan).
        trend_dt, seasonal_dt: ``(min, max)`` of each head's initial step sizes along time.
        variate_dt: ``(min, max)`` of the initial step sizes along the variates (every head):
            larger than along time, since the variate axis is short (7 steps for ETTh1) and
            a state fed with steps of 0.001-0.1 would barely fill over it, leaving the variate
            scan and both couplings nearly inert.
        dt_init_floor: smallest initial step size.
        coupling: initial value of the learned couplings.
        couplings: which couplings are learned: ``"both"``, ``"time_to_var"`` (the time
            state feeds the variate axis), ``"var_to_time"`` or ``"none"`` (uncoupled axes);
            see :data:`COUPLINGS`.
        select_variates: learn the variate-selection gate (False: every cell feeds the
            variate scans fully).
        backend: 2-D scan backend (``"auto"`` picks the fastest for the device).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 1,
        dt_rank: int | None = None,
        season_period: int = 1,
        bidirectional: bool = True,
        trend_dt: tuple[float, float] = (0.001, 0.01),
        seasonal_dt: tuple[float, float] = (0.01, 0.1),
        variate_dt: tuple[float, float] = (0.1, 1.0),
        dt_init_floor: float = 1e-4,
        coupling: float = 0.0,
        couplings: str = "both",
        select_variates: bool = True,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_couplings("SSM2D", couplings)
        if isinstance(season_period, bool) or not isinstance(season_period, int) or (
                season_period < 1):
            raise ValueError(f"SSM2D: season_period must be a positive int, got {season_period!r}")
        _check_dt_range("trend_dt", trend_dt)
        _check_dt_range("seasonal_dt", seasonal_dt)
        _check_dt_range("variate_dt", variate_dt)
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.d_inner = d_model, expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, **factory)
        directions = (False, True) if bidirectional else (False,)

        def head(period: int, dt_range: tuple[float, float]) -> nn.ModuleList:
            return nn.ModuleList(
                SelectiveSSM2D(self.d_inner, d_state, dt_rank, period, reverse, *dt_range,
                               dt_init_floor, coupling, couplings, backend, variate_dt,
                               **factory)
                for reverse in directions
            )

        self.trend = head(1, trend_dt)
        self.seasonal = head(season_period, seasonal_dt)
        self.select_proj = (nn.Linear(self.d_inner, 1, **factory) if select_variates
                            else None)
        self.mix_proj = nn.Linear(self.d_inner, self.d_inner, **factory)
        self.out_proj = nn.Linear(self.d_inner, d_model, **factory)

    @property
    def scans(self) -> list[SelectiveSSM2D]:
        """Every 2-D scan, in the order of a state's entries."""
        return [*self.trend, *self.seasonal]

    def initial_state(self, batch: int, n_vars: int) -> list[ScanState]:
        """Zero states of every scan, to stream a grid from its first column."""
        return [scan.initial_state(batch, n_vars) for scan in self.scans]

    def forward(self, cells: torch.Tensor, state: list[ScanState] | None = None,
                return_state: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[ScanState]]:
        """``cells`` [batch, n_vars, n_times, d_model] -> [batch, n_vars, n_times, d_model]
        (and, with ``return_state``, every scan's last states), continuing from ``state``
        (None: the grid's first column)."""
        if cells.dim() != 4 or cells.shape[-1] != self.d_model:
            raise ValueError(
                f"SSM2D: input has shape {tuple(cells.shape)}; it needs "
                f"(batch, n_vars, n_times, d_model={self.d_model})"
            )
        # The signal and the gate, each [b, v, t, d_inner] and contiguous (in_proj's two halves
        # applied separately: elementwise ops on halves of one product run strided, 8x slower).
        x, z = (F.linear(cells, weight, bias) for weight, bias in
                zip(self.in_proj.weight.chunk(2), self.in_proj.bias.chunk(2), strict=True))
        x = F.silu(x)
        select = None if self.select_proj is None else torch.sigmoid(self.select_proj(x))
        states = [None] * len(self.scans) if state is None else state
        outputs, last = [], []
        for scan, scan_state in zip(self.scans, states, strict=True):
            y, scan_last = scan(x, select, scan_state)
            outputs.append(y)
            last.append(scan_last)
        n_trend = len(self.trend)
        trend = sum(outputs[1:n_trend], outputs[0])
        seasonal = sum(outputs[n_trend + 1:], outputs[n_trend])
        mix = torch.sigmoid(self.mix_proj(x))
        # mix * trend + (1 - mix) * seasonal, in one op
        out = self.out_proj(torch.lerp(seasonal, trend, mix) * F.silu(z))
        return (out, last) if return_state else out

    def step(self, column: torch.Tensor, state: list[ScanState]
             ) -> tuple[torch.Tensor, list[ScanState]]:
        """One time column ``[batch, n_vars, d_model]`` -> (its output, same shape; the new
        state); ``state`` from :meth:`initial_state` or a previous call."""
        out, state = self.forward(column[:, :, None], state, return_state=True)
        return out[:, :, 0], state
