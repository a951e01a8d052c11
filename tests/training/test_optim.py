"""Weight decay skips the parameters that must keep their scale; the schedules."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tsssm.models import create_model
from tsssm.training.optim import (
    Optimization,
    adamw,
    configure,
    cosine_factor,
    no_weight_decay_names,
    parameter_groups,
)


def test_no_decay_on_the_scan_norms_and_biases() -> None:
    model = create_model("smamba", lookback=16, horizon=4, n_variates=3, n_time_features=0,
                         d_model=8, d_ff=8, n_layers=1)
    skipped = no_weight_decay_names(model)
    names = dict(model.named_parameters())
    assert any(n.endswith("A_log") for n in skipped) and any(n.endswith(".D") for n in skipped)
    assert all(n in skipped for n in names if n.endswith(".bias"))
    norms = {f"{m}.weight" for m, module in model.named_modules()
             if isinstance(module, torch.nn.LayerNorm)}
    assert norms and norms <= skipped
    decayed = set(names) - skipped
    assert decayed and all(names[n].dim() >= 2 for n in decayed)  # weight matrices only


def test_the_optimizer_groups_follow_the_names() -> None:
    model = create_model("dlinear", lookback=16, horizon=4, n_variates=3, n_time_features=0)
    optimizer = configure(model, Optimization(lr=1e-3, weight_decay=0.1), 1, 1)["optimizer"]
    by_decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}
    skipped = {id(p) for n, p in model.named_parameters() if n in no_weight_decay_names(model)}
    assert by_decay[0.0] == skipped and by_decay[0.1].isdisjoint(skipped)


def test_the_fused_update_equals_the_loop_of_adamw() -> None:
    def trained(fused: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = create_model("smamba", lookback=16, horizon=4, n_variates=3,
                             n_time_features=0, d_model=8, d_ff=8, n_layers=1)
        groups = parameter_groups(model, weight_decay=0.1, lr=1e-2)
        optimizer = (adamw(groups, lr=1e-2) if fused else
                     torch.optim.AdamW(groups, lr=1e-2, foreach=False))
        assert optimizer.defaults["fused"] is (True if fused else None)
        x = torch.randn(4, 16, 3)
        for _ in range(3):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
        assert all(g["fused"] is (True if fused else None) for g in optimizer.param_groups)
        return [p.detach().clone() for p in model.parameters()]

    for fused, loop in zip(trained(True), trained(False), strict=True):
        torch.testing.assert_close(fused, loop, rtol=1e-5, atol=1e-6)


def test_the_update_is_unfused_where_a_tensor_does_not_allow_it() -> None:
    weights = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    assert not adamw([weights], lr=1e-3).defaults["fused"]


def test_frozen_parameters_are_left_out() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    model[0].requires_grad_(False)
    optimizer = configure(model, Optimization(), 1, 1)["optimizer"]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2


def test_cosine_warms_up_then_decays_to_the_floor() -> None:
    settings = Optimization(lr=1.0, schedule="cosine", warmup_epochs=1, min_lr=0.1)
    factors = [cosine_factor(settings, step, 10, 50) for step in range(50)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert factors[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 39 / 40)))


@pytest.mark.parametrize("bad", [{"schedule": "step"}, {"lr": float("inf")}, {"lr": -1.0},
                                 {"weight_decay": -0.1}])
def test_bad_settings_name_the_problem(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Optimization(**bad)


def test_layer_wise_decay_slows_the_layers_far_from_the_head() -> None:
    from tsssm.models import model_entry

    entry = model_entry("femba")
    model = entry.model_cls(entry.example_config())
    groups = configure(model, Optimization(lr=1.0, layer_decay=0.5), 1, 1)[
        "optimizer"].param_groups
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["head.linear.weight"])] == 1.0
    assert lr_of[id(params["encoder.blocks.0.norm.weight"])] == 0.5  # one block: depth 1 of 2
    assert lr_of[id(params["encoder.pos_embed"])] == 0.25
    assert lr_of[id(params["encoder.patch_embed.proj.weight"])] == 0.25
    assert sum(len(g["params"]) for g in groups) == len(params)
