"""Every registered forecasting model honours one contract (looped over the registry)."""

from __future__ import annotations

import pytest
import torch

from tsssm.models import create_model, list_models

FORECASTERS = list_models(task="forecasting")


def test_registry_holds_smamba_and_its_baselines() -> None:
    assert {"smamba", "dlinear", "itransformer"} <= set(FORECASTERS)


@pytest.mark.parametrize("name", FORECASTERS)
def test_output_shape_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, lookback=24, horizon=8, n_variates=3, **small(name))
    x = torch.randn(5, 24, 3)
    y = model(x)
    assert y.shape == (5, 8, 3)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", FORECASTERS)
def test_learns_a_periodic_signal(name: str) -> None:
    # A model that cannot fit a clean sine from 24 past steps is broken, whatever its family.
    torch.manual_seed(0)
    model = create_model(name, lookback=24, horizon=8, n_variates=2, **small(name))
    t = torch.arange(0, 400, dtype=torch.float32)
    series = torch.stack([torch.sin(t / 4), torch.cos(t / 6)], dim=-1)
    starts = torch.randint(0, 400 - 32, (64,))
    x = torch.stack([series[s : s + 24] for s in starts])
    y = torch.stack([series[s + 24 : s + 32] for s in starts])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = torch.nn.functional.mse_loss(model(x), y).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first


def test_unknown_option_is_named() -> None:
    with pytest.raises(ValueError, match=r"no option 'd_modle'.*d_model"):
        create_model("smamba", lookback=8, horizon=4, n_variates=2, d_modle=8)


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'mamba2'.*smamba"):
        create_model("mamba2")


def test_wrong_number_of_variates_is_a_clear_error() -> None:
    model = create_model("smamba", lookback=8, horizon=4, n_variates=3, d_model=8, d_ff=8)
    with pytest.raises(ValueError, match=r"`x` has shape \(2, 8, 5\).*n_variates=3"):
        model(torch.randn(2, 8, 5))


def test_smamba_takes_calendar_features_as_extra_tokens() -> None:
    model = create_model("smamba", lookback=16, horizon=4, n_variates=3, n_time_features=2,
                         d_model=8, d_ff=8)
    y = model(torch.randn(2, 16, 3), torch.randn(2, 16, 2))
    assert y.shape == (2, 4, 3)


def test_smamba_mixes_information_across_variates() -> None:
    torch.manual_seed(1)
    model = create_model("smamba", lookback=16, horizon=4, n_variates=4, d_model=8,
                         d_ff=8).eval()
    x = torch.randn(1, 16, 4)
    changed = x.clone()
    changed[..., 3] += torch.linspace(0, 3, 16)
    # Changing the last variate's history moves the first variate's forecast (both directions).
    assert not torch.allclose(model(x)[..., 0], model(changed)[..., 0])


def small(name: str) -> dict:
    """Small widths so the contract tests run in a second."""
    return {} if name == "dlinear" else {"d_model": 16, "d_ff": 16}
