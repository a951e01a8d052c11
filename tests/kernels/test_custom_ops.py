"""The fused CPU scans as PyTorch operators (torch.ops.tsssm.*): torch.library.opcheck on
small random inputs (schema, fake implementations, autograd registration, AOT dispatch with
dynamic shapes), the public functions go through them, and a fullgraph-compiled scan gives
the reference's values and gradients."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels import available_backends, selective_scan, selective_scan_2d
from tsssm.kernels.selective_scan._inputs import normalize_scan_inputs

from . import test_scan2d
from .scan_cases import Case, make_inputs, run_with_grads

pytestmark = pytest.mark.skipif("cpu" not in available_backends(),
                                reason="the fused CPU kernels are not built")

SCAN_CASES = [
    Case(length=9),
    Case(length=9, optional=(), softplus=False, groups=2, reverse=True),
    Case(batch=1, dim=5, length=4, state=3, optional=("z",)),
]


def op_args(case: Case, save_checkpoints: bool, layout: str = "length-major") -> tuple:
    """Arguments of ``tsssm::selective_scan_fwd`` for ``case`` (B and C [b, g, n, l]), stored
    length-major or channel-last (u, delta, z as [b, l, d]; B and C as [b, l, g, n])."""
    kw = make_inputs(case, requires_grad=save_checkpoints)
    i = normalize_scan_inputs(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"], kw["D"], kw["z"],
                              kw["delta_bias"], kw["delta_softplus"], kw["initial_state"],
                              kw["reverse"])

    def stored(x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None or layout == "length-major":
            return None if x is None else x.contiguous()
        if x.dim() == 3:
            return x.detach().transpose(1, 2).contiguous().transpose(1, 2)
        return x.detach().permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)

    return (stored(i.u), stored(i.delta), i.A, stored(i.B), stored(i.C), i.D, stored(i.z),
            i.delta_bias, i.initial_state, i.delta_softplus, i.reverse, save_checkpoints)


LAYOUTS = ["length-major", "channel-last"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("save_checkpoints", [True, False])
@pytest.mark.parametrize("case", SCAN_CASES, ids=str)
def test_scan_forward_op_passes_opcheck(case: Case, save_checkpoints: bool, layout: str
                                        ) -> None:
    torch.library.opcheck(torch.ops.tsssm.selective_scan_fwd.default,
                          op_args(case, save_checkpoints, layout))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", SCAN_CASES, ids=str)
def test_scan_backward_op_passes_opcheck(case: Case, layout: str) -> None:
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a
                 for a in op_args(case, True, layout))
    out, last, checkpoints = torch.ops.tsssm.selective_scan_fwd(*args)
    dout, dlast = torch.randn_like(out), torch.randn_like(last)
    torch.library.opcheck(torch.ops.tsssm.selective_scan_bwd.default,
                          (*args[:9], checkpoints, dout, dlast, *args[9:11]))


def test_backward_without_checkpoints_is_refused() -> None:
    args = op_args(SCAN_CASES[0], save_checkpoints=False)
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    out, last, checkpoints = torch.ops.tsssm.selective_scan_fwd(*args)
    with pytest.raises(RuntimeError, match="save_checkpoints=True"):
        torch.ops.tsssm.selective_scan_bwd(*args[:9], checkpoints, out, last, *args[9:11])


def test_scan_op_refuses_other_dtypes_while_tracing() -> None:
    args = list(op_args(SCAN_CASES[0], save_checkpoints=False))
    args[0] = args[0].double()
    with torch._subclasses.FakeTensorMode() as mode, pytest.raises(ValueError, match="`u`"):
        torch.ops.tsssm.selective_scan_fwd(*[mode.from_tensor(a) if isinstance(a, torch.Tensor)
                                             else a for a in args])


def scan2d_op_args(period: int, coupling: str, states: bool, reverse: bool) -> tuple:
    """Arguments of ``tsssm::selective_scan_2d_fwd`` in its channel-last layouts."""
    inputs = test_scan2d.make_inputs(n_vars=3, length=5, optional=test_scan2d.with_coupling(
        coupling))
    time0, var0 = test_scan2d.make_states(inputs, period) if states else (None, None)

    def grid(name: str) -> torch.Tensor | None:
        x = inputs.get(name)
        return None if x is None else x.permute(0, 2, 3, 1).contiguous()

    def state_last(name: str) -> torch.Tensor:
        return inputs[name].permute(0, 2, 3, 1).contiguous()

    return (grid("u"), grid("delta_time"), grid("delta_var"), inputs["A_time"], inputs["A_var"],
            inputs.get("A_var_to_time"), inputs.get("A_time_to_var"), state_last("B_time"),
            state_last("C_time"), state_last("B_var"), state_last("C_var"), inputs.get("D"),
            grid("z"), inputs.get("delta_bias_time"), inputs.get("delta_bias_var"), time0, var0,
            True, period, reverse)


@pytest.mark.parametrize(("period", "coupling", "states", "reverse"),
                         [(1, "none", False, False), (1, "both", True, True),
                          (2, "var_to_time", True, False), (3, "time_to_var", False, True)])
def test_scan2d_ops_pass_opcheck(period: int, coupling: str, states: bool, reverse: bool
                                 ) -> None:
    args = scan2d_op_args(period, coupling, states, reverse)
    torch.library.opcheck(torch.ops.tsssm.selective_scan_2d_fwd.default, args)
    plain = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    outputs = torch.ops.tsssm.selective_scan_2d_fwd(*plain)
    grads = tuple(torch.randn_like(x) for x in outputs)
    torch.library.opcheck(torch.ops.tsssm.selective_scan_2d_bwd.default,
                          (*plain[:17], *grads, *plain[17:]))


class _Scans(torch.nn.Module):
    """Both public scans on the CPU backend, for export."""

    def forward(self, u: torch.Tensor, u2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, d, length = u.shape
        A = -torch.ones(d, 4)
        B = C = torch.ones(b, 4, length)
        out = selective_scan(u, u, A, B, C, delta_softplus=True, backend="cpu")
        bc = torch.ones(b, 4, *u2d.shape[2:])
        out2d = selective_scan_2d(u2d, u2d, u2d, A, A, bc, bc, bc, bc, delta_softplus=True,
                                  backend="cpu")
        return out, out2d


def test_public_scans_export_as_the_fused_ops() -> None:
    program = torch.export.export(_Scans(), (torch.randn(2, 3, 7), torch.randn(2, 3, 4, 5)))
    targets = {str(node.target) for node in program.graph.nodes}
    assert {"tsssm.selective_scan_fwd.default", "tsssm.selective_scan_2d_fwd.default"} <= targets


def test_fullgraph_compiled_scan_equals_the_reference() -> None:
    # aot_eager: Dynamo must capture the scan in one graph and AOT autograd must trace the
    # backward op; inductor's handling of the ops is tested with the models (tests/models).
    case = Case(length=17, groups=2)

    def scan(**kwargs):
        return selective_scan(**kwargs, backend="cpu")

    compiled = torch.compile(scan, fullgraph=True, backend="aot_eager")
    out, last, grads = run_with_grads(compiled, make_inputs(case))
    ref_out, ref_last, ref_grads = run_with_grads(
        lambda **kw: selective_scan(**kw, backend="ref"), make_inputs(case))
    torch.testing.assert_close(out, ref_out, rtol=6e-4, atol=2e-3)
    torch.testing.assert_close(last, ref_last, rtol=6e-4, atol=2e-3)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=6e-4, atol=2e-3, msg=name)


def test_fullgraph_compiled_scan2d_equals_the_reference() -> None:
    inputs = test_scan2d.make_inputs(n_vars=3, length=6)
    states = test_scan2d.make_states(inputs, period=2)

    def scan(backend: str, **tensors):
        return selective_scan_2d(**tensors, delta_softplus=True, period=2, initial_state=states,
                                 return_last_state=True, backend=backend)

    compiled = torch.compile(scan, fullgraph=True, backend="aot_eager")
    wrt = [*inputs.values(), *states]
    results = []
    for run in (compiled, scan):
        out, (h_time, h_var) = run("cpu" if run is compiled else "ref", **inputs)
        loss = out.square().sum() + h_time.sum() + h_var.square().sum()
        results.append((out, torch.autograd.grad(loss, wrt)))
    (out, grads), (ref_out, ref_grads) = results
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-4)
