"""The shared output layer: point outputs pass through, quantiles are the median plus
cumulative positive gaps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tsssm.layers import QuantileOutput, RevIN


def test_point_outputs_pass_through() -> None:
    raw = torch.randn(2, 3, 5)
    output = QuantileOutput(None)
    assert output.n_outputs == 1 and torch.equal(output(raw), raw)
    assert torch.equal(output.point(raw), raw)


def test_quantiles_are_the_median_plus_softplus_gaps() -> None:
    output = QuantileOutput((0.1, 0.25, 0.5, 0.9))
    raw = torch.tensor([[0.3, -1.0, 2.0, 0.5], [1.0, 1.0, -4.0, -9.0]]).reshape(1, 8)
    q = output(raw)  # two horizon steps of four levels
    assert q.shape == (1, 2, 4)
    step = raw.reshape(2, 4)
    median = step[:, 2]
    torch.testing.assert_close(q[0, :, 2], median)
    torch.testing.assert_close(q[0, :, 3], median + F.softplus(step[:, 3]))
    torch.testing.assert_close(q[0, :, 1], median - F.softplus(step[:, 1]))
    torch.testing.assert_close(q[0, :, 0], median - F.softplus(step[:, 1])
                               - F.softplus(step[:, 0]))
    torch.testing.assert_close(output.point(q), median[None])
    assert raw[0, output.point_outputs()].tolist() == median.tolist()


def test_revin_denormalises_every_quantile_like_a_point() -> None:
    revin = RevIN(3)
    x = torch.randn(2, 10, 3) * 4 + 7
    _, stats = revin.normalize(x)
    y = torch.randn(2, 5, 3, 4).sort(dim=-1).values
    out = revin.denormalize(y, stats)
    for k in range(4):
        torch.testing.assert_close(out[..., k], revin.denormalize(y[..., k], stats))
    assert (out.diff(dim=-1) >= 0).all()
