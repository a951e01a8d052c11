"""The Triton backend against the reference: the risks specific to its kernels.

Chunk boundaries of the checkpointed backward (lengths that are not a multiple of the chunk),
masked tiles (dim not a multiple of BLOCK_D, state not a power of two), grouped B/C with
several d-blocks per group (partial sums), reverse scans, every optional input on and off,
gradients through ``last_state``, bf16/fp16 inputs and bit-identical repeated backwards.

Without a GPU the kernels run in the Triton interpreter (``TRITON_INTERPRET=1`` set before
triton is imported), which is slow: shapes stay tiny.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tsssm.kernels.selective_scan import triton_scan
from tsssm.kernels.selective_scan._inputs import normalize_scan_inputs
from tsssm.kernels.selective_scan.reference import selective_scan_ref

pytest.importorskip("triton", reason="the Triton backend needs triton: pip install triton")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
_REASON = triton_scan.unavailable_reason(DEVICE)
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")
OPTIONAL = ("D", "z", "delta_bias", "initial_state")
ALL_ON = {"D": True, "z": True, "delta_bias": True, "initial_state": True, "softplus": True}
ALL_OFF = {"D": False, "z": False, "delta_bias": False, "initial_state": False, "softplus": False}


def make_leaves(
    batch: int, dim: int, state: int, length: int, groups: int, options: dict[str, bool],
    seed: int = 0,
) -> dict[str, torch.Tensor | None]:
    """Float32 leaf tensors (those switched off in ``options`` are None) for a stable scan."""
    torch.manual_seed(seed)
    delta = 0.5 * torch.rand(batch, dim, length)
    if options["softplus"] and length > 1:
        # Both extra branches of softplus: the linear one above threshold 20 and tiny outputs.
        delta[0, 0, 0], delta[0, -1, -1] = 25.0, -30.0
    leaves = {
        "u": torch.randn(batch, dim, length),
        "delta": delta,
        "A": -0.5 - torch.rand(dim, state),
        "B": torch.randn(batch, groups, state, length),
        "C": torch.randn(batch, groups, state, length),
        "D": torch.randn(dim),
        "z": torch.randn(batch, dim, length),
        "delta_bias": 0.3 * torch.rand(dim),
        "initial_state": torch.randn(batch, dim, state),
    }
    for name in OPTIONAL:
        if not options[name]:
            leaves[name] = None
    return {k: None if v is None else v.to(DEVICE).requires_grad_() for k, v in leaves.items()}


def run(
    backend: Callable[..., tuple[torch.Tensor, torch.Tensor]], leaves: dict, softplus: bool,
    reverse: bool, seed: int = 1, **kwargs: int,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Values and gradients of every present leaf for a random weighting of both outputs."""
    inputs = normalize_scan_inputs(
        leaves["u"], leaves["delta"], leaves["A"], leaves["B"], leaves["C"], leaves["D"],
        leaves["z"], leaves["delta_bias"], softplus, leaves["initial_state"], reverse,
    )
    out, last = backend(inputs, **kwargs)
    torch.manual_seed(seed)
    w_out = torch.randn(out.shape, device=DEVICE)
    w_last = torch.randn(last.shape, device=DEVICE)
    loss = (out.float() * w_out).sum() + (last.float() * w_last).sum()
    present = [name for name in NAMES if leaves[name] is not None]
    grads = torch.autograd.grad(loss, [leaves[name] for name in present])
    return out, last, dict(zip(present, grads, strict=True))


def assert_matches_reference(
    leaves: dict, softplus: bool, reverse: bool, chunk_size: int, rtol: float, atol: float,
    dtype: torch.dtype | None = None,
) -> None:
    """Run Triton (inputs cast to ``dtype``) and the fp32 reference; compare everything."""
    low = leaves
    if dtype is not None:
        low = {k: None if v is None else v.detach().to(dtype).requires_grad_()
               for k, v in leaves.items()}
        # The reference sees exactly the values the kernel sees, upcast to fp32.
        leaves = {k: None if v is None else v.detach().float().requires_grad_()
                  for k, v in low.items()}
    out, last, grads = run(triton_scan.selective_scan_triton, low, softplus, reverse,
                           chunk_size=chunk_size)
    ref_out, ref_last, ref_grads = run(selective_scan_ref, leaves, softplus, reverse)
    assert out.dtype == low["u"].dtype and last.dtype == torch.float32
    torch.testing.assert_close(out.float(), ref_out, rtol=rtol, atol=atol)
    torch.testing.assert_close(last, ref_last, rtol=rtol, atol=atol)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert grad.dtype == low[name].dtype, name
        # Low-precision gradients are rounded to 8 or 11 bits: compare against their scale.
        scale = 1.0 if dtype is None else max(1.0, ref_grads[name].abs().max().item())
        torch.testing.assert_close(grad.float(), ref_grads[name], rtol=rtol, atol=atol * scale,
                                   msg=lambda m, n=name: f"{n}: {m}")


# (batch, dim, state, length, groups, chunk_size, options, reverse)
CASES = [
    pytest.param(2, 3, 5, 1, 1, 4, ALL_ON, False, id="length1"),
    pytest.param(2, 3, 5, 63, 1, 16, ALL_ON, False, id="length63-chunk16"),
    pytest.param(1, 6, 5, 100, 2, 16, {**ALL_ON, "z": False}, True, id="length100-groups-reverse"),
    pytest.param(1, 2, 8, 257, 1, 64, {**ALL_OFF, "z": True}, False, id="length257-chunk64"),
    pytest.param(2, 6, 5, 37, 2, 8, ALL_OFF, False, id="no-options"),
    pytest.param(1, 5, 3, 37, 1, 8, {**ALL_OFF, "initial_state": True, "softplus": True}, True,
                 id="initial-state-softplus-reverse"),
    pytest.param(2, 4, 6, 20, 2, 7, {**ALL_ON, "D": False, "delta_bias": False}, False,
                 id="chunk7-z-initial-state"),
    pytest.param(1, 3, 5, 12, 1, 64, {**ALL_OFF, "D": True, "delta_bias": True}, True,
                 id="chunk-longer-than-length"),
]


@pytest.mark.parametrize("batch, dim, state, length, groups, chunk_size, options, reverse", CASES)
def test_matches_reference(batch, dim, state, length, groups, chunk_size, options, reverse):
    leaves = make_leaves(batch, dim, state, length, groups, options)
    assert_matches_reference(leaves, options["softplus"], reverse, chunk_size,
                             rtol=2e-4, atol=5e-4)


@pytest.mark.parametrize("reverse", [False, True])
def test_several_dblocks_per_group(monkeypatch, reverse):
    # BLOCK_N = 8 and a 16-value tile give BLOCK_D = 2: 2 d-blocks per group of 3 channels,
    # the second half masked, so dB/dC/dA/dD partial sums cross d-blocks and batch.
    monkeypatch.setattr(triton_scan, "MAX_TILE", 16)
    leaves = make_leaves(2, 6, 5, 20, 2, ALL_ON)
    assert_matches_reference(leaves, True, reverse, 8, rtol=2e-4, atol=5e-4)


def test_gradient_through_last_state_only():
    leaves = make_leaves(1, 3, 5, 30, 1, ALL_ON)
    present = [leaves[name] for name in NAMES]
    grads = []
    for backend, kwargs in ((triton_scan.selective_scan_triton, {"chunk_size": 8}),
                            (selective_scan_ref, {})):
        inputs = normalize_scan_inputs(*present[:7], leaves["delta_bias"], True,
                                       leaves["initial_state"], False)
        _, last = backend(inputs, **kwargs)
        # The reference's last state does not depend on D or z: their gradients are zero.
        grads.append(torch.autograd.grad(last.sum(), present, allow_unused=True,
                                         materialize_grads=True))
    for name, got, want in zip(NAMES, *grads, strict=True):
        torch.testing.assert_close(got, want, rtol=2e-4, atol=5e-4, msg=lambda m, n=name: n + m)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_against_fp32_reference(dtype):
    leaves = make_leaves(1, 4, 5, 40, 2, ALL_ON)
    assert_matches_reference(leaves, True, False, 16, rtol=3e-2, atol=3e-2, dtype=dtype)


def test_backward_is_bit_identical_on_repeat(monkeypatch):
    monkeypatch.setattr(triton_scan, "MAX_TILE", 16)
    leaves = make_leaves(2, 6, 5, 20, 2, ALL_ON)
    first = run(triton_scan.selective_scan_triton, leaves, True, True, chunk_size=8)
    second = run(triton_scan.selective_scan_triton, leaves, True, True, chunk_size=8)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    for name, grad in first[2].items():
        assert torch.equal(grad, second[2][name]), name


def test_non_contiguous_and_ungrouped_inputs():
    leaves = make_leaves(2, 3, 5, 10, 1, ALL_ON)
    # Same values, laid out transposed in memory; B and C as ungrouped [batch, state, length].
    flipped = {k: v.detach().transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()
               if k in ("u", "delta", "z") else v for k, v in leaves.items()}
    assert not flipped["u"].is_contiguous()
    flipped["B"] = leaves["B"].detach()[:, 0].requires_grad_()
    flipped["C"] = leaves["C"].detach()[:, 0].requires_grad_()
    out, last, grads = run(triton_scan.selective_scan_triton, flipped, True, False, chunk_size=4)
    ref_out, ref_last, ref_grads = run(selective_scan_ref, flipped, True, False)
    torch.testing.assert_close(out, ref_out, rtol=2e-4, atol=5e-4)
    torch.testing.assert_close(last, ref_last, rtol=2e-4, atol=5e-4)
    for name, grad in grads.items():
        assert grad.shape == flipped[name].shape, name
        torch.testing.assert_close(grad, ref_grads[name], rtol=2e-4, atol=5e-4)


def test_unavailable_reason():
    assert triton_scan.unavailable_reason(DEVICE) is None
    assert "CUDA" in triton_scan.unavailable_reason(torch.device("meta"))
    leaves = make_leaves(1, 1, 1, 2, 1, ALL_OFF)
    with pytest.raises(ValueError, match="chunk_size"):
        triton_scan.selective_scan_triton(
            normalize_scan_inputs(*(leaves[n] for n in NAMES[:5]), None, None, None, False,
                                  None, False),
            chunk_size=0,
        )
