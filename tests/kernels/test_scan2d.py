"""The 2-D selective scan: every backend equals the double-loop reference (values, last states
and every gradient) with and without each coupling, scans continue from their last states, the
paper's special cases reduce to 1-D scans, bad input is named."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels import selective_scan, selective_scan_2d
from tsssm.kernels.scan2d import available_backends_2d
from tsssm.kernels.scan2d import cpu as cpu2d

OPTIONAL = ("D", "z", "A_var_to_time", "A_time_to_var", "delta_bias_time", "delta_bias_var")
COUPLINGS = {"none": (), "var_to_time": ("A_var_to_time",), "time_to_var": ("A_time_to_var",),
             "both": ("A_var_to_time", "A_time_to_var")}
CPU_BACKENDS = [name for name in ("cpu", "chunked") if name in available_backends_2d("cpu")]


def make_inputs(batch: int = 2, dim: int = 3, n_vars: int = 5, length: int = 13, state: int = 4,
                optional: tuple[str, ...] = OPTIONAL, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random, well-conditioned tensors for ``selective_scan_2d`` (decays in (0, 1))."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    grid, bc = (batch, dim, n_vars, length), (batch, state, n_vars, length)
    tensors = {
        "u": randn(*grid), "delta_time": randn(*grid, scale=0.5) - 1.0,
        "delta_var": randn(*grid, scale=0.5) - 1.0,
        "A_time": -torch.exp(randn(dim, state, scale=0.5)),
        "A_var": -torch.exp(randn(dim, state, scale=0.5)),
        "B_time": randn(*bc), "C_time": randn(*bc), "B_var": randn(*bc), "C_var": randn(*bc),
        "D": randn(dim), "z": randn(*grid), "A_var_to_time": randn(dim, state),
        "A_time_to_var": randn(dim, state),
        "delta_bias_time": randn(dim, scale=0.1), "delta_bias_var": randn(dim, scale=0.1),
    }
    return {k: v.requires_grad_() for k, v in tensors.items()
            if k not in OPTIONAL or k in optional}


def with_coupling(coupling: str) -> tuple[str, ...]:
    return ("D", "z", "delta_bias_time", "delta_bias_var", *COUPLINGS[coupling])


def make_states(inputs: dict[str, torch.Tensor], period: int, seed: int = 1
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random initial states (time, variate) matching ``inputs``, needing grad."""
    b, d, v, _ = inputs["u"].shape
    n = inputs["A_time"].shape[1]
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, v, period, n, generator=gen).requires_grad_(),
            torch.randn(b, d, v, n, generator=gen).requires_grad_())


def run_with_grads(inputs: dict[str, torch.Tensor], initial_state=None, **options):
    """Outputs, last states and the gradients of a random projection of all three."""
    out, (h_time, h_var) = selective_scan_2d(**inputs, delta_softplus=True,
                                             initial_state=initial_state,
                                             return_last_state=True, **options)
    gen = torch.Generator().manual_seed(7)
    loss = sum((x * torch.randn(x.shape, generator=gen).to(x.device)).sum()
               for x in (out, h_time, h_var))
    wrt = {**inputs, **({} if initial_state is None else
                        {"time_state0": initial_state[0], "var_state0": initial_state[1]})}
    # Without A_var_to_time the variate state before the grid reaches nothing: zero gradient.
    grads = torch.autograd.grad(loss, list(wrt.values()), materialize_grads=True)
    return (out, h_time, h_var), dict(zip(wrt, grads, strict=True))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    scale = expected.abs().max().clamp(min=1.0)
    torch.testing.assert_close(actual / scale, expected / scale, rtol=0, atol=2e-5, msg=what)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("coupling", list(COUPLINGS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("period", [1, 3])
@pytest.mark.parametrize(("length", "n_vars"), [(1, 1), (7, 3), (13, 5), (4, 1), (1, 4)])
def test_backend_equals_reference_values_and_gradients(length: int, n_vars: int, period: int,
                                                       reverse: bool, coupling: str,
                                                       backend: str) -> None:
    inputs = make_inputs(n_vars=n_vars, length=length, optional=with_coupling(coupling))
    # A period longer than the grid needs the earlier steps; odd grids get them as well.
    states = make_states(inputs, period) if period > length or length % 2 else None
    check_against_reference(inputs, backend, states, period=period, reverse_variates=reverse)


def check_against_reference(inputs: dict[str, torch.Tensor], backend: str, initial_state=None,
                            **options) -> None:
    """``backend`` gives the reference's outputs, last states and every gradient."""
    expected, expected_grads = run_with_grads(inputs, initial_state, backend="ref", **options)
    actual, grads = run_with_grads(inputs, initial_state, backend=backend, **options)
    for name, a, e in zip(("out", "time_state", "var_state"), actual, expected, strict=True):
        assert a.shape == e.shape
        assert_close(a, e, name)
    for name, grad in grads.items():
        assert_close(grad, expected_grads[name], f"gradient of {name}")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("used", [("out",), ("time_state",), ("var_state",),
                                  ("out", "time_state")])
def test_gradients_when_only_some_outputs_are_used(used: tuple[str, ...], backend: str) -> None:
    # Unused outputs reach the backward as no gradient at all (not as zeros).
    inputs = make_inputs(n_vars=4, length=9, optional=with_coupling("both"))
    states = make_states(inputs, period=2)

    def grads(name: str) -> dict[str, torch.Tensor]:
        out, (h_time, h_var) = selective_scan_2d(
            **inputs, delta_softplus=True, period=2, initial_state=states,
            return_last_state=True, backend=name)
        outputs = {"out": out, "time_state": h_time, "var_state": h_var}
        loss = sum((outputs[k] * torch.cos(torch.arange(outputs[k].numel()).view_as(
            outputs[k]))).sum() for k in used)
        wrt = {**inputs, "time_state0": states[0], "var_state0": states[1]}
        found = torch.autograd.grad(loss, list(wrt.values()), materialize_grads=True)
        return dict(zip(wrt, found, strict=True))

    expected = grads("ref")
    for name, grad in grads(backend).items():
        assert_close(grad, expected[name], f"gradient of {name} with {used} used")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("segment", [1, 2, 5])
@pytest.mark.parametrize("period", [1, 3])
def test_fused_backward_replays_in_segments_on_any_thread_count(
        segment: int, period: int, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if "cpu" not in CPU_BACKENDS:
        pytest.skip("the fused 2-D kernel is not built")
    from tsssm.kernels.scan2d import cpu

    monkeypatch.setattr(cpu, "BACKWARD_SEGMENT_STEPS", segment)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        inputs = make_inputs(batch=3, n_vars=4, length=11, optional=with_coupling("both"))
        check_against_reference(inputs, "cpu", make_states(inputs, period), period=period)
        # Deterministic: the same gradients bit for bit on a second run.
        first, second = (run_with_grads(inputs, backend="cpu", period=period)[1]
                         for _ in range(2))
        assert all(torch.equal(first[k], second[k]) for k in first)
    finally:
        torch.set_num_threads(previous)


CPU_ISAS = cpu2d.supported_isas() if "cpu" in CPU_BACKENDS else []


@pytest.mark.parametrize("isa", CPU_ISAS)
@pytest.mark.parametrize(("dim", "state"), [(3, 4), (16, 8), (21, 16), (37, 5)])
def test_fused_kernel_on_every_instruction_set_and_tile_width(
        isa: str, dim: int, state: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Channels are the vector lanes: whole and ragged tiles of 4, 8 and 16 channels, state
    # sizes with unrolled (8, 16) and general loops, both couplings, a period and states.
    from tsssm.kernels.selective_scan import cpu as cpu1d

    monkeypatch.setattr(cpu1d, "ISA", isa)
    assert cpu2d.isa() == isa
    inputs = make_inputs(batch=2, dim=dim, n_vars=3, length=6, state=state,
                         optional=with_coupling("both"))
    check_against_reference(inputs, "cpu", make_states(inputs, 2), period=2,
                            reverse_variates=dim % 2 == 1)


def test_the_forward_does_not_depend_on_the_thread_count() -> None:
    if "cpu" not in CPU_BACKENDS:
        pytest.skip("the fused 2-D kernel is not built")
    inputs = {k: v.detach() for k, v in make_inputs(batch=4, dim=40, n_vars=6, length=64,
                                                    state=8).items()}
    previous = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append(selective_scan_2d(**inputs, delta_softplus=True, backend="cpu"))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("backend", ["ref", *CPU_BACKENDS])
@pytest.mark.parametrize("period", [1, 4])
def test_a_scan_continues_from_its_last_states(backend: str, period: int) -> None:
    # Streaming: the grid in pieces (one of a single step), each starting from the states the
    # previous piece returned, gives the outputs and states of the whole grid.
    inputs = {k: v.detach() for k, v in make_inputs(n_vars=3, length=10).items()}
    options = {"delta_softplus": True, "period": period, "backend": backend,
               "return_last_state": True}
    whole, (time_state, var_state) = selective_scan_2d(**inputs, **options)
    states, pieces = None, []
    for steps in (slice(0, 6), slice(6, 7), slice(7, 10)):
        piece = {k: v[..., steps] if v.dim() == 4 else v for k, v in inputs.items()}
        out, states = selective_scan_2d(**piece, initial_state=states, **options)
        pieces.append(out)
    assert_close(torch.cat(pieces, dim=-1), whole, "pieces")
    assert_close(states[0], time_state, "time state")
    assert_close(states[1], var_state, "variate state")


def test_couplings_change_the_output_and_move_information_as_specified() -> None:
    inputs = {k: v.detach() for k, v in make_inputs(n_vars=3, length=6).items()}
    plain = {k: v for k, v in inputs.items() if k not in ("A_var_to_time", "A_time_to_var")}
    assert not torch.allclose(selective_scan_2d(**inputs), selective_scan_2d(**plain))
    # Only variate -> time: a change at the last variate (forward order) reaches its own later
    # steps through its variate state, and never the other variates.
    only = dict(plain, A_var_to_time=inputs["A_var_to_time"])
    changed = dict(only, u=only["u"].clone())
    changed["u"][:, :, 2, 0] += 1.0
    delta = (selective_scan_2d(**changed) - selective_scan_2d(**only)).abs().amax(dim=(0, 1))
    assert torch.all(delta[:2] == 0) and torch.all(delta[2] > 0)
    # Only time -> variate: a change at the first variate's first step reaches later variates
    # at every later step (through the time state), and nothing before it.
    only = dict(plain, A_time_to_var=inputs["A_time_to_var"])
    changed = dict(only, u=only["u"].clone())
    changed["u"][:, :, 0, 1] += 1.0
    delta = (selective_scan_2d(**changed) - selective_scan_2d(**only)).abs().amax(dim=(0, 1))
    assert torch.all(delta[:, 0] == 0) and torch.all(delta[1:, 1:] > 0)


def test_state_shapes_and_optional_inputs() -> None:
    inputs = make_inputs(n_vars=3, length=7, optional=())
    out, (h_time, h_var) = selective_scan_2d(**inputs, period=4, return_last_state=True)
    assert out.shape == (2, 3, 3, 7)
    assert h_time.shape == (2, 3, 3, 4, 4) and h_var.shape == (2, 3, 3, 4)
    ref = selective_scan_2d(**inputs, period=4, backend="ref")
    assert_close(out, ref, "out without optional inputs")


def test_period_longer_than_the_series_is_an_error_without_earlier_states() -> None:
    inputs = {k: v.detach() for k, v in make_inputs(n_vars=2, length=3).items()}
    with pytest.raises(ValueError, match=r"`period` 5 is longer than the series \(length 3\)"):
        selective_scan_2d(**inputs, period=5)
    out = selective_scan_2d(**inputs, period=5, initial_state=make_states(inputs, 5))
    assert out.shape == inputs["u"].shape


def test_float64_and_bfloat16_keep_the_input_dtype() -> None:
    inputs = {k: v.detach().double() for k, v in make_inputs(n_vars=3, length=5).items()}
    out, (h_time, _) = selective_scan_2d(**inputs, return_last_state=True, backend="ref")
    assert out.dtype == torch.float64 and h_time.dtype == torch.float64
    half = {k: v.to(torch.bfloat16) for k, v in inputs.items()}
    assert selective_scan_2d(**half).dtype == torch.bfloat16


# --- the paper's special cases --------------------------------------------------------------

def time_rows(x: torch.Tensor) -> torch.Tensor:
    """[b, c, v, t] -> [b * v, c, t]."""
    b, c, v, t = x.shape
    return x.transpose(1, 2).reshape(b * v, c, t)


def variate_rows(x: torch.Tensor) -> torch.Tensor:
    """[b, c, v, t] -> [b * t, c, v]."""
    b, c, v, t = x.shape
    return x.permute(0, 3, 1, 2).reshape(b * t, c, v)


@pytest.mark.parametrize("backend", ["ref", "auto"])
@pytest.mark.parametrize("reverse", [False, True])
def test_without_coupling_it_is_a_time_scan_plus_a_variate_scan(backend: str,
                                                                reverse: bool) -> None:
    inputs = make_inputs(n_vars=4, length=9, optional=("delta_bias_time", "delta_bias_var"))
    b, d, v, t = inputs["u"].shape
    out = selective_scan_2d(**inputs, delta_softplus=True, reverse_variates=reverse,
                            backend=backend)
    along_time = selective_scan(
        time_rows(inputs["u"]), time_rows(inputs["delta_time"]), inputs["A_time"],
        time_rows(inputs["B_time"]), time_rows(inputs["C_time"]),
        delta_bias=inputs["delta_bias_time"], delta_softplus=True, backend="ref",
    ).view(b, v, d, t).transpose(1, 2)
    along_variates = selective_scan(
        variate_rows(inputs["u"]), variate_rows(inputs["delta_var"]), inputs["A_var"],
        variate_rows(inputs["B_var"]), variate_rows(inputs["C_var"]),
        delta_bias=inputs["delta_bias_var"], delta_softplus=True, reverse=reverse, backend="ref",
    ).view(b, t, d, v).permute(0, 2, 3, 1)
    assert_close(out, along_time + along_variates, "uncoupled 2-D scan")


@pytest.mark.parametrize("backend", ["ref", "auto"])
def test_one_variate_without_variate_readout_is_mamba(backend: str) -> None:
    inputs = make_inputs(n_vars=1, length=11, optional=with_coupling("time_to_var"))
    inputs["C_var"] = torch.zeros_like(inputs["C_var"])
    out = selective_scan_2d(**inputs, delta_softplus=True, backend=backend)
    mamba = selective_scan(
        inputs["u"][:, :, 0], inputs["delta_time"][:, :, 0], inputs["A_time"],
        inputs["B_time"][:, :, 0], inputs["C_time"][:, :, 0], D=inputs["D"],
        z=inputs["z"][:, :, 0], delta_bias=inputs["delta_bias_time"], delta_softplus=True,
        backend="ref",
    )
    assert_close(out[:, :, 0], mamba, "one-variate 2-D scan")


@pytest.mark.parametrize("backend", ["ref", "auto"])
def test_seasonal_period_runs_one_chain_per_phase(backend: str) -> None:
    period, length = 3, 11
    inputs = make_inputs(n_vars=1, length=length, optional=())
    inputs["C_var"] = torch.zeros_like(inputs["C_var"])
    out = selective_scan_2d(**inputs, period=period, backend=backend)[:, :, 0]
    for phase in range(period):
        steps = slice(phase, length, period)
        chain = selective_scan(
            *(inputs[k][:, :, 0, steps] for k in ("u", "delta_time")), inputs["A_time"],
            *(inputs[k][:, :, 0, steps] for k in ("B_time", "C_time")), backend="ref",
        )
        assert_close(out[..., steps], chain, f"phase {phase}")


@pytest.mark.parametrize("backend", ["ref", "auto"])
def test_scalar_decay_equals_the_mamba2_quadratic_form(backend: str) -> None:
    # Mamba-2 (SSD): with A = a * I per channel, y_t = sum_{s<=t} L[t, s] (C_t . B_s) dt_s u_s
    # where L[t, s] = exp(a * (dt_{s+1} + ... + dt_t)); here along time, one variate.
    inputs = make_inputs(dim=2, n_vars=1, length=9, optional=())
    inputs["A_time"] = (-torch.rand(2, 1).expand(2, 4) - 0.1).detach().requires_grad_()
    inputs["C_var"] = torch.zeros_like(inputs["C_var"])
    out = selective_scan_2d(**inputs, backend=backend)[:, :, 0]  # [b, d, t]
    u, dt = inputs["u"][:, :, 0], inputs["delta_time"][:, :, 0]
    B, C = inputs["B_time"][:, :, 0], inputs["C_time"][:, :, 0]  # [b, n, t]
    log_decay = inputs["A_time"][:, 0, None] * dt  # [b, d, t]
    cum = log_decay.cumsum(-1)
    segment = cum[..., :, None] - cum[..., None, :]  # [b, d, t, s]
    causal = torch.ones(9, 9, dtype=torch.bool).tril()
    L = torch.exp(segment.masked_fill(~causal, -torch.inf))
    scores = torch.einsum("bnt,bns->bts", C, B)[:, None]  # [b, 1, t, s]
    ssd = torch.einsum("bdts,bds->bdt", L * scores, dt * u)
    assert_close(out, ssd, "SSD form")


def test_reverse_variates_is_the_forward_scan_on_flipped_variates() -> None:
    inputs = make_inputs(n_vars=4, length=6)
    flipped = {k: v.flip(2) if v.dim() == 4 else v for k, v in inputs.items()}
    backward = selective_scan_2d(**inputs, delta_softplus=True, reverse_variates=True)
    forward = selective_scan_2d(**flipped, delta_softplus=True).flip(2)
    assert_close(backward, forward, "reversed variates")


def test_information_moves_across_variates_only_in_scan_order() -> None:
    inputs = {k: v.detach() for k, v in make_inputs(n_vars=3, length=5).items()}
    base = selective_scan_2d(**inputs)
    changed = dict(inputs, u=inputs["u"].clone())
    changed["u"][:, :, 2] += 1.0  # the last variate: nothing after it in forward order
    moved = selective_scan_2d(**changed)
    torch.testing.assert_close(moved[:, :, :2], base[:, :, :2])
    moved_back = selective_scan_2d(**changed, reverse_variates=True)
    base_back = selective_scan_2d(**inputs, reverse_variates=True)
    assert not torch.allclose(moved_back[:, :, 0], base_back[:, :, 0])


# --- bad input ------------------------------------------------------------------------------

def valid() -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in make_inputs(dim=3, n_vars=2, length=5).items()}


@pytest.mark.parametrize(
    ("name", "bad_shape", "needed"),
    [
        ("u", (2, 3, 5), "(batch, dim, n_vars, length)"),
        ("u", (2, 3, 0, 5), "every size >= 1"),
        ("delta_time", (2, 3, 2, 4), "(batch, dim, n_vars, length) = (2, 3, 2, 5)"),
        ("delta_var", (2, 3, 5, 2), "(batch, dim, n_vars, length) = (2, 3, 2, 5)"),
        ("A_time", (4, 4), "(dim, state) = (3, state)"),
        ("A_var", (3, 5), "(dim, state) = (3, 4)"),
        ("B_time", (2, 4, 2), "(batch, state, n_vars, length) = (2, 4, 2, 5)"),
        ("C_var", (2, 3, 2, 5), "(batch, state, n_vars, length) = (2, 4, 2, 5)"),
        ("A_var_to_time", (3, 5), "(dim, state) = (3, 4), like `A_time`"),
        ("A_time_to_var", (4,), "(dim, state) = (3, 4), like `A_time`"),
        ("delta_bias_var", (3, 1), "(dim,) = (3,)"),
        ("z", (2, 3, 2, 6), "(batch, dim, n_vars, length) = (2, 3, 2, 5)"),
    ],
)
def test_wrong_shape_names_argument_and_shapes(name: str, bad_shape: tuple, needed: str) -> None:
    inputs = valid()
    inputs[name] = torch.zeros(bad_shape)
    with pytest.raises(ValueError) as info:
        selective_scan_2d(**inputs)
    assert f"`{name}` has shape {bad_shape}" in str(info.value)
    assert needed in str(info.value)


@pytest.mark.parametrize("name", ["u", "delta_var", "B_time", "D"])
def test_nan_is_named(name: str) -> None:
    inputs = valid()
    inputs[name] = inputs[name].clone()
    inputs[name].view(-1)[0] = torch.nan
    with pytest.raises(ValueError, match=rf"`{name}` contains NaN"):
        selective_scan_2d(**inputs)


def test_integer_dtype_period_and_backend_are_checked() -> None:
    inputs = valid()
    with pytest.raises(ValueError, match=r"`C_time` has dtype torch\.int64"):
        selective_scan_2d(**dict(inputs, C_time=inputs["C_time"].long()))
    with pytest.raises(ValueError, match=r"`period` must be a positive int, got 0"):
        selective_scan_2d(**inputs, period=0)
    with pytest.raises(ValueError, match=r"unknown backend 'gpu'.*auto, ref, cpu"):
        selective_scan_2d(**inputs, backend="gpu")
    with pytest.raises(ValueError, match=r"`initial_state\[1\]` has shape \(2, 3, 5, 4\).*"
                       r"\(2, 3, 2, 4\)"):
        states = (torch.zeros(2, 3, 2, 1, 4), torch.zeros(2, 3, 5, 4))
        selective_scan_2d(**inputs, initial_state=states)


EMPTY_DIMS = {"batch": {"batch": 0}, "dim": {"dim": 0}, "n_vars": {"n_vars": 0},
              "length": {"length": 0}, "state": {"state": 0}}


@pytest.mark.parametrize("backend", ["ref", "cpu", "chunked", "triton"])
@pytest.mark.parametrize("coupling", list(COUPLINGS))
@pytest.mark.parametrize("empty", list(EMPTY_DIMS))
def test_empty_dimension_is_refused(empty: str, coupling: str, backend: str) -> None:
    inputs = make_inputs(**EMPTY_DIMS[empty], optional=with_coupling(coupling))
    with pytest.raises(ValueError, match=r"every size >= 1 \(an empty dimension"):
        selective_scan_2d(**inputs, backend=backend)


@pytest.mark.skipif("cpu" not in CPU_BACKENDS, reason="the fused 2-D CPU kernel is not built")
def test_compiled_kernel_refuses_empty_state_itself() -> None:
    # Bypasses the Python checks: the C++ entry point is the last guard.
    grid, bc = torch.zeros(2, 4, 5, 3), torch.zeros(2, 4, 5, 0)  # [b, v, t, d], [b, v, t, n]
    tensors = (grid, grid, grid, torch.zeros(3, 0), torch.zeros(3, 0), None, None, bc, bc, bc,
               bc, *([None] * 6))
    with pytest.raises(ValueError, match=r"kernel refused sizes .* = \(2, 3, 4, 5, 0, 1\)"):
        cpu2d.scan2d_forward(*tensors, False, 1, False)


@pytest.mark.parametrize("coupling", ["none", "both"])
@pytest.mark.parametrize("period", [1, 3])
def test_triton_rounds_backend_equals_reference(period: int, coupling: str) -> None:
    """Alternating rounds of the 1-D Triton kernels (Triton's interpreter on the CPU); the
    fused Triton kernel is tested in test_triton_scan2d.py."""
    if "triton-rounds" not in available_backends_2d("cpu"):
        pytest.skip("Triton cannot run here (see tsssm.kernels.available_backends)")
    inputs = make_inputs(n_vars=3, length=7, optional=with_coupling(coupling))
    check_against_reference(inputs, "triton-rounds", make_states(inputs, period),
                            period=period, reverse_variates=True)
