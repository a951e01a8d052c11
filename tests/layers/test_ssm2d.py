"""The 2-D SSM block: shapes, gradients, agreement of the fast scan with the reference, the
directions information flows in, and clear errors."""

from __future__ import annotations

import pytest
import torch

from tsssm.layers import SSM2D, SelectiveSSM2D


def block(**options) -> SSM2D:
    torch.manual_seed(0)
    return SSM2D(d_model=8, d_state=4, season_period=3, **options)


def test_shape_and_gradients_reach_every_parameter() -> None:
    layer = block()
    cells = torch.randn(2, 3, 7, 8, requires_grad=True)
    out = layer(cells)
    assert out.shape == cells.shape
    out.square().mean().backward()
    assert cells.grad is not None
    missing = [n for n, p in layer.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_fast_scan_equals_the_reference_values_and_parameter_gradients() -> None:
    cells = torch.randn(2, 3, 5, 8)
    results = []
    for backend in ("ref", "auto"):
        layer = block(backend=backend)
        out = layer(cells)
        grads = torch.autograd.grad(out.square().sum(), list(layer.parameters()))
        results.append((out, grads))
    (ref_out, ref_grads), (out, grads) = results
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_information_flows_across_variates_in_the_scanned_directions(bidirectional: bool) -> None:
    layer = block(bidirectional=bidirectional).eval()
    cells = torch.randn(1, 4, 6, 8)
    changed = cells.clone()
    changed[:, 3] += 1.0  # the last variate
    first_moves = not torch.allclose(layer(cells)[:, 0], layer(changed)[:, 0])
    assert first_moves == bidirectional
    assert not torch.allclose(layer(cells)[:, 3], layer(changed)[:, 3])


def test_both_heads_are_causal_in_time() -> None:
    layer = block().eval()
    cells = torch.randn(1, 3, 9, 8)
    changed = cells.clone()
    changed[:, :, 5:] += 1.0
    torch.testing.assert_close(layer(changed)[:, :, :5], layer(cells)[:, :, :5])
    assert not torch.allclose(layer(changed)[:, :, 5:], layer(cells)[:, :, 5:])


def test_seasonal_head_steps_by_its_period() -> None:
    torch.manual_seed(0)
    head = SelectiveSSM2D(d_inner=4, d_state=3, period=3, coupling=0.0).eval()
    x = torch.randn(1, 1, 9, 4)
    changed = x.clone()
    changed[:, :, 1] += 1.0
    moved = (head(changed) - head(x)).abs().amax(dim=(0, 1, 3)) > 0  # [t]
    # Only step 1 and the steps of its phase (4, 7) see the change.
    assert moved.tolist() == [t in (1, 4, 7) for t in range(9)]


def test_device_and_dtype_are_honoured() -> None:
    layer = SSM2D(d_model=4, d_state=2, season_period=2, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert layer(torch.randn(1, 2, 3, 4, dtype=torch.float64)).dtype == torch.float64


def test_bad_input_and_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"input has shape \(2, 3, 8\).*d_model=8"):
        block()(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"season_period must be a positive int, got 0"):
        SSM2D(d_model=8, season_period=0)
