"""Every selective-scan backend against the reference: values, last state and all gradients."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels import available_backends, selective_scan
from tsssm.kernels.selective_scan import api

from .scan_cases import OPTIONAL, Case, channel_last, make_inputs, run_with_grads

FAST_BACKENDS = [name for name in ("cpu", "chunked", "triton") if name in available_backends()]
RTOL, ATOL = 6e-4, 2e-3

CASES = [
    case
    for length in (1, 63, 100, 257)
    for case in (
        Case(length=length, optional=(), softplus=False),
        Case(length=length),
        Case(length=length, groups=2, reverse=True),
        Case(length=length, state=5, optional=("D", "initial_state"), softplus=False,
             reverse=True),
    )
]


def scan_with(backend: str):
    def scan(**kwargs):
        return selective_scan(**kwargs, backend=backend)

    return scan


def assert_matches_reference(backend: str, case: Case, dtype=torch.float32, rtol=RTOL,
                             atol=ATOL) -> None:
    inputs = make_inputs(case, dtype=dtype)
    out, last, grads = run_with_grads(scan_with(backend), inputs)
    reference_inputs = make_inputs(case)  # the same values, in float32
    ref_out, ref_last, ref_grads = run_with_grads(scan_with("ref"), reference_inputs)
    assert out.dtype == dtype
    assert last.dtype == torch.float32
    torch.testing.assert_close(out.float(), ref_out, rtol=rtol, atol=atol)
    torch.testing.assert_close(last, ref_last, rtol=rtol, atol=atol)
    assert set(grads) == set(ref_grads)
    for name, grad in grads.items():
        assert grad.dtype == dtype, name
        torch.testing.assert_close(
            grad.float(), ref_grads[name], rtol=rtol, atol=atol, msg=lambda m, n=name: f"d{n}: {m}"
        )


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_backend_matches_reference(backend: str, case: Case) -> None:
    assert_matches_reference(backend, case)


@pytest.mark.parametrize("backend", ["cpu", "chunked"])
def test_larger_state_and_dims(backend: str) -> None:
    assert_matches_reference(backend, Case(batch=3, dim=24, length=130, state=16, groups=3))
    assert_matches_reference(backend, Case(batch=1, dim=8, length=70, state=33, reverse=True))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("backend", ["ref", *FAST_BACKENDS])
def test_half_precision_inputs_accumulate_in_float32(backend: str, dtype: torch.dtype) -> None:
    # Inputs are rounded to half precision, so the comparison with the float32 reference
    # is only as tight as that rounding; the state itself stays float32.
    case = Case(length=40)
    assert_matches_reference(backend, case, dtype=dtype, rtol=5e-2, atol=5e-2)


def test_reference_reverse_is_the_forward_scan_of_flipped_inputs() -> None:
    backward = make_inputs(Case(length=17, reverse=True), requires_grad=False)
    flipped = {
        name: value.flip(-1) if name in {"u", "delta", "B", "C", "z"} else value
        for name, value in backward.items()
    }
    flipped["reverse"] = False
    out, last = selective_scan(**backward, return_last_state=True, backend="ref")
    out_f, last_f = selective_scan(**flipped, return_last_state=True, backend="ref")
    torch.testing.assert_close(out, out_f.flip(-1))
    torch.testing.assert_close(last, last_f)


def test_reference_against_closed_form_single_step() -> None:
    # One step from a known state: h = exp(dt A) h0 + dt B u, y = <C, h> + D u, out = y silu(z).
    inputs = make_inputs(Case(batch=1, dim=2, length=1, state=3), requires_grad=False)
    out, last = selective_scan(**inputs, return_last_state=True, backend="ref")
    dt = torch.nn.functional.softplus(inputs["delta"][0, :, 0] + inputs["delta_bias"])
    h = torch.exp(dt[:, None] * inputs["A"]) * inputs["initial_state"][0] + (
        dt * inputs["u"][0, :, 0]
    )[:, None] * inputs["B"][0, :, 0]
    y = h @ inputs["C"][0, :, 0] + inputs["D"] * inputs["u"][0, :, 0]
    expected = y * torch.nn.functional.silu(inputs["z"][0, :, 0])
    torch.testing.assert_close(out[0, :, 0], expected)
    torch.testing.assert_close(last[0], h)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_backward_is_deterministic(backend: str) -> None:
    case = Case(batch=2, dim=6, length=50, groups=2)
    first = run_with_grads(scan_with(backend), make_inputs(case))
    second = run_with_grads(scan_with(backend), make_inputs(case))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    for name in first[2]:
        assert torch.equal(first[2][name], second[2][name]), name


def test_auto_picks_the_fused_kernel_on_cpu() -> None:
    assert api.resolve_backend("auto", "cpu") == "cpu"


def test_unavailable_backend_falls_back_with_a_message(monkeypatch) -> None:
    monkeypatch.setattr(api, "_warned", set())
    monkeypatch.setitem(api._UNAVAILABLE, "cpu", lambda device: "not built here.")
    inputs = make_inputs(Case(length=20), requires_grad=False)
    with pytest.warns(RuntimeWarning, match=r"'cpu' cannot run.*not built here.*'chunked'"):
        out = selective_scan(**inputs, backend="cpu")
    torch.testing.assert_close(out, selective_scan(**inputs, backend="ref"), rtol=RTOL, atol=ATOL)


def test_optional_inputs_default_to_absent() -> None:
    case = Case(optional=(), length=10)
    inputs = make_inputs(case, requires_grad=False)
    explicit = selective_scan(**inputs)
    for name in OPTIONAL:
        inputs.pop(name)
    torch.testing.assert_close(selective_scan(**inputs), explicit)


@pytest.mark.skipif("cpu" not in FAST_BACKENDS, reason="the fused CPU kernel is not built")
@pytest.mark.parametrize("segment", [1, 7, 64])
def test_cpu_backward_in_segments_matches_reference(monkeypatch, segment: int) -> None:
    # Long rows are replayed segment by segment in the backward; force that on short ones.
    from tsssm.kernels.selective_scan import cpu

    monkeypatch.setattr(cpu, "BACKWARD_SEGMENT_STEPS", segment)
    assert_matches_reference("cpu", Case(length=100, groups=2, reverse=True))
    assert_matches_reference("cpu", Case(length=63, state=5))


@pytest.mark.parametrize("backend", ["cpu", "chunked"])
def test_backward_never_keeps_a_full_length_state(backend: str) -> None:
    # What autograd keeps for backward must stay near the inputs' size, far below one
    # [batch, dim, length, state] tensor (the memory cost that pscan and the loop pay).
    case = Case(batch=1, dim=64, length=2048, state=16, optional=("D", "z", "delta_bias"))
    inputs = make_inputs(case)
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        selective_scan(**inputs, backend=backend)
    full_state_bytes = case.batch * case.dim * case.length * case.state * 4
    input_bytes = case.batch * case.dim * case.length * 4  # one [batch, dim, length] tensor
    assert max(saved.values()) <= input_bytes
    assert sum(saved.values()) < full_state_bytes / 2


CPU_ISAS: list[str] = []
if "cpu" in FAST_BACKENDS:
    from tsssm.kernels.selective_scan import cpu as _cpu

    CPU_ISAS = _cpu.supported_isas()


@pytest.mark.skipif(not CPU_ISAS, reason="the fused CPU kernel is not built")
@pytest.mark.parametrize("isa", CPU_ISAS)
@pytest.mark.parametrize(
    "case",
    [
        # dims that are not a multiple of any vector width (4, 8, 16 channels), odd lengths,
        # groups whose channels end inside a vector, state sizes with and without a fixed
        # register layout
        Case(batch=2, dim=21, length=37, state=16),
        Case(batch=1, dim=9, length=18, state=8, groups=3, reverse=True),
        Case(batch=2, dim=34, length=5, state=3, optional=("z", "initial_state")),
        Case(batch=1, dim=6, length=70, state=33, groups=2, softplus=False),
    ],
    ids=str,
)
def test_cpu_every_instruction_set_matches_reference(monkeypatch, isa: str, case: Case) -> None:
    from tsssm.kernels.selective_scan import cpu

    monkeypatch.setattr(cpu, "ISA", isa)
    assert cpu.isa() == isa
    assert_matches_reference("cpu", case)


@pytest.mark.skipif(not CPU_ISAS, reason="the fused CPU kernel is not built")
@pytest.mark.parametrize("isa", CPU_ISAS)
@pytest.mark.parametrize(
    "case",
    [
        # the state sizes a small model uses (1, 2, 4) and others, grouped and ungrouped,
        # a single step, odd channel counts, both directions
        Case(batch=2, dim=14, length=70, state=2, groups=2),
        Case(batch=3, dim=21, length=37, state=16),
        Case(batch=1, dim=9, length=1, state=4, groups=3, reverse=True),
        Case(batch=2, dim=5, length=19, state=1, optional=("z", "initial_state")),
        Case(batch=2, dim=34, length=7, state=5, groups=2, softplus=False, reverse=True),
    ],
    ids=str,
)
def test_cpu_reads_channel_last_inputs_in_place(monkeypatch, isa: str, case: Case) -> None:
    # A mixer's projections are [batch, length, channels]: the kernel reads them as they are
    # stored and writes its output (and the input gradients) in the same layout.
    from tsssm.kernels.selective_scan import cpu

    monkeypatch.setattr(cpu, "ISA", isa)
    inputs = channel_last(make_inputs(case))
    assert cpu.is_channel_last(inputs["u"]) == (case.length > 1)  # one step: both layouts
    out, last, grads = run_with_grads(scan_with("cpu"), inputs)
    ref_out, ref_last, ref_grads = run_with_grads(scan_with("ref"), make_inputs(case))
    assert out.transpose(1, 2).is_contiguous()
    torch.testing.assert_close(out, ref_out, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(last, ref_last, rtol=RTOL, atol=ATOL)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=RTOL, atol=ATOL,
                                   msg=lambda m, n=name: f"d{n}: {m}")


@pytest.mark.skipif(not CPU_ISAS, reason="the fused CPU kernel is not built")
@pytest.mark.parametrize("isa", CPU_ISAS)
def test_cpu_forward_bits_do_not_depend_on_thread_count(monkeypatch, isa: str) -> None:
    # Each channel is computed by one vector lane whatever the tiling, so the outputs and the
    # per-channel gradients are the same bits with 1 and 2 threads (sums over channels, dB
    # and dC, are added up per thread and may differ in the last bit).
    from tsssm.kernels.selective_scan import cpu

    monkeypatch.setattr(cpu, "ISA", isa)
    case = Case(batch=4, dim=40, length=300, state=16, groups=2)
    threads = torch.get_num_threads()
    runs = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            runs.append(run_with_grads(scan_with("cpu"), make_inputs(case)))
    finally:
        torch.set_num_threads(threads)
    (out1, last1, grads1), (out2, last2, grads2) = runs
    assert torch.equal(out1, out2) and torch.equal(last1, last2)
    for name in ("u", "delta", "z", "initial_state"):
        assert torch.equal(grads1[name], grads2[name]), name


@pytest.mark.skipif(
    not {"avx2", "avx512"} <= set(CPU_ISAS), reason="needs a CPU with AVX2 and AVX-512"
)
def test_cpu_avx2_and_avx512_give_the_same_forward_bits(monkeypatch) -> None:
    # Both round dt * A * log2(e) to the same integer and evaluate the same polynomial with
    # FMAs; only how 2^k is applied differs, and that is exact for normal floats.
    from tsssm.kernels.selective_scan import cpu

    inputs = make_inputs(Case(batch=2, dim=40, length=130, state=16), requires_grad=False)
    outs = []
    for isa in ("avx2", "avx512"):
        monkeypatch.setattr(cpu, "ISA", isa)
        outs.append(selective_scan(**inputs, return_last_state=True, backend="cpu"))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
