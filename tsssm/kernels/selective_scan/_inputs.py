"""Validation and normalisation of selective-scan inputs, shared by every backend.

Every backend receives a :class:`ScanInputs` whose tensors already have the canonical shapes
below, so no backend repeats a shape check:

- ``u``, ``delta``: ``[batch, dim, length]``; ``z``: same or ``None``
- ``A``: ``[dim, state]``
- ``B``, ``C``: ``[batch, groups, state, length]`` (an ungrouped ``[batch, state, length]`` input
  becomes ``groups == 1``); ``dim`` is a multiple of ``groups`` and channel ``d`` reads group
  ``d // (dim // groups)``
- ``D``, ``delta_bias``: ``[dim]`` or ``None``
- ``initial_state``: ``[batch, dim, state]`` or ``None``
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


@dataclass(frozen=True)
class ScanInputs:
    """Canonical selective-scan inputs (see the module docstring for shapes)."""

    u: torch.Tensor
    delta: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    D: torch.Tensor | None
    z: torch.Tensor | None
    delta_bias: torch.Tensor | None
    delta_softplus: bool
    initial_state: torch.Tensor | None
    reverse: bool

    @property
    def batch(self) -> int:
        return self.u.shape[0]

    @property
    def dim(self) -> int:
        return self.u.shape[1]

    @property
    def length(self) -> int:
        return self.u.shape[2]

    @property
    def state(self) -> int:
        return self.A.shape[1]

    @property
    def groups(self) -> int:
        return self.B.shape[1]


def _fail(fn: str, name: str, got: torch.Tensor, needed: str) -> ValueError:
    return ValueError(f"{fn}: `{name}` has shape {tuple(got.shape)}; it needs {needed}")


def check_no_empty_dims(fn: str, name: str, x: torch.Tensor, dims: str) -> None:
    """Refuse a tensor with a zero-sized dimension (``dims`` names them, e.g. ``"(batch, dim)"``).

    An empty batch, channel, time or state axis has nothing to scan, and the compiled kernels
    divide by these sizes, so it is refused here, before any backend runs.
    """
    if 0 in x.shape:
        raise _fail(fn, name, x, f"{dims} with every size >= 1 (an empty dimension has "
                    "nothing to scan)")


def _check_tensor(fn: str, name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: `{name}` must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(
            f"{fn}: `{name}` has dtype {x.dtype}; it needs a floating dtype "
            "(float32, bfloat16, float16 or float64)"
        )
    return x


def _check_same_device(fn: str, named: dict[str, torch.Tensor | None]) -> None:
    devices = {name: t.device for name, t in named.items() if t is not None}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"`{n}` on {d}" for n, d in devices.items())
        raise ValueError(f"{fn}: all tensors must be on one device, got {listing}")


def _check_bc(fn: str, name: str, x: torch.Tensor, batch: int, dim: int, state: int,
              length: int) -> torch.Tensor:
    needed = (
        f"(batch, state, length) = ({batch}, {state}, {length}) or "
        f"(batch, groups, state, length) = ({batch}, groups, {state}, {length}) "
        f"with dim={dim} divisible by groups"
    )
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[0] != batch or x.shape[2] != state or x.shape[3] != length:
        raise _fail(fn, name, x if x.dim() != 4 or x.shape[1] != 1 else x.squeeze(1), needed)
    if x.shape[1] == 0 or dim % x.shape[1] != 0:
        raise _fail(fn, name, x, needed)
    return x


def normalize_scan_inputs(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    initial_state: torch.Tensor | None,
    reverse: bool,
) -> ScanInputs:
    """Check every argument of ``selective_scan`` and return them in canonical form.

    Raises ``ValueError`` naming the argument, the shape it has and the shape it needs.
    """
    fn = "selective_scan"
    u = _check_tensor(fn, "u", u)
    if u.dim() != 3:
        raise _fail(fn, "u", u, "(batch, dim, length)")
    check_no_empty_dims(fn, "u", u, "(batch, dim, length)")
    batch, dim, length = u.shape
    delta = _check_tensor(fn, "delta", delta)
    if tuple(delta.shape) != (batch, dim, length):
        raise _fail(fn, "delta", delta, f"(batch, dim, length) = {(batch, dim, length)}")
    A = _check_tensor(fn, "A", A)
    if A.dim() != 2 or A.shape[0] != dim:
        raise _fail(fn, "A", A, f"(dim, state) = ({dim}, state)")
    check_no_empty_dims(fn, "A", A, "(dim, state)")
    state = A.shape[1]
    B = _check_bc(fn, "B", _check_tensor(fn, "B", B), batch, dim, state, length)
    C = _check_bc(fn, "C", _check_tensor(fn, "C", C), batch, dim, state, length)
    if B.shape[1] != C.shape[1]:
        raise ValueError(
            f"{fn}: `B` has {B.shape[1]} groups and `C` has {C.shape[1]}; they need the same"
        )
    for name, vec in (("D", D), ("delta_bias", delta_bias)):
        if vec is not None and (_check_tensor(fn, name, vec).dim() != 1 or vec.shape[0] != dim):
            raise _fail(fn, name, vec, f"(dim,) = ({dim},)")
    if z is not None and tuple(_check_tensor(fn, "z", z).shape) != (batch, dim, length):
        raise _fail(fn, "z", z, f"(batch, dim, length) = {(batch, dim, length)}")
    if initial_state is not None and tuple(
        _check_tensor(fn, "initial_state", initial_state).shape
    ) != (batch, dim, state):
        raise _fail(
            fn, "initial_state", initial_state, f"(batch, dim, state) = {(batch, dim, state)}"
        )
    _check_same_device(
        fn,
        {"u": u, "delta": delta, "A": A, "B": B, "C": C, "D": D, "z": z,
         "delta_bias": delta_bias, "initial_state": initial_state},
    )
    return ScanInputs(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), initial_state,
                      bool(reverse))
