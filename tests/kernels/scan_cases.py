"""Random, well-conditioned selective-scan inputs shared by the kernel tests."""

from __future__ import annotations

from dataclasses import dataclass

import torch

OPTIONAL = ("D", "z", "delta_bias", "initial_state")


@dataclass(frozen=True)
class Case:
    """One selective-scan configuration; ``optional`` names the optional inputs to pass."""

    batch: int = 2
    dim: int = 4
    length: int = 63
    state: int = 8
    groups: int = 0  # 0: ungrouped [batch, state, length] B and C
    optional: tuple[str, ...] = OPTIONAL
    softplus: bool = True
    reverse: bool = False

    def __str__(self) -> str:
        grouped = f"g{self.groups}" if self.groups else "ungrouped"
        extras = "+".join(self.optional) or "none"
        direction = "rev" if self.reverse else "fwd"
        return (
            f"{self.batch}x{self.dim}x{self.length}x{self.state}-{grouped}-{extras}-"
            f"{'softplus' if self.softplus else 'linear'}-{direction}"
        )


def make_inputs(case: Case, seed: int = 0, dtype: torch.dtype = torch.float32,
                requires_grad: bool = True) -> dict[str, torch.Tensor | bool | None]:
    """Keyword arguments for ``selective_scan``: decays in (0, 1), step sizes of order 0.1-1."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    b, d, steps, n = case.batch, case.dim, case.length, case.state
    bc_shape = (b, case.groups, n, steps) if case.groups else (b, n, steps)
    if case.softplus:
        delta = randn(b, d, steps, scale=0.5) - 1.0
    else:
        delta = torch.rand(b, d, steps, generator=gen) * 0.5 + 0.05
    tensors: dict[str, torch.Tensor] = {
        "u": randn(b, d, steps),
        "delta": delta,
        "A": -torch.exp(randn(d, n, scale=0.5)),
        "B": randn(*bc_shape),
        "C": randn(*bc_shape),
        "D": randn(d),
        "z": randn(b, d, steps),
        "delta_bias": randn(d, scale=0.1),
        "initial_state": randn(b, d, n),
    }
    kwargs: dict[str, torch.Tensor | bool | None] = {}
    for name, value in tensors.items():
        if name in OPTIONAL and name not in case.optional:
            kwargs[name] = None
            continue
        value = value.to(dtype)
        kwargs[name] = value.requires_grad_() if requires_grad else value
    kwargs["delta_softplus"] = case.softplus
    kwargs["reverse"] = case.reverse
    return kwargs


def channel_last(kwargs: dict[str, torch.Tensor | bool | None]
                 ) -> dict[str, torch.Tensor | bool | None]:
    """The same inputs stored as a Mamba mixer makes them: ``u``, ``delta`` and ``z`` as
    transposed views of [batch, length, dim] tensors, ``B`` and ``C`` as views of [batch,
    length, (groups,) state] ones. Each stored tensor is a new leaf, so gradients reach it
    through the view."""
    out = dict(kwargs)
    for name in ("u", "delta", "z", "B", "C"):
        value = kwargs[name]
        if not isinstance(value, torch.Tensor):
            continue
        length_axis = value.dim() - 1
        order = (0, length_axis, *range(1, length_axis))
        back = (0, *range(2, value.dim()), 1)
        stored = value.detach().permute(order).contiguous().requires_grad_(value.requires_grad)
        out[name] = stored.permute(back)
    return out


def tensor_inputs(kwargs: dict[str, torch.Tensor | bool | None]) -> dict[str, torch.Tensor]:
    """The tensor-valued, non-None arguments, by name."""
    return {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}


def run_with_grads(scan, kwargs: dict, seed: int = 1):
    """Run ``scan(**kwargs, return_last_state=True)`` and differentiate a random projection of
    both outputs (so gradients also flow in through the last state).

    Returns ``(out, last_state, {name: grad})``.
    """
    out, last = scan(**kwargs, return_last_state=True)
    gen = torch.Generator().manual_seed(seed)
    w_out = torch.randn(out.shape, generator=gen).to(out.dtype)
    w_last = torch.randn(last.shape, generator=gen).to(last.dtype)
    loss = (out * w_out).float().sum() + (last * w_last).float().sum()
    named = tensor_inputs(kwargs)
    grads = torch.autograd.grad(loss, list(named.values()))
    return out.detach(), last.detach(), dict(zip(named, grads, strict=True))
