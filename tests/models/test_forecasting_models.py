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


LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def quantile_cases() -> list[tuple[str, dict]]:
    """Every forecaster (Chimera with both decoders), with quantile levels."""
    cases = [(name, small(name)) for name in FORECASTERS]
    if "chimera" in FORECASTERS:
        cases.append(("chimera", {**small("chimera"), "decoder": "closed_loop"}))
    return cases


@pytest.mark.parametrize(("name", "options"), quantile_cases())
def test_quantile_forecasts_have_a_level_axis_and_never_cross(name: str, options: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, lookback=24, horizon=8, n_variates=3, quantiles=list(LEVELS),
                         **options)
    assert model.config.quantiles == LEVELS
    with torch.no_grad():  # large random weights: still ordered, by construction
        for parameter in model.parameters():
            parameter.mul_(5.0)
    x = 10 * torch.randn(4, 24, 3)
    y = model(x)
    assert y.shape == (4, 8, 3, len(LEVELS))
    assert torch.isfinite(y).all() and (y.diff(dim=-1) >= 0).all()
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("levels", "message"),
    [([0.0, 0.5, 0.9], r"strictly inside \(0, 1\)"), ([0.1, 0.5, 1.2], r"inside \(0, 1\)"),
     ([0.9, 0.5, 0.1], "strictly increasing"), ([0.1, 0.5, 0.5], "no level twice"),
     ([0.1, 0.9], "include the median 0.5"), ([], "empty"), ("0.5", "sequence")])
def test_bad_quantile_levels_are_named(levels: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("dlinear", lookback=8, horizon=4, n_variates=2, quantiles=levels)
