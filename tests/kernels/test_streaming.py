"""Parallel and recurrent paths agree: whole scan == scan in pieces == one step at a time."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels import available_backends, selective_scan, selective_state_update

from .scan_cases import Case, make_inputs

BACKENDS = ["ref", *(b for b in ("cpu", "chunked", "triton") if b in available_backends())]


def split_time(inputs: dict, start: int, stop: int) -> dict:
    timed = {"u", "delta", "z", "B", "C"}
    return {k: v[..., start:stop] if k in timed and v is not None else v
            for k, v in inputs.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("groups", [0, 2])
def test_scan_in_pieces_equals_whole_scan(backend: str, groups: int) -> None:
    inputs = make_inputs(Case(length=45, groups=groups), requires_grad=False)
    whole, whole_last = selective_scan(**inputs, return_last_state=True, backend=backend)
    state = inputs["initial_state"]
    outs = []
    for start, stop in [(0, 1), (1, 20), (20, 21), (21, 45)]:
        piece = split_time(inputs, start, stop)
        piece["initial_state"] = state
        out, state = selective_scan(**piece, return_last_state=True, backend=backend)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, dim=-1), whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state, whole_last, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups", [0, 2])
def test_stepping_equals_whole_scan(groups: int) -> None:
    inputs = make_inputs(Case(length=30, groups=groups), requires_grad=False)
    whole, whole_last = selective_scan(**inputs, return_last_state=True)
    state = inputs["initial_state"].clone()
    outs = []
    for t in range(inputs["u"].shape[-1]):
        outs.append(
            selective_state_update(
                state, inputs["u"][..., t], inputs["delta"][..., t], inputs["A"],
                inputs["B"][..., t], inputs["C"][..., t], D=inputs["D"], z=inputs["z"][..., t],
                dt_bias=inputs["delta_bias"], dt_softplus=True,
            )
        )
    torch.testing.assert_close(torch.stack(outs, dim=-1), whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state, whole_last, rtol=1e-5, atol=1e-5)


def test_state_update_without_optional_inputs() -> None:
    inputs = make_inputs(Case(length=5, optional=(), softplus=False), requires_grad=False)
    whole = selective_scan(**inputs)
    state = torch.zeros(2, 4, 8)
    for t in range(5):
        out = selective_state_update(state, inputs["u"][..., t], inputs["delta"][..., t],
                                     inputs["A"], inputs["B"][..., t], inputs["C"][..., t])
        torch.testing.assert_close(out, whole[..., t], rtol=1e-5, atol=1e-5)
