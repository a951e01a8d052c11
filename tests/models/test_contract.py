"""One contract for every registered model: its tiny example builds, maps its task's input to
its task's output, trains (finite gradients reach its weights), and, where it streams, gives
step by step what its offline pass gives."""

from __future__ import annotations

import pytest
import torch

from tsssm.models import list_models, model_entry
from tsssm.models.streaming import is_streaming

BATCH = 2


def example_input(task: str, config: object, seed: int = 0) -> torch.Tensor:
    """A random batch of the task's input for ``config``'s shapes."""
    generator = torch.Generator().manual_seed(seed)
    if task == "forecasting":
        shape = (BATCH, config.lookback, config.n_variates)
    elif task == "phase":
        shape = (BATCH, 12, config.n_inputs)
    else:
        shape = (BATCH, config.n_chans, config.n_times)
    return torch.randn(*shape, generator=generator)


def check_output(task: str, config: object, x: torch.Tensor, out: object) -> list[torch.Tensor]:
    """Assert the task's output contract; return the output tensors to back-propagate."""
    if task == "forecasting":
        assert out.shape == (BATCH, config.horizon, config.n_variates)
        return [out]
    if task == "classification":
        assert out.shape == (BATCH, *getattr(config, "output_shape", (config.n_outputs,)))
        return [out]
    if task == "reconstruction":
        assert out.shape == x.shape
        return [out]
    if task == "pretraining":
        assert out["reconstruction"].shape == x.shape and out["mask"].dtype == torch.bool
        return [out["reconstruction"]]
    assert out["logits"].shape == (BATCH, x.shape[1], config.n_phases)
    assert out["progress"].shape == (BATCH, x.shape[1])
    return [out["logits"], out["progress"]]


@pytest.mark.parametrize("name", list_models())
def test_every_model_keeps_its_task_contract(name: str) -> None:
    entry = model_entry(name)
    torch.manual_seed(0)
    config = entry.example_config()
    model = entry.model_cls(config)
    x = example_input(entry.task, config)
    outputs = check_output(entry.task, config, x, model(x))
    sum(o.float().square().mean() for o in outputs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads if g is not None) > 0


@pytest.mark.parametrize("name", [n for n in list_models()
                                  if is_streaming(model_entry(n).model_cls(
                                      model_entry(n).example_config()))])
def test_streaming_equals_the_offline_pass(name: str) -> None:
    entry = model_entry(name)
    torch.manual_seed(0)
    model = entry.model_cls(entry.example_config()).eval()
    config = model.config
    with torch.no_grad():
        if entry.task == "phase":
            x = example_input("phase", config)
            offline = model(x)["logits"]
            streamed = torch.stack([o["logits"] for o in model.stream(x.unbind(1))], dim=1)
        else:  # windows of one recording, one after the other
            windows = [example_input(entry.task, config, seed) for seed in range(3)]
            offline = model.forward_recording(torch.cat(windows, dim=-1))
            streamed = torch.stack(list(model.stream(windows)), dim=1)
    torch.testing.assert_close(streamed, offline, rtol=1e-4, atol=1e-5)


def test_streaming_models_are_found() -> None:
    streaming = [n for n in list_models()
                 if is_streaming(model_entry(n).model_cls(model_entry(n).example_config()))]
    assert {"phase_ssm", "femba", "femba_mamba_head"} <= set(streaming)


def test_registering_needs_a_known_task() -> None:
    from tsssm.models import register_model

    with pytest.raises(ValueError, match="unknown model task 'forecast'"):
        register_model("nope", object, task="forecast", example={})
