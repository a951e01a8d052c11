"""Validation and normalisation of 2-D selective-scan inputs, shared by every backend.

Every backend receives a :class:`Scan2DInputs` whose tensors have the shapes below, so no
backend repeats a check. The grid is ``(n_vars, length)``: variates by time steps.

- ``u``, ``delta_time``, ``delta_var``: ``[batch, dim, n_vars, length]``; ``z``: same or None
- ``A_time``, ``A_var``: ``[dim, state]``; ``A_var_to_time``, ``A_time_to_var``: same or None
- ``B_time``, ``C_time``, ``B_var``, ``C_var``: ``[batch, state, n_vars, length]``
- ``D``, ``delta_bias_time``, ``delta_bias_var``: ``[dim]`` or None
- ``time_state0``: ``[batch, dim, n_vars, period, state]`` or None (the time states of the
  ``period`` steps before the grid); ``var_state0``: ``[batch, dim, n_vars, state]`` or None
  (the variate states of the step before the grid)
- ``period``: a positive int (time lag of the time-axis recurrence)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..selective_scan._inputs import (
    _check_same_device,
    _check_tensor,
    _fail,
    check_no_empty_dims,
)

FN = "selective_scan_2d"


@dataclass(frozen=True)
class Scan2DInputs:
    """Canonical 2-D selective-scan inputs (see the module docstring for shapes)."""

    u: torch.Tensor
    delta_time: torch.Tensor
    delta_var: torch.Tensor
    A_time: torch.Tensor
    A_var: torch.Tensor
    B_time: torch.Tensor
    C_time: torch.Tensor
    B_var: torch.Tensor
    C_var: torch.Tensor
    D: torch.Tensor | None
    z: torch.Tensor | None
    A_var_to_time: torch.Tensor | None
    A_time_to_var: torch.Tensor | None
    delta_bias_time: torch.Tensor | None
    delta_bias_var: torch.Tensor | None
    delta_softplus: bool
    period: int
    reverse_variates: bool
    time_state0: torch.Tensor | None = None
    var_state0: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return self.u.shape[0]

    @property
    def dim(self) -> int:
        return self.u.shape[1]

    @property
    def n_vars(self) -> int:
        return self.u.shape[2]

    @property
    def length(self) -> int:
        return self.u.shape[3]

    @property
    def state(self) -> int:
        return self.A_time.shape[1]

    @property
    def coupled(self) -> bool:
        """Whether either coupling is given (the axes then no longer split into 1-D scans)."""
        return self.A_var_to_time is not None or self.A_time_to_var is not None


def _check_finite(named: dict[str, torch.Tensor | None]) -> None:
    if torch.compiler.is_compiling():
        # A data-dependent branch cannot be traced (torch.compile / torch.export): skipped.
        return
    for name, x in named.items():
        # A NaN or inf anywhere spreads along both axes of the grid; say where it came from.
        # One sum per tensor is the cheap test (NaN and inf survive it); only a non-finite sum,
        # which large finite values can also give, is confirmed element by element.
        if x is None or x.device.type == "meta" or bool(torch.isfinite(x.sum())):
            continue
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{FN}: `{name}` contains NaN or infinite values")


def _check_initial_state(initial_state: object, batch: int, dim: int, n_vars: int,
                         period: int, state: int
                         ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if initial_state is None:
        return None, None
    if not isinstance(initial_state, tuple | list) or len(initial_state) != 2:
        raise TypeError(f"{FN}: `initial_state` must be a pair (time_state, var_state), "
                        f"got {type(initial_state).__name__}")
    time0, var0 = (_check_tensor(FN, name, x) for name, x in
                   zip(("initial_state[0]", "initial_state[1]"), initial_state, strict=True))
    needed_time = (batch, dim, n_vars, period, state)
    if tuple(time0.shape) != needed_time:
        raise _fail(FN, "initial_state[0]", time0,
                    f"(batch, dim, n_vars, period, state) = {needed_time}")
    if tuple(var0.shape) != (batch, dim, n_vars, state):
        raise _fail(FN, "initial_state[1]", var0,
                    f"(batch, dim, n_vars, state) = {(batch, dim, n_vars, state)}")
    return time0, var0


def normalize_scan2d_inputs(
    u: torch.Tensor,
    delta_time: torch.Tensor,
    delta_var: torch.Tensor,
    A_time: torch.Tensor,
    A_var: torch.Tensor,
    B_time: torch.Tensor,
    C_time: torch.Tensor,
    B_var: torch.Tensor,
    C_var: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    A_var_to_time: torch.Tensor | None,
    A_time_to_var: torch.Tensor | None,
    delta_bias_time: torch.Tensor | None,
    delta_bias_var: torch.Tensor | None,
    delta_softplus: bool,
    period: int,
    reverse_variates: bool,
    initial_state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Scan2DInputs:
    """Check every argument of ``selective_scan_2d`` and bundle them.

    Raises ``ValueError`` naming the argument and what is wrong (shape it has and shape it
    needs, dtype, NaN, a period longer than the series), ``TypeError`` for a non-tensor.
    """
    u = _check_tensor(FN, "u", u)
    if u.dim() != 4:
        raise _fail(FN, "u", u, "(batch, dim, n_vars, length)")
    check_no_empty_dims(FN, "u", u, "(batch, dim, n_vars, length)")
    batch, dim, n_vars, length = u.shape
    grid = (batch, dim, n_vars, length)
    for name, x in (("delta_time", delta_time), ("delta_var", delta_var), ("z", z)):
        if x is not None and tuple(_check_tensor(FN, name, x).shape) != grid:
            raise _fail(FN, name, x, f"(batch, dim, n_vars, length) = {grid}")
    A_time = _check_tensor(FN, "A_time", A_time)
    if A_time.dim() != 2 or A_time.shape[0] != dim:
        raise _fail(FN, "A_time", A_time, f"(dim, state) = ({dim}, state)")
    check_no_empty_dims(FN, "A_time", A_time, "(dim, state)")
    state = A_time.shape[1]
    matrices = {"A_var": A_var, "A_var_to_time": A_var_to_time, "A_time_to_var": A_time_to_var}
    for name, x in matrices.items():
        if x is not None and tuple(_check_tensor(FN, name, x).shape) != (dim, state):
            raise _fail(FN, name, x, f"(dim, state) = ({dim}, {state}), like `A_time`")
    bc_shape = (batch, state, n_vars, length)
    for name, x in (("B_time", B_time), ("C_time", C_time), ("B_var", B_var), ("C_var", C_var)):
        if tuple(_check_tensor(FN, name, x).shape) != bc_shape:
            raise _fail(FN, name, x, f"(batch, state, n_vars, length) = {bc_shape}")
    vectors = {"D": D, "delta_bias_time": delta_bias_time, "delta_bias_var": delta_bias_var}
    for name, x in vectors.items():
        if x is not None and tuple(_check_tensor(FN, name, x).shape) != (dim,):
            raise _fail(FN, name, x, f"(dim,) = ({dim},)")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{FN}: `period` must be a positive int, got {period!r}")
    time0, var0 = _check_initial_state(initial_state, batch, dim, n_vars, period, state)
    if period > length and time0 is None:
        # Without earlier states no two steps of the grid would be linked along time.
        raise ValueError(f"{FN}: `period` {period} is longer than the series (length "
                         f"{length}); the time recurrence would link no two steps. Use a "
                         "shorter period or pass `initial_state` with the earlier steps")
    named = {"u": u, "delta_time": delta_time, "delta_var": delta_var, "A_time": A_time,
             "B_time": B_time, "C_time": C_time, "B_var": B_var, "C_var": C_var, "z": z,
             **matrices, **vectors, "initial_state[0]": time0, "initial_state[1]": var0}
    _check_same_device(FN, named)
    _check_finite(named)
    return Scan2DInputs(u, delta_time, delta_var, A_time, A_var, B_time, C_time, B_var, C_var,
                        D, z, A_var_to_time, A_time_to_var, delta_bias_time, delta_bias_var,
                        bool(delta_softplus), period, bool(reverse_variates), time0, var0)
