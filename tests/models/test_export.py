"""S-Mamba, FEMBA and Chimera leave Python: ``torch.export`` gives a program whose outputs are
the eager model's, ``torch.compile(fullgraph=True)`` captures each in one graph (forward and
gradients equal eager), with the fused CPU scans as ``tsssm::`` operators in the graph; the
ONNX export of S-Mamba runs in onnxruntime."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tsssm.kernels import available_backends
from tsssm.models import model_entry

from .test_contract import example_input

pytestmark = pytest.mark.skipif("cpu" not in available_backends(),
                                reason="the fused CPU kernels are not built")

MODELS = ["smamba", "femba", "chimera"]
SCAN_OPS = {"smamba": "tsssm.selective_scan_fwd.default",
            "femba": "tsssm.selective_scan_fwd.default",
            "chimera": "tsssm.selective_scan_2d_fwd.default"}


def tiny(name: str, training: bool = False) -> tuple[torch.nn.Module, torch.Tensor]:
    """The registry's example model (seeded, CPU backend through ``auto``) and an input."""
    entry = model_entry(name)
    torch.manual_seed(0)
    config = entry.example_config()
    model = entry.model_cls(config).train(training)
    return model, example_input(entry.task, config)


def grads(model: torch.nn.Module, forward, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    model.zero_grad()
    out = forward(x)
    out.square().mean().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("name", MODELS)
def test_exported_program_equals_eager(name: str) -> None:
    # Exported with a dynamic batch size, run at the traced size and at another one.
    model, x = tiny(name)
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
        for inputs in (x, torch.randn(3, *x.shape[1:])):
            torch.testing.assert_close(program.module()(inputs), model(inputs), rtol=1e-5,
                                       atol=1e-6)
    assert SCAN_OPS[name] in {str(node.target) for node in program.graph.nodes}


@pytest.mark.parametrize("name", MODELS)
def test_fullgraph_capture_equals_eager_with_gradients(name: str) -> None:
    # fullgraph=True fails on any graph break; aot_eager traces the backward through the
    # scan's backward op without inductor's code generation (that is the test below).
    model, x = tiny(name)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out, compiled_grads = grads(model, compiled, x)
    expected, eager_grads = grads(model, model, x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert len(compiled_grads) == len(eager_grads) > 0
    for actual, wanted in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_inductor_compiled_smamba_equals_eager_with_gradients() -> None:
    # The default backend generates and compiles C++ (tens of seconds on a fresh cache).
    model, x = tiny("smamba")
    compiled = torch.compile(model, fullgraph=True)
    out, compiled_grads = grads(model, compiled, x)
    expected, eager_grads = grads(model, model, x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    for actual, wanted in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript",
                                                                  "onnxruntime")),
                    reason='needs the onnx extra: pip install -e ".[onnx]"')
def test_onnx_smamba_in_onnxruntime_equals_eager(tmp_path) -> None:
    import onnxruntime

    model, x = tiny("smamba")
    path = tmp_path / "smamba.onnx"
    # optimize=False: ONNX's graph optimiser (tens of seconds here) is not under test.
    torch.onnx.export(model, (x,), dynamo=True, optimize=False).save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.from_numpy(actual), expected, rtol=1e-4, atol=1e-5)
