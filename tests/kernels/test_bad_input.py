"""Bad input raises a ValueError naming the argument, the shape it got and the shape needed."""

from __future__ import annotations

import re

import pytest
import torch

from tsssm.kernels import selective_scan, selective_state_update
from tsssm.kernels.selective_scan import cpu as cpu_kernel

from .scan_cases import Case, make_inputs


def valid() -> dict:
    return make_inputs(Case(batch=2, dim=4, length=10, state=8), requires_grad=False)


@pytest.mark.parametrize(
    ("name", "bad_shape", "needed"),
    [
        ("u", (2, 4), "(batch, dim, length)"),
        ("delta", (2, 4, 9), "(batch, dim, length) = (2, 4, 10)"),
        ("A", (5, 8), "(dim, state) = (4, state)"),
        ("B", (2, 7, 10), "(batch, state, length) = (2, 8, 10)"),
        ("C", (2, 3, 8, 10), "divisible by groups"),
        ("D", (3,), "(dim,) = (4,)"),
        ("delta_bias", (4, 1), "(dim,) = (4,)"),
        ("z", (2, 4, 11), "(batch, dim, length) = (2, 4, 10)"),
        ("initial_state", (2, 4, 7), "(batch, dim, state) = (2, 4, 8)"),
    ],
)
def test_wrong_shape_names_argument_and_shapes(name: str, bad_shape: tuple, needed: str) -> None:
    inputs = valid()
    inputs[name] = torch.zeros(bad_shape)
    with pytest.raises(ValueError) as info:
        selective_scan(**inputs)
    message = str(info.value)
    assert f"`{name}` has shape {bad_shape}" in message
    assert needed in message


def test_empty_sequence_is_rejected() -> None:
    inputs = valid()
    for name in ("u", "delta", "z"):
        inputs[name] = inputs[name][..., :0]
    inputs["B"], inputs["C"] = inputs["B"][..., :0], inputs["C"][..., :0]
    with pytest.raises(ValueError, match="every size >= 1"):
        selective_scan(**inputs)


def test_mismatched_groups() -> None:
    inputs = valid()
    inputs["B"] = torch.zeros(2, 2, 8, 10)
    with pytest.raises(ValueError, match=r"`B` has 2 groups and `C` has 1"):
        selective_scan(**inputs)


def test_integer_dtype_is_rejected() -> None:
    inputs = valid()
    inputs["u"] = torch.zeros(2, 4, 10, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"`u` has dtype torch\.int64"):
        selective_scan(**inputs)


def test_non_tensor_is_rejected() -> None:
    inputs = valid()
    inputs["A"] = [[-1.0] * 8] * 4
    with pytest.raises(TypeError, match=r"`A` must be a torch\.Tensor"):
        selective_scan(**inputs)


def test_tensors_on_different_devices() -> None:
    inputs = valid()
    inputs["D"] = torch.zeros(4, device="meta")
    with pytest.raises(ValueError, match=r"one device.*`D` on meta"):
        selective_scan(**inputs)


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'.*auto, ref, cpu"):
        selective_scan(**valid(), backend="cuda")


@pytest.mark.parametrize(
    ("name", "bad", "needed"),
    [
        ("x", torch.zeros(2, 5), "(batch, dim) = (2, 4)"),
        ("A", torch.zeros(4, 7), "(dim, state) = (4, 8)"),
        ("B", torch.zeros(2, 3, 8), "divisible by groups"),
        ("dt_bias", torch.zeros(5), "(dim,) = (4,)"),
    ],
)
def test_state_update_shapes(name: str, bad: torch.Tensor, needed: str) -> None:
    args = {
        "state": torch.zeros(2, 4, 8), "x": torch.zeros(2, 4), "dt": torch.zeros(2, 4),
        "A": torch.zeros(4, 8), "B": torch.zeros(2, 8), "C": torch.zeros(2, 8),
    }
    args[name] = bad
    with pytest.raises(ValueError, match=rf"`{name}` has shape .*{re.escape(needed)}"):
        selective_state_update(**args)


EMPTY_DIMS = {"batch": Case(batch=0), "dim": Case(dim=0), "length": Case(length=0),
              "state": Case(state=0)}


@pytest.mark.parametrize("backend", ["ref", "cpu", "chunked", "triton"])
@pytest.mark.parametrize("empty", list(EMPTY_DIMS))
def test_empty_dimension_is_refused_by_every_backend(empty: str, backend: str) -> None:
    inputs = make_inputs(EMPTY_DIMS[empty], requires_grad=True)
    with pytest.raises(ValueError, match=r"every size >= 1 \(an empty dimension"):
        selective_scan(**inputs, backend=backend)


@pytest.mark.parametrize(("batch", "dim", "state"), [(0, 4, 8), (2, 0, 8), (2, 4, 0)])
def test_state_update_refuses_empty_dimensions(batch: int, dim: int, state: int) -> None:
    args = {
        "state": torch.zeros(batch, dim, state), "x": torch.zeros(batch, dim),
        "dt": torch.zeros(batch, dim), "A": torch.zeros(dim, state),
        "B": torch.zeros(batch, state), "C": torch.zeros(batch, state),
    }
    with pytest.raises(ValueError, match=r"`state` has shape .*every size >= 1"):
        selective_state_update(**args)


@pytest.mark.skipif(cpu_kernel.unavailable_reason(torch.device("cpu")) is not None,
                    reason="the fused CPU kernel is not built")
@pytest.mark.parametrize("checkpoints", [False, True])
def test_compiled_kernel_refuses_empty_state_itself(checkpoints: bool) -> None:
    # Bypasses the Python checks: the C++ entry points are the last guard (no SIGFPE), with
    # and without the checkpoints a backward needs.
    b, d, n, steps = 2, 4, 0, 5
    tensors = (torch.randn(b, d, steps), torch.rand(b, d, steps), torch.zeros(d, n),
               torch.zeros(b, 1, n, steps), torch.zeros(b, 1, n, steps), None, None, None, None)
    with pytest.raises(ValueError, match=r"kernel refused sizes .* = \(2, 4, 5, 0, 1\)"):
        cpu_kernel.scan_forward(*tensors, False, False, checkpoints)
