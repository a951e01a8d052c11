"""Validation and normalisation of 2-D selective-scan inputs, shared by every backend.

Every backend receives a :class:`Scan2DInputs` whose tensors have the shapes below, so no
backend repeats a check. ``grid`` is ``(n_vars, length)``: variates by time steps.

- ``u``, ``delta_time``, ``delta_var``: ``[batch, dim, n_vars, length]``; ``z``: same or None
- ``A_time``, ``A_var``: ``[dim, state]``
- ``B_time``, ``C_time``, ``B_var``, ``C_var``: ``[batch, state, n_vars, length]``
- ``D``, ``coupling``, ``delta_bias_time``, ``delta_bias_var``: ``[dim]`` or None
- ``period``: a positive int (time lag of the time-axis recurrence)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..selective_scan._inputs import _check_same_device, _check_tensor, _fail

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
    coupling: torch.Tensor | None
    delta_bias_time: torch.Tensor | None
    delta_bias_var: torch.Tensor | None
    delta_softplus: bool
    period: int
    reverse_variates: bool

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


def _check_finite(named: dict[str, torch.Tensor | None]) -> None:
    for name, x in named.items():
        # A NaN or inf anywhere spreads along both axes of the grid; say where it came from.
        if x is not None and x.device.type != "meta" and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{FN}: `{name}` contains NaN or infinite values")


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
    coupling: torch.Tensor | None,
    delta_bias_time: torch.Tensor | None,
    delta_bias_var: torch.Tensor | None,
    delta_softplus: bool,
    period: int,
    reverse_variates: bool,
) -> Scan2DInputs:
    """Check every argument of ``selective_scan_2d`` and bundle them.

    Raises ``ValueError`` naming the argument and what is wrong (shape it has and shape it
    needs, dtype, NaN), ``TypeError`` for a non-tensor.
    """
    u = _check_tensor(FN, "u", u)
    if u.dim() != 4 or u.shape[2] == 0 or u.shape[3] == 0:
        raise _fail(FN, "u", u, "(batch, dim, n_vars, length) with n_vars >= 1 and length >= 1")
    batch, dim, n_vars, length = u.shape
    grid = (batch, dim, n_vars, length)
    for name, x in (("delta_time", delta_time), ("delta_var", delta_var), ("z", z)):
        if x is not None and tuple(_check_tensor(FN, name, x).shape) != grid:
            raise _fail(FN, name, x, f"(batch, dim, n_vars, length) = {grid}")
    A_time = _check_tensor(FN, "A_time", A_time)
    if A_time.dim() != 2 or A_time.shape[0] != dim:
        raise _fail(FN, "A_time", A_time, f"(dim, state) = ({dim}, state)")
    state = A_time.shape[1]
    if tuple(_check_tensor(FN, "A_var", A_var).shape) != (dim, state):
        raise _fail(FN, "A_var", A_var, f"(dim, state) = ({dim}, {state}), like `A_time`")
    bc_shape = (batch, state, n_vars, length)
    for name, x in (("B_time", B_time), ("C_time", C_time), ("B_var", B_var), ("C_var", C_var)):
        if tuple(_check_tensor(FN, name, x).shape) != bc_shape:
            raise _fail(FN, name, x, f"(batch, state, n_vars, length) = {bc_shape}")
    vectors = {"D": D, "coupling": coupling, "delta_bias_time": delta_bias_time,
               "delta_bias_var": delta_bias_var}
    for name, x in vectors.items():
        if x is not None and tuple(_check_tensor(FN, name, x).shape) != (dim,):
            raise _fail(FN, name, x, f"(dim,) = ({dim},)")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{FN}: `period` must be a positive int, got {period!r}")
    named = {"u": u, "delta_time": delta_time, "delta_var": delta_var, "A_time": A_time,
             "A_var": A_var, "B_time": B_time, "C_time": C_time, "B_var": B_var,
             "C_var": C_var, "z": z, **vectors}
    _check_same_device(FN, named)
    _check_finite(named)
    return Scan2DInputs(u, delta_time, delta_var, A_time, A_var, B_time, C_time, B_var, C_var,
                        D, z, coupling, delta_bias_time, delta_bias_var, bool(delta_softplus),
                        period, bool(reverse_variates))
