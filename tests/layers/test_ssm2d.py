"""The 2-D SSM block: shapes, gradients, agreement of the fast scan with the reference, the
directions information flows in, streaming column by column, and clear errors."""

from __future__ import annotations

import pytest
import torch

from tsssm.layers import SSM2D, SelectiveSSM2D
from tsssm.layers.ssm2d import COUPLINGS


def block(**options) -> SSM2D:
    torch.manual_seed(0)
    options = {"season_period": 3, "coupling": 0.3, **options}
    return SSM2D(d_model=8, d_state=4, **options)


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
    head = SelectiveSSM2D(d_inner=4, d_state=3, period=3, couplings="none").eval()
    x = torch.randn(1, 1, 9, 4)
    changed = x.clone()
    changed[:, :, 1] += 1.0
    moved = (head(changed)[0] - head(x)[0]).abs().amax(dim=(0, 1, 3)) > 0  # [t]
    # Only step 1 and the steps of its phase (4, 7) see the change.
    assert moved.tolist() == [t in (1, 4, 7) for t in range(9)]


def test_variate_coupling_lets_the_seasonal_chains_meet() -> None:
    # With the variate state fed back into the time state, one phase reaches the next (large
    # steps, so that the effect of three couplings in a row stays above float32 rounding).
    torch.manual_seed(0)
    head = SelectiveSSM2D(d_inner=4, d_state=3, period=3, dt_min=0.5, dt_max=0.5,
                          coupling=1.0).eval()
    x = torch.randn(1, 2, 9, 4)
    changed = x.clone()
    changed[:, :, 1] += 1.0
    moved = (head(changed)[0] - head(x)[0]).abs().amax(dim=(0, 1, 3)) > 0
    assert moved.tolist() == [t >= 1 for t in range(9)]


@pytest.mark.parametrize("backend", ["ref", "auto"])
def test_streaming_column_by_column_equals_the_whole_grid(backend: str) -> None:
    layer = block(backend=backend).eval()
    cells = torch.randn(2, 3, 7, 8)
    whole, whole_state = layer(cells, return_state=True)
    prefix, state = layer(cells[:, :, :4], return_state=True)
    columns = [prefix]
    for t in range(4, 7):
        out, state = layer.step(cells[:, :, t], state)
        columns.append(out[:, :, None])
    torch.testing.assert_close(torch.cat(columns, dim=2), whole, rtol=1e-4, atol=1e-5)
    for (time_a, var_a), (time_b, var_b) in zip(state, whole_state, strict=True):
        torch.testing.assert_close(time_a, time_b, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(var_a, var_b, rtol=1e-4, atol=1e-5)
    # From the very first column too, starting from the zero state.
    state, columns = layer.initial_state(2, 3), []
    for t in range(7):
        out, state = layer.step(cells[:, :, t], state)
        columns.append(out[:, :, None])
    torch.testing.assert_close(torch.cat(columns, dim=2), whole, rtol=1e-4, atol=1e-5)


def test_both_couplings_are_learned_and_can_be_switched_off() -> None:
    layer = block()
    assert all(scan.A_var_to_time.requires_grad and scan.A_time_to_var.requires_grad
               for scan in layer.scans)
    assert all(scan.A_var_to_time is None for scan in block(couplings="none").scans)
    assert block(select_variates=False).select_proj is None


@pytest.mark.parametrize("couplings", list(COUPLINGS))
def test_only_the_named_couplings_are_parameters(couplings: str) -> None:
    names = {name.rsplit(".", 1)[-1] for name, _ in block(couplings=couplings).named_parameters()}
    var_to_time, time_to_var = COUPLINGS[couplings]
    assert ("A_var_to_time" in names) == var_to_time
    assert ("A_time_to_var" in names) == time_to_var


def test_the_heads_and_the_variate_axis_start_from_their_own_step_size_ranges() -> None:
    layer = block(trend_dt=(0.001, 0.002), seasonal_dt=(0.05, 0.1), variate_dt=(0.3, 0.6))
    for head, (low, high) in ((layer.trend, (0.001, 0.002)), (layer.seasonal, (0.05, 0.1))):
        for scan in head:
            for proj, (least, most) in ((scan.dt_time_proj, (low, high)),
                                        (scan.dt_var_proj, (0.3, 0.6))):
                dt = torch.nn.functional.softplus(proj.bias)
                assert dt.min() >= least * 0.999 and dt.max() <= most * 1.001


def test_device_and_dtype_are_honoured() -> None:
    layer = SSM2D(d_model=4, d_state=2, season_period=2, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert layer(torch.randn(1, 2, 3, 4, dtype=torch.float64)).dtype == torch.float64


def test_bad_input_and_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"input has shape \(2, 3, 8\).*d_model=8"):
        block()(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"season_period must be a positive int, got 0"):
        SSM2D(d_model=8, season_period=0)
    with pytest.raises(ValueError, match=r"seasonal_dt must be \(min, max\) with 0 < min <= max"):
        SSM2D(d_model=8, seasonal_dt=(0.1, 0.01))
    with pytest.raises(ValueError, match=r"variate_dt must be \(min, max\) with 0 < min <= max"):
        SSM2D(d_model=8, variate_dt=(0.0, 1.0))
    allowed = r"couplings must be one of 'both', 'time_to_var', 'var_to_time', 'none'"
    with pytest.raises(ValueError, match=allowed + ", got 'one_way'"):
        SSM2D(d_model=8, couplings="one_way")
    with pytest.raises(ValueError, match=r"SelectiveSSM2D: " + allowed + ", got True"):
        SelectiveSSM2D(d_inner=4, couplings=True)
