"""tsssm's CPU dropout (``tsssm.kernels.dropout``): torch's dropout in distribution (keep rate,
scale, independence of elements and of calls), the backward drops the same elements, the
mask does not depend on the thread count or the instruction set, seeding repeats it, and
whatever the fast path does not take goes to torch's dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from tsssm.kernels import dropout as dropout_module
from tsssm.kernels.dropout import dropout, dropout_mask_op, fast_path_available
from tsssm.layers import Dropout

pytestmark = pytest.mark.skipif(not fast_path_available(),
                                reason="the compiled CPU dropout is not built")


def test_keep_rate_and_scale_match_the_probability() -> None:
    torch.manual_seed(0)
    for p in (0.1, 0.5, 0.9):
        x = torch.ones(200_003)  # odd: the scalar tail runs too
        out = dropout(x, p)
        kept = out != 0
        n = x.numel()
        # A binomial test at the 1e-6 level: a wrong threshold (p or 1 - p) fails it.
        assert stats.binomtest(int(kept.sum()), n, 1 - p).pvalue > 1e-6
        assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))


def test_neighbouring_elements_and_successive_calls_are_independent() -> None:
    torch.manual_seed(1)
    x = torch.ones(4, 50_000)
    first = (dropout(x, 0.5) != 0).numpy().astype(np.int64)
    second = (dropout(x, 0.5) != 0).numpy().astype(np.int64)
    flat = first.ravel()
    for a, b in ((flat[:-1], flat[1:]),          # neighbours
                 (flat[:-16], flat[16:]),         # one AVX-512 vector apart
                 (first.ravel(), second.ravel())):  # two calls (two seeds)
        table = np.histogram2d(a, b, bins=2)[0]
        assert stats.chi2_contingency(table).pvalue > 1e-6
    # Every row of a batch gets its own mask.
    assert not np.array_equal(first[0], first[1])


def test_backward_drops_the_same_elements_with_the_same_scale() -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 7, 33, requires_grad=True)
    grad_out = torch.randn(3, 7, 33)
    out = dropout(x, 0.3)
    out.backward(grad_out)
    expected = torch.where(out != 0, grad_out / 0.7, torch.zeros(()))
    torch.testing.assert_close(x.grad, expected)


def test_operator_passes_opcheck() -> None:
    torch.library.opcheck(dropout_mask_op, (torch.randn(4, 9, requires_grad=True), 0.25, 7))


def test_mask_is_the_same_for_any_thread_count_and_instruction_set(monkeypatch) -> None:
    x = torch.randn(300_017)  # several threads' ranges and a tail
    threads = torch.get_num_threads()
    results = []
    for isa in dropout_module.supported_isas():
        monkeypatch.setattr(dropout_module, "ISA", isa)
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(dropout_mask_op(x, 0.4, 99))
    torch.set_num_threads(threads)
    assert len(results) >= 3
    for other in results[1:]:
        assert torch.equal(other, results[0])


def test_seeding_repeats_the_mask_and_a_new_seed_changes_it() -> None:
    x = torch.randn(64, 64)
    torch.manual_seed(5)
    first = dropout(x, 0.5)
    torch.manual_seed(5)
    assert torch.equal(dropout(x, 0.5), first)
    assert not torch.equal(dropout(x, 0.5), first)


def test_non_contiguous_input_masks_its_logical_elements() -> None:
    x = torch.randn(8, 16).t()  # a transposed view
    out = dropout_mask_op(x, 0.5, 3)
    assert torch.equal(out, dropout_mask_op(x.contiguous(), 0.5, 3))


def test_identity_outside_training_and_torch_elsewhere(monkeypatch) -> None:
    x = torch.randn(10, 10)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    x64 = torch.ones(10_000, dtype=torch.float64)
    out64 = dropout(x64, 0.5)  # torch's dropout
    assert out64.dtype == torch.float64 and 0.4 < (out64 != 0).double().mean() < 0.6
    monkeypatch.setattr(dropout_module, "FAST_PATH", False)
    torch.manual_seed(0)
    by_torch = dropout(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(by_torch, torch.nn.functional.dropout(x, 0.5))
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(x, 1.5)


def test_layer_is_a_drop_in_for_nn_dropout() -> None:
    layer = Dropout(0.2)
    assert isinstance(layer, torch.nn.Dropout) and layer.p == 0.2
    x = torch.randn(100, 100)
    assert (layer(x) == 0).any()
    assert layer.eval()(x) is x
