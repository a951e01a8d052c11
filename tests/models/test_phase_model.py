"""Phase recognisers (PhaseSSM and its baselines) honour one contract, looped over the registry:
shapes, causality, streaming, padding, training signal and clear errors."""

from __future__ import annotations

import pytest
import torch

from tsssm.data import PhaseSequence
from tsssm.models import (
    LocalAggregationBlock,
    PhaseSSM,
    create_model,
    length_mask,
    list_models,
    phase_loss,
)

PHASE_MODELS = list_models(task="phase")
N_INPUTS, N_PHASES = 5, 4
SMALL = {
    "phase_ssm": {"d_model": 16, "d_state": 4, "local_window": 8, "dropout": 0.0},
    "phase_mlp": {"d_model": 16, "dropout": 0.0},
    "phase_tcn": {"d_model": 16, "n_layers": 4, "dropout": 0.0},
}


def build(name: str, **options: object) -> torch.nn.Module:
    torch.manual_seed(0)
    config = {**SMALL[name], **options}
    return create_model(name, n_inputs=N_INPUTS, n_phases=N_PHASES, **config).eval()


def test_registry_holds_phase_ssm_and_its_baselines() -> None:
    assert set(PHASE_MODELS) == {"phase_ssm", "phase_mlp", "phase_tcn"}


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("name", PHASE_MODELS)
def test_output_shapes_ranges_and_gradients(name: str, online: bool) -> None:
    model = build(name, online=online, predict_video_progress=True).train()
    outputs = model(torch.randn(3, 21, N_INPUTS))
    assert outputs["logits"].shape == (3, 21, N_PHASES)
    for key in ("progress", "video_progress"):
        assert outputs[key].shape == (3, 21)
        assert bool(((outputs[key] >= 0) & (outputs[key] <= 1)).all())
    sum(o.sum() for o in outputs.values()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_video_progress_is_only_given_when_asked_for() -> None:
    assert set(build("phase_ssm")(torch.randn(1, 9, N_INPUTS))) == {"logits", "progress"}


@pytest.mark.parametrize("name", PHASE_MODELS)
def test_online_models_are_causal(name: str) -> None:
    model = build(name, online=True)
    x = torch.randn(2, 37, N_INPUTS)
    changed = x.clone()
    changed[:, 20:] = torch.randn(2, 17, N_INPUTS)
    with torch.no_grad():
        before, after = model(x), model(changed)
    for key in before:
        torch.testing.assert_close(before[key][:, :20], after[key][:, :20])
        assert not torch.allclose(before[key][:, 20:], after[key][:, 20:])


@pytest.mark.parametrize("name", ["phase_ssm", "phase_tcn"])
def test_offline_models_see_the_future(name: str) -> None:
    model = build(name, online=False)
    x = torch.randn(1, 37, N_INPUTS)
    changed = x.clone()
    changed[:, 12:] += 3.0  # within reach of the 4-layer TCN (15 steps each way)
    with torch.no_grad():
        assert not torch.allclose(model(x)["logits"][:, :5], model(changed)["logits"][:, :5])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_local_scans_stay_inside_their_window(bidirectional: bool) -> None:
    torch.manual_seed(0)
    block = LocalAggregationBlock(8, window=4, d_state=4, bidirectional=bidirectional,
                                  dropout=0.0).eval()
    hidden = torch.randn(1, 10, 8)
    changed = hidden.clone()
    changed[:, 5] += 1.0  # inside the second window (steps 4..7)
    with torch.no_grad():
        before, after = block(hidden), block(changed)
    torch.testing.assert_close(before[:, :4], after[:, :4])
    torch.testing.assert_close(before[:, 8:], after[:, 8:])
    assert not torch.allclose(before[:, 5], after[:, 5])
    # Bidirectional, a step also sees the later steps of its own window.
    assert torch.allclose(before[:, 4], after[:, 4]) != bidirectional


@pytest.mark.parametrize("steps", [37, 8, 3])
def test_streaming_equals_the_online_forward(steps: int) -> None:
    # 37 steps cross four local-window boundaries (window 8) and end inside a window.
    model = build("phase_ssm", predict_video_progress=True, n_local_layers=2,
                  n_global_layers=2)
    x = torch.randn(2, steps, N_INPUTS)
    stream = model.init_stream(batch=2)
    with torch.no_grad():
        whole = model(x)
        stepped = [model.step(x[:, t], stream) for t in range(steps)]
    assert stream.steps == steps
    for key, value in whole.items():
        torch.testing.assert_close(torch.stack([s[key] for s in stepped], dim=1), value,
                                   rtol=1e-4, atol=1e-5)


def test_offline_models_refuse_to_stream() -> None:
    model = build("phase_ssm", online=False)
    with pytest.raises(RuntimeError, match=r"offline.*online=True"):
        model.init_stream()
    online_stream = build("phase_ssm").init_stream()
    with pytest.raises(RuntimeError, match=r"PhaseSSM.step.*offline"):
        model.step(torch.randn(1, N_INPUTS), online_stream)


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("name", PHASE_MODELS)
def test_padding_with_lengths_leaves_the_valid_part_unchanged(name: str, online: bool) -> None:
    model = build(name, online=online, predict_video_progress=True)
    lengths = torch.tensor([37, 20, 9])
    recordings = [torch.randn(1, int(n), N_INPUTS) for n in lengths]
    batch = torch.randn(3, 37, N_INPUTS) * 5  # the padding is loud noise
    for i, recording in enumerate(recordings):
        batch[i, : lengths[i]] = recording[0]
    with torch.no_grad():
        padded = model(batch, lengths)
        for i, recording in enumerate(recordings):
            alone = model(recording)
            for key, value in alone.items():
                torch.testing.assert_close(padded[key][i : i + 1, : lengths[i]], value,
                                           rtol=1e-4, atol=1e-5)


def synthetic_operation(seed: int = 0) -> PhaseSequence:
    """Piecewise-constant phases of uneven durations; inputs are noisy tool-presence signals
    whose probabilities depend on the phase (tools overlap between phases)."""
    generator = torch.Generator().manual_seed(seed)
    durations = [30, 18, 40, 22, 26]
    phases = [0, 1, 2, 1, 3]
    labels = torch.cat([torch.full((d,), p) for d, p in zip(durations, phases, strict=True)])
    usage = torch.tensor([[0.9, 0.1, 0.0, 0.2, 0.1], [0.8, 0.7, 0.1, 0.1, 0.0],
                          [0.2, 0.8, 0.7, 0.0, 0.1], [0.1, 0.1, 0.2, 0.9, 0.6]])
    present = torch.rand(len(labels), N_INPUTS, generator=generator) < usage[labels]
    inputs = present.float() + 0.1 * torch.randn(len(labels), N_INPUTS, generator=generator)
    return PhaseSequence.build("synthetic", inputs.numpy(), labels.numpy(), fps=1.0,
                               input_names=[f"tool{i}" for i in range(N_INPUTS)])


@pytest.mark.parametrize("online", [True, False])
def test_overfitting_one_operation_lowers_the_loss_and_tracks_progress(online: bool) -> None:
    sequence = synthetic_operation()
    model = build("phase_ssm", online=online, predict_video_progress=True).train()
    x = sequence.inputs[None]
    targets = (sequence.labels[None], sequence.progress[None], sequence.video_progress[None])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first_loss, first_parts = phase_loss(model(x), *targets)
    for _ in range(60):
        optimizer.zero_grad()
        loss, parts = phase_loss(model(x), *targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first_loss.item()
    assert parts["progress"] < 0.6 * first_parts["progress"]
    assert parts["video_progress"] < 0.4 * first_parts["video_progress"]
    with torch.no_grad():
        accuracy = (model.eval()(x)["logits"].argmax(-1) == sequence.labels).float().mean()
    assert accuracy > 0.9


def test_phase_loss_is_cross_entropy_plus_l1_over_the_valid_steps() -> None:
    torch.manual_seed(0)
    outputs = {"logits": torch.randn(2, 6, 3), "progress": torch.rand(2, 6)}
    labels = torch.randint(0, 3, (2, 6))
    progress = torch.rand(2, 6)
    mask = length_mask(torch.tensor([6, 4]), 6)
    loss, parts = phase_loss(outputs, labels.where(mask, -1), progress.where(mask, torch.nan),
                             mask=mask, progress_weight=0.5)
    valid_logits, valid_labels = outputs["logits"][mask], labels[mask]
    cross_entropy = torch.nn.functional.cross_entropy(valid_logits, valid_labels)
    l1 = (outputs["progress"][mask] - progress[mask]).abs().mean()
    torch.testing.assert_close(parts["phase"], cross_entropy)
    torch.testing.assert_close(parts["progress"], l1)
    torch.testing.assert_close(loss, cross_entropy + 0.5 * l1)


def test_video_progress_targets_need_the_head() -> None:
    outputs = build("phase_mlp")(torch.randn(1, 4, N_INPUTS))
    with pytest.raises(ValueError, match="predict_video_progress=True"):
        phase_loss(outputs, torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4),
                   video_progress=torch.zeros(1, 4))


@pytest.mark.parametrize("name", PHASE_MODELS)
def test_unknown_option_is_named(name: str) -> None:
    with pytest.raises(ValueError, match=r"no option 'local_windw'.*n_phases"):
        create_model(name, n_inputs=3, n_phases=7, local_windw=8)


@pytest.mark.parametrize(("option", "value"),
                         [("local_window", 0), ("n_phases", 1), ("dropout", 1.5),
                          ("d_model", 8.0)])
def test_bad_option_values_are_named(option: str, value: object) -> None:
    config = {"n_inputs": 3, "n_phases": 7, option: value}
    with pytest.raises(ValueError, match=rf"PhaseSSMConfig: `{option}`"):
        create_model("phase_ssm", **config)


def test_bad_inputs_are_clear_errors() -> None:
    model = build("phase_ssm")
    assert isinstance(model, PhaseSSM)
    with pytest.raises(ValueError, match=rf"\(2, 9, 3\).*n_inputs={N_INPUTS}"):
        model(torch.randn(2, 9, 3))
    with pytest.raises(ValueError, match=r"`lengths` must lie in 1..9"):
        model(torch.randn(2, 9, N_INPUTS), torch.tensor([9, 10]))
    with pytest.raises(ValueError, match=r"`lengths` must be an integer tensor of shape \(2,\)"):
        model(torch.randn(2, 9, N_INPUTS), torch.tensor([9.0, 4.0]))
    with pytest.raises(ValueError, match=r"`x_t` has shape \(1, 3\)"):
        model.step(torch.randn(1, 3), model.init_stream())
