"""The three Chimera models on one backbone: shapes, gradients, training, streaming, the
closed-loop decoder, errors, determinism."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from tsssm.models import ChimeraBackbone, create_model, list_models

TINY = {"d_model": 8, "d_state": 4, "d_ff": 16, "n_layers": 2, "season_period": 3}


@pytest.fixture(autouse=True)
def one_thread():
    # Thousands of tiny ops: on a busy shared CPU extra threads only wait for each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(name: str, **options):
    torch.manual_seed(0)
    shapes = {
        "chimera": {"lookback": 12, "horizon": 4, "n_variates": 3},
        "chimera_classifier": {"n_chans": 3, "n_times": 12, "n_outputs": 2},
        "chimera_anomaly": {"n_chans": 3, "n_times": 12},
    }[name]
    return create_model(name, **shapes, **{**TINY, **options})


def sample(name: str, batch: int = 4) -> tuple[torch.Tensor, tuple[int, ...]]:
    """An input and the output shape it should give."""
    if name == "chimera":
        return torch.randn(batch, 12, 3), (batch, 4, 3)
    if name == "chimera_classifier":
        return torch.randn(batch, 3, 12), (batch, 2)
    return torch.randn(batch, 3, 12), (batch, 3, 12)


NAMES = ["chimera", "chimera_classifier", "chimera_anomaly"]


def test_registered_under_their_tasks() -> None:
    assert "chimera" in list_models(task="forecasting")
    assert "chimera_classifier" in list_models(task="classification")
    assert "chimera_anomaly" in list_models(task="reconstruction")


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_gradients_reach_every_parameter(name: str) -> None:
    model = build(name)
    x, shape = sample(name)
    out = model(x)
    assert out.shape == shape
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_closed_loop_decoder_shape_gradients_and_training() -> None:
    model = build("chimera", decoder="closed_loop", dropout=0.0)
    assert not hasattr(model, "head")
    x, shape = sample("chimera")
    out = model(x)
    assert out.shape == shape
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_closed_loop_forecast_is_the_backbone_run_on_its_own_predictions() -> None:
    # Streaming == full forward: each forecast step equals the read-out of the last column
    # of the whole grid (lookback + the predictions so far) run from scratch.
    model = build("chimera", decoder="closed_loop", normalize=False).eval()
    x = torch.randn(2, 12, 3)
    forecast = model(x)  # [b, horizon, v]
    grid = x.transpose(1, 2)
    for step in range(4):
        cells = model.backbone(torch.cat([grid, forecast[:, :step].transpose(1, 2)], dim=-1))
        expected = model.next_value(cells[:, :, -1])[..., 0]
        torch.testing.assert_close(forecast[:, step], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_backbone_streams_column_by_column(name: str) -> None:
    model = build(name).eval()
    grid = torch.randn(2, 3, 12)
    whole = model.backbone(grid)
    prefix, state = model.backbone(grid[..., :5], return_state=True)
    columns = [prefix]
    for t in range(5, 12):
        cells, state = model.backbone.step(grid[..., t], state)
        columns.append(cells[:, :, None])
    torch.testing.assert_close(torch.cat(columns, dim=2), whole, rtol=1e-4, atol=1e-5)
    state = model.backbone.initial_state(2)
    first, _ = model.backbone.step(grid[..., 0], state)
    torch.testing.assert_close(first, whole[:, :, 0], rtol=1e-4, atol=1e-5)


def test_both_couplings_and_the_selection_gate_are_learned_by_default() -> None:
    mixer = build("chimera").backbone.layers[0].mixer
    assert mixer.select_proj is not None
    assert all(isinstance(scan.A_var_to_time, torch.nn.Parameter)
               and isinstance(scan.A_time_to_var, torch.nn.Parameter) for scan in mixer.scans)
    plain = build("chimera", couplings="none", select_variates=False).backbone.layers[0].mixer
    assert plain.select_proj is None and all(s.A_var_to_time is None for s in plain.scans)


COUPLING_KEYS = {"both": (), "time_to_var": ("A_var_to_time",),
                 "var_to_time": ("A_time_to_var",), "none": ("A_var_to_time", "A_time_to_var")}


def with_couplings(couplings: str, coupled: torch.nn.Module) -> torch.nn.Module:
    """A forecaster learning ``couplings``, holding ``coupled``'s weights (a model with both
    couplings); the couplings it does not learn are the only weights left over."""
    model = build("chimera", couplings=couplings).eval()
    result = model.load_state_dict(coupled.state_dict(), strict=False)
    assert not result.missing_keys
    assert {key.rsplit(".", 1)[-1] for key in result.unexpected_keys} == set(
        COUPLING_KEYS[couplings])
    return model


def test_each_coupling_option_learns_only_its_couplings_and_changes_the_output() -> None:
    coupled = build("chimera").eval()
    with torch.no_grad():  # couplings start at zero, where every option gives the same output
        for name, parameter in coupled.named_parameters():
            if name.endswith(("A_var_to_time", "A_time_to_var")):
                parameter.uniform_(0.5, 1.0)
    x = torch.randn(2, 12, 3, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for couplings, absent in COUPLING_KEYS.items():
        model = with_couplings(couplings, coupled)
        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_parameters()}
        assert not names & set(absent)
        outputs[couplings] = model(x)
        outputs[couplings].sum().backward()
    for first, second in itertools.combinations(outputs, 2):
        assert not torch.allclose(outputs[first], outputs[second]), (first, second)


def test_couplings_start_at_coupling_init() -> None:
    mixer = build("chimera", coupling_init=0.25).backbone.layers[0].mixer
    for scan in mixer.scans:
        for coupling in (scan.A_var_to_time, scan.A_time_to_var):
            assert torch.equal(coupling, torch.full_like(coupling, 0.25))


def test_uncoupled_equals_both_couplings_at_zero() -> None:
    # Zero couplings: the 2-D scan is two independent 1-D scans (tests/kernels/test_scan2d.py
    # checks that sum against the 1-D kernel), and so is "none".
    coupled = build("chimera").eval()
    x = torch.randn(2, 12, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(with_couplings("none", coupled)(x), coupled(x))


def test_forecaster_takes_time_features_as_extra_rows() -> None:
    model = build("chimera", n_time_features=2)
    assert model(torch.randn(2, 12, 3), torch.randn(2, 12, 2)).shape == (2, 4, 3)


def test_models_share_one_backbone_class() -> None:
    assert all(isinstance(build(name).backbone, ChimeraBackbone) for name in NAMES)


def classification_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 has a slow sine on channel 0; class 0 has none."""
    gen = torch.Generator().manual_seed(3)
    labels = torch.arange(16) % 2
    x = torch.randn(16, 3, 12, generator=gen) * 0.3
    x[:, 0] += labels[:, None] * torch.sin(torch.arange(12) / 2.0)
    return x, labels


@pytest.mark.parametrize("name", NAMES)
def test_trains_on_a_tiny_problem(name: str) -> None:
    model = build(name, dropout=0.0)
    if name == "chimera_classifier":
        x, target = classification_problem()
        loss_fn = F.cross_entropy
    else:
        t = torch.arange(16)[:, None, None] + torch.arange(16)[None, :, None]  # [16, 16, 1]
        series = torch.sin(t / 3.0 + torch.arange(3) * 0.5)  # [windows, steps, variates]
        if name == "chimera":
            x, target = series[:, :12], series[:, 12:]
        else:
            x = target = series[:, :12].transpose(1, 2)
        loss_fn = F.mse_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = loss_fn(model(x), target).item()
    for _ in range(15):
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def where_the_bump_is(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-class problem the time average of a linear cell embedding cannot see: every case
    is z-normalised (mean 0, std 1 per channel); class 1's bump comes late, class 0's early
    (``"bump"``), or class 1 oscillates faster (``"frequency"``)."""
    gen = torch.Generator().manual_seed(5)
    labels = torch.arange(16) % 2
    t = torch.arange(12.0)
    if kind == "bump":
        centre = torch.where(labels == 1, 8.0, 3.0)[:, None]
        x = torch.exp(-0.5 * (t - centre) ** 2)
    else:
        rate = torch.where(labels == 1, 1.2, 0.5)[:, None]
        x = torch.sin(rate * t + 6 * torch.rand(16, 1, generator=gen))
    x = x[:, None, :].repeat(1, 3, 1) + 0.1 * torch.randn(16, 3, 12, generator=gen)
    return (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True), labels


@pytest.mark.parametrize("kind", ["bump", "frequency"])
def test_classifier_separates_z_normalised_shapes_within_a_few_steps(kind: str) -> None:
    # Guards the read-out: a classifier that averaged its cells over time sat at the class
    # prior (cross-entropy ~ log 2 here) through all 15 steps on both problems.
    model = build("chimera_classifier", dropout=0.0)
    x, labels = where_the_bump_is(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * math.log(2)


def test_classifier_head_reads_every_cell_and_checks_its_width() -> None:
    model = build("chimera_classifier", head_features=3)
    assert model.head.project.in_features == 3 * 12 * 3  # n_chans * n_times * head_features
    with pytest.raises(ValueError, match=r"head_features must be a positive integer"):
        build("chimera_classifier", head_features=0)


@pytest.mark.parametrize(("head", "width"), [("mean", 3 * 8), ("mean_max", 3 * 8 * 2)])
def test_classifier_pooled_heads_read_each_variates_pooled_cells(head: str, width: int) -> None:
    model = build("chimera_classifier", head=head)  # d_model 8, 3 variates
    assert model.head.project.in_features == width  # n_chans * d_model (x 2), not n_times
    assert model(torch.randn(2, 3, 12)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"head must be one of cells, mean, mean_max"):
        build("chimera_classifier", head="last")


def test_classifier_local_embedding_reads_each_cells_neighbourhood() -> None:
    model = build("chimera_classifier", embed_kernel=3, head="mean_max").eval()
    x = torch.randn(1, 3, 12)
    embed = model.backbone.value_embed
    cells = embed(x[..., None])  # [1, 3, 12, d_model]
    nudged = x.clone()
    nudged[0, 1, 5] += 1.0  # moves cells 4-6 of variate 1 only
    changed = (embed(nudged[..., None]) - cells).abs().amax(-1) > 0
    assert changed[0, 1].nonzero().flatten().tolist() == [4, 5, 6]
    assert not changed[0, [0, 2]].any()
    assert model(x).shape == (1, 2)
    with pytest.raises(ValueError, match="embed_kernel must be odd"):
        build("chimera_classifier", embed_kernel=4)


def test_classifier_normalize_makes_it_blind_to_each_series_offset_and_scale() -> None:
    model = build("chimera_classifier", normalize=True).eval()
    x = torch.randn(2, 3, 12)
    shifted = 5.0 + 3.0 * x
    torch.testing.assert_close(model(shifted), model(x), atol=1e-4, rtol=1e-4)
    assert torch.isfinite(model(torch.ones(2, 3, 12))).all()  # constant series: zeros


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_model_and_output(name: str) -> None:
    x, _ = sample(name)
    first, second = build(name).eval(), build(name).eval()
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("chimera", torch.randn(2, 12, 4), r"`x` has shape \(2, 12, 4\).*n_variates=3"),
        ("chimera", torch.randn(2, 10, 3), r"`x` has shape \(2, 10, 3\).*lookback=12"),
        ("chimera_classifier", torch.randn(2, 12, 3), r"`x` has shape \(2, 12, 3\).*n_chans=3"),
        ("chimera_anomaly", torch.randn(3, 12), r"`x` has shape \(3, 12\).*n_times=12"),
    ],
)
def test_bad_input_shape_is_a_clear_error(name: str, bad: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(name)(bad)


def test_time_features_must_match_the_config() -> None:
    with pytest.raises(ValueError, match=r"`x_mark` must be given exactly when"):
        build("chimera")(torch.randn(2, 12, 3), torch.randn(2, 12, 1))
    with pytest.raises(ValueError, match=r"`x_mark` has shape \(2, 12, 1\).*n_time_features=2"):
        build("chimera", n_time_features=2)(torch.randn(2, 12, 3), torch.randn(2, 12, 1))


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"season_period must be a positive integer"):
        build("chimera_anomaly", season_period=0)
    with pytest.raises(ValueError, match=r"n_outputs must be a positive integer"):
        create_model("chimera_classifier", n_chans=2, n_times=8, n_outputs=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        build("chimera", dropout=1.5)
    with pytest.raises(ValueError, match=r"season_period \(13\) is longer than the series "
                       r"\(n_times=12\)"):
        build("chimera_classifier", season_period=13)
    with pytest.raises(ValueError, match=r"ChimeraConfig: couplings must be one of 'both', "
                       r"'time_to_var', 'var_to_time', 'none', got 'one_way'"):
        build("chimera", couplings="one_way")
    with pytest.raises(ValueError, match=r"couplings must be one of .*, got False"):
        build("chimera_classifier", couplings=False)
    with pytest.raises(ValueError, match=r"decoder must be one of linear, closed_loop"):
        build("chimera", decoder="recurrent")
    with pytest.raises(ValueError, match=r"closed-loop decoder .* set n_time_features=0"):
        build("chimera", decoder="closed_loop", n_time_features=2)
    with pytest.raises(ValueError, match=r"trend_dt_min and trend_dt_max must satisfy"):
        build("chimera", trend_dt_min=0.1, trend_dt_max=0.01)
    with pytest.raises(ValueError, match=r"variate_dt_min and variate_dt_max must satisfy"):
        build("chimera", variate_dt_min=2.0, variate_dt_max=1.0)
    with pytest.raises(ValueError, match=r"objective must be one of predict, reconstruct"):
        build("chimera_anomaly", objective="forecast")
    with pytest.raises(ValueError, match=r"warmup must be a non-negative integer"):
        build("chimera_anomaly", warmup=-1)
    with pytest.raises(ValueError, match=r"lead must be an integer in \[1, n_times=12\)"):
        build("chimera_anomaly", lead=12)


def test_anomaly_predict_objective_reads_each_step_from_its_past_only() -> None:
    # Without RevIN (whose window statistics see every step) a change at step 6 must leave
    # the outputs of steps 0-6 untouched and move step 7's; "reconstruct" sees step 6 itself.
    x = torch.randn(2, 3, 12)
    changed = x.clone()
    changed[:, :, 6] += 3.0
    predictor = build("chimera_anomaly", normalize=False).eval()
    before, after = predictor(x), predictor(changed)
    torch.testing.assert_close(after[..., :7], before[..., :7], rtol=0, atol=0)
    assert (after[..., 7] - before[..., 7]).abs().min() > 0
    assert predictor.score_from == 8 and build("chimera_anomaly", warmup=20).score_from == 11
    # Three steps ahead: step 6 first reaches step 9.
    ahead = build("chimera_anomaly", normalize=False, lead=3).eval()
    before, after = ahead(x), ahead(changed)
    torch.testing.assert_close(after[..., :9], before[..., :9], rtol=0, atol=0)
    assert (after[..., 9] - before[..., 9]).abs().min() > 0
    assert ahead.score_from == 10
    reconstructor = build("chimera_anomaly", normalize=False, objective="reconstruct").eval()
    assert (reconstructor(changed) - reconstructor(x))[..., 6].abs().min() > 0
    assert reconstructor.score_from == 0
