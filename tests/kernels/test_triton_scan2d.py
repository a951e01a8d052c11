"""The fused Triton 2-D scan against the double-loop reference: outputs, both last states and
every gradient, on odd grids.

The risks specific to its kernels: both variate directions, periods 1 and > 1 (the ring of
time states; a period longer than the grid, from initial states), each coupling alone and
both, segment boundaries of the checkpointed backward (lengths that are not a multiple of the
segment, one step per segment, one segment for all), masked tiles (dim not a multiple of
BLOCK_D, state not a power of two) over one or several channel blocks, and bit-identical
repeated backwards.

Without a GPU the kernels run in Triton's interpreter (``TRITON_INTERPRET=1``, set in
tests/conftest.py before triton is imported), about 10 ms per grid cell for forward and
backward: grids stay tiny.
"""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels import selective_scan_2d
from tsssm.kernels.scan2d import triton_scan2d
from tsssm.kernels.scan2d.api import resolve_backend_2d

from .test_scan2d import (
    assert_close,
    check_against_reference,
    make_inputs,
    make_states,
    run_with_grads,
    with_coupling,
)

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
_REASON = triton_scan2d.unavailable_reason(DEVICE)
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(autouse=True)
def _one_program_per_batch_item(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter runs programs one after another: one channel block per batch item keeps
    # the tests fast (BLOCK_D = 4 for dim 3: the fourth channel masked).
    monkeypatch.setattr(triton_scan2d, "TARGET_PROGRAMS", 1)


def grid_inputs(batch: int, n_vars: int, length: int, coupling: str, period: int,
                states: bool, dim: int = 3, state: int = 5):
    """Inputs (state 5: BLOCK_N 8, masked) and, if ``states``, initial states on DEVICE."""
    inputs = make_inputs(batch=batch, dim=dim, n_vars=n_vars, length=length, state=state,
                         optional=with_coupling(coupling))
    initial = make_states(inputs, period) if states else None
    move = lambda x: x.detach().to(DEVICE).requires_grad_()  # noqa: E731
    return ({k: move(v) for k, v in inputs.items()},
            None if initial is None else tuple(map(move, initial)))


# Every coupling in both directions; each direction with period 1 and with period 3 across
# the couplings. Lengths 4, 5 and 7 with the default segments (2, 2 or 3 steps) end on a
# partial segment.
CASES = [
    pytest.param("none", False, 1, 5, True, id="none-forward-p1"),
    pytest.param("none", True, 3, 7, False, id="none-reverse-p3"),
    pytest.param("var_to_time", False, 3, 7, True, id="var_to_time-forward-p3"),
    pytest.param("var_to_time", True, 1, 4, True, id="var_to_time-reverse-p1"),
    pytest.param("time_to_var", False, 1, 4, False, id="time_to_var-forward-p1"),
    pytest.param("time_to_var", True, 3, 5, True, id="time_to_var-reverse-p3"),
    pytest.param("both", False, 3, 5, True, id="both-forward-p3"),
    pytest.param("both", True, 1, 5, True, id="both-reverse-p1"),
]


@pytest.mark.parametrize(("coupling", "reverse", "period", "length", "states"), CASES)
def test_matches_reference(coupling: str, reverse: bool, period: int, length: int,
                           states: bool) -> None:
    inputs, initial = grid_inputs(1, 3, length, coupling, period, states)
    check_against_reference(inputs, "triton", initial, period=period, reverse_variates=reverse)


@pytest.mark.parametrize("segment", [1, 9])
def test_one_step_per_segment_and_one_segment_for_all(segment: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triton_scan2d, "SEGMENT_STEPS", segment)
    inputs, initial = grid_inputs(1, 2, 5, "both", 2, True)
    check_against_reference(inputs, "triton", initial, period=2, reverse_variates=True)


def test_period_longer_than_the_grid_reads_the_initial_states() -> None:
    inputs, initial = grid_inputs(1, 3, 2, "both", 3, True)
    check_against_reference(inputs, "triton", initial, period=3)


def test_several_channel_blocks_and_bit_identical_backward(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # BLOCK_N = 8 and a 16-value tile give BLOCK_D = 2: dim 3 in two blocks, the second
    # half masked, so the dB/dC partial sums cross blocks and the dA/dD ones the batch.
    monkeypatch.setattr(triton_scan2d, "MAX_TILE", 16)
    inputs, initial = grid_inputs(2, 2, 3, "both", 2, True)
    (ref_out, ref_grads), first, second = (
        run_with_grads(inputs, initial, backend=backend, period=2)
        for backend in ("ref", "triton", "triton"))
    for name, expected, actual, again in zip(("out", "time_state", "var_state"), ref_out,
                                             first[0], second[0], strict=True):
        assert_close(actual, expected, name)
        assert torch.equal(actual, again), name
    for name, expected in ref_grads.items():
        assert_close(first[1][name], expected, f"gradient of {name}")
        assert torch.equal(first[1][name], second[1][name]), f"gradient of {name}"


def test_launch_config_prefers_many_programs_within_the_partial_sums_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Halve the channel block while programs are few, but into MAX_DBLOCKS blocks at most.
    monkeypatch.setattr(triton_scan2d, "TARGET_PROGRAMS", 512)
    grid, blocks = triton_scan2d._launch_config(batch=16, dim=16, state=16)
    assert blocks["BLOCK_N"] == 16 and blocks["BLOCK_D"] == 2 and grid == (16, 8)
    grid, blocks = triton_scan2d._launch_config(batch=512, dim=64, state=16)
    assert blocks["BLOCK_D"] == 16 and grid == (512, 4)


def test_low_precision_inputs_keep_their_dtype() -> None:
    inputs, _ = grid_inputs(1, 2, 3, "both", 1, False)
    half = {k: v.detach().to(torch.bfloat16).requires_grad_() for k, v in inputs.items()}
    out, (time_state, var_state) = selective_scan_2d(**half, delta_softplus=True,
                                                     return_last_state=True, backend="triton")
    assert out.dtype == torch.bfloat16 and time_state.dtype == torch.float32
    (out.float().sum() + var_state.sum()).backward()
    assert all(v.grad.dtype == torch.bfloat16 for v in half.values())
    # The same bf16 values in float32 through the reference; out is rounded to 8 bits.
    ref = selective_scan_2d(**{k: v.detach().float() for k, v in half.items()},
                            delta_softplus=True, backend="ref")
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)


def test_auto_is_the_fused_kernel_on_cuda() -> None:
    assert resolve_backend_2d("auto", torch.device("cuda")) == "triton"
    assert resolve_backend_2d("triton-rounds", DEVICE) == "triton-rounds"
