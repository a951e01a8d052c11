"""The public selective scan: validates inputs, picks a backend, falls back with a message."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from . import chunked, cpu, reference, triton_scan
from ._inputs import ScanInputs, normalize_scan_inputs

Backend = Callable[[ScanInputs], tuple[torch.Tensor, torch.Tensor]]

BACKENDS: dict[str, Backend] = {
    "ref": reference.selective_scan_ref,
    "cpu": cpu.selective_scan_cpu,
    "chunked": chunked.selective_scan_chunked,
    "triton": triton_scan.selective_scan_triton,
}

# Why a backend cannot run on a device, or None when it can; "ref" and "chunked" always can.
_UNAVAILABLE: dict[str, Callable[[torch.device], str | None]] = {
    "cpu": cpu.unavailable_reason,
    "triton": triton_scan.unavailable_reason,
}

_warned: set[tuple[str, str]] = set()


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Names of the backends that can run on ``device`` (``"auto"`` is always accepted)."""
    device = torch.device(device)
    return [name for name in BACKENDS if name not in _UNAVAILABLE or not _UNAVAILABLE[name](device)]


def exporting_to_onnx() -> bool:
    """Whether ``torch.onnx.export`` is tracing: ONNX has no operator for the fused CPU kernel
    (an opaque ``tsssm::`` op), so the scan is then recorded as the pure-PyTorch ``chunked``
    backend, the same recurrence in standard operators."""
    return torch.onnx.is_in_onnx_export()


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """Turn ``backend`` (a name or ``"auto"``) into a backend that can run on ``device``.

    ``auto`` means triton on CUDA and the fused CPU kernel on the CPU. A requested backend
    that cannot run falls back to ``chunked`` (pure PyTorch, any device) with a warning that
    says why and how to get the requested one. While exporting to ONNX, ``cpu`` becomes
    ``chunked`` (see :func:`exporting_to_onnx`).
    """
    device = torch.device(device)
    if backend == "auto":
        wanted = "triton" if device.type == "cuda" else "cpu"
    elif backend in BACKENDS:
        wanted = backend
    else:
        choices = ", ".join(["auto", *BACKENDS])
        raise ValueError(f"selective_scan: unknown backend {backend!r}; choose one of {choices}")
    if wanted == "cpu" and exporting_to_onnx():
        return "chunked"
    reason = _UNAVAILABLE[wanted](device) if wanted in _UNAVAILABLE else None
    if reason is None:
        return wanted
    if (wanted, reason) not in _warned:
        _warned.add((wanted, reason))
        warnings.warn(
            f"selective_scan: backend {wanted!r} cannot run on {device}: {reason} "
            "Falling back to the pure-PyTorch 'chunked' backend.",
            RuntimeWarning,
            stacklevel=3,
        )
    return "chunked"


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: torch.Tensor | None = None,
    reverse: bool = False,
    return_last_state: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan with the arguments and semantics of mamba-ssm's ``selective_scan_fn``.

    Args:
        u: input ``[batch, dim, length]``.
        delta: step sizes before discretisation ``[batch, dim, length]``.
        A: state matrix (diagonal per channel) ``[dim, state]``; negative for a stable scan.
        B, C: input and output projections ``[batch, state, length]``, or grouped
            ``[batch, groups, state, length]`` where channel ``d`` uses group
            ``d // (dim // groups)``.
        D: skip connection ``[dim]``.
        z: gate ``[batch, dim, length]``; the output is multiplied by ``silu(z)``.
        delta_bias: added to ``delta`` ``[dim]``.
        delta_softplus: pass ``delta + delta_bias`` through softplus.
        initial_state: state before the first step ``[batch, dim, state]`` (zeros if None);
            gradients flow into it.
        reverse: scan from the last step to the first (for bidirectional models).
        return_last_state: also return the state after the last scanned step.
        backend: ``"auto"``, ``"ref"``, ``"cpu"``, ``"chunked"`` or ``"triton"``.

    Layouts: any strides are accepted. The ``"cpu"`` kernel reads two layouts in place: the
    contiguous shapes above, and channel-last, where ``u`` is a transposed view of a
    ``[batch, length, dim]`` tensor (as a Mamba mixer's projections are), ``delta`` and
    ``z`` likewise, and ``B``, ``C`` views of ``[batch, length, (groups,) state]`` ones; a
    channel-last ``u`` gives a channel-last ``out``. Other strides are copied to the layout
    ``u`` selects.

    Returns:
        ``out`` ``[batch, dim, length]`` in ``u``'s dtype, and with ``return_last_state``
        also ``last_state`` ``[batch, dim, state]`` in float32 (float64 for float64 inputs).
        The state always accumulates in float32 or wider.
    """
    inputs = normalize_scan_inputs(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, reverse
    )
    out, last_state = BACKENDS[resolve_backend(backend, u.device)](inputs)
    return (out, last_state) if return_last_state else out
