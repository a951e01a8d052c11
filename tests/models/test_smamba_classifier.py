"""S-Mamba's encoder as a classifier: registry, shapes, gradients, normalisation, errors,
learning a toy task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tsssm.models import SMambaClassifier, create_model, list_models

TINY = {"d_model": 16, "d_ff": 16, "n_layers": 1, "d_state": 4, "dropout": 0.0}


def build(**options) -> SMambaClassifier:
    torch.manual_seed(0)
    return create_model("smamba_classifier", n_chans=3, n_times=20, n_outputs=4,
                        **{**TINY, **options})


def test_registered_as_a_classification_model() -> None:
    assert "smamba_classifier" in list_models("classification")
    assert isinstance(build(), SMambaClassifier)


def test_logits_shape_and_gradients_reach_every_parameter() -> None:
    model = build()
    logits = model(torch.randn(5, 3, 20))
    assert logits.shape == (5, 4)
    logits.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_windows_do_not_interact_across_the_batch() -> None:
    model = build().eval()
    x = torch.randn(6, 3, 20)
    together = model(x)
    alone = torch.cat([model(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_normalisation_ignores_each_channels_offset_and_scale() -> None:
    model = build().eval()
    x = torch.randn(4, 3, 20)
    scale, shift = torch.tensor([2.0, 0.5, 7.0])[:, None], torch.tensor([3.0, -1.0, 10.0])[:, None]
    torch.testing.assert_close(model(x * scale + shift), model(x), rtol=1e-3, atol=1e-4)
    raw = build(normalize=False).eval()
    assert not torch.allclose(raw(x * scale + shift), raw(x), atol=1e-3)


@pytest.mark.parametrize("shape", [(2, 3, 19), (2, 4, 20), (3, 20)])
def test_wrong_input_shape_names_the_expected_layout(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"n_chans=3, n_times=20"):
        build()(torch.randn(shape))


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_outputs"):
        create_model("smamba_classifier", n_chans=3, n_times=20, n_outputs=0)


def test_learns_to_tell_frequencies_apart() -> None:
    generator = torch.Generator().manual_seed(1)
    y = torch.arange(96) % 4
    t = torch.arange(20) / 20
    x = torch.sin(2 * torch.pi * (y[:, None, None] + 1) * t) + 0.2 * torch.randn(
        96, 3, 20, generator=generator)
    model = build()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = F.cross_entropy(model(x[:64]), y[:64])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = (model.eval()(x[64:]).argmax(1) == y[64:]).float().mean().item()
    assert accuracy >= 0.8
