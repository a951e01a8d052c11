"""The Mamba mixer and its wrappers: shapes, initialisation, streaming == whole sequence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tsssm.layers import BiMamba, MambaMixer, RevIN
from tsssm.layers.mamba import causal_depthwise_conv


def test_mixer_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    mixer = MambaMixer(d_model=12, d_state=4)
    x = torch.randn(3, 17, 12, requires_grad=True)
    y = mixer(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in mixer.parameters())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel", [1, 4])
def test_channel_last_convolution_equals_the_conv1d_module(kernel: int, bias: bool) -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, kernel, groups=6, padding=kernel - 1, bias=bias)
    x = torch.randn(2, 11, 6, requires_grad=True)  # [batch, length, channels]
    ours = causal_depthwise_conv(x, conv.weight, conv.bias)
    theirs = conv(x.transpose(1, 2))[..., :11].transpose(1, 2)
    torch.testing.assert_close(ours, theirs)
    weights = torch.randn_like(ours)
    grads = torch.autograd.grad((ours * weights).sum(), [x, *conv.parameters()])
    expected = torch.autograd.grad((theirs * weights).sum(), [x, *conv.parameters()])
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


def test_initial_step_sizes_lie_in_the_configured_range() -> None:
    mixer = MambaMixer(d_model=32, dt_min=0.002, dt_max=0.05)
    dt = F.softplus(mixer.dt_proj.bias)
    assert dt.min() >= 0.002 * 0.999 and dt.max() <= 0.05 * 1.001
    torch.testing.assert_close(-torch.exp(mixer.A_log[0]), -torch.arange(1.0, 17.0))


def test_mixer_is_causal() -> None:
    torch.manual_seed(1)
    mixer = MambaMixer(d_model=8, d_state=4)
    x = torch.randn(1, 20, 8)
    changed = x.clone()
    changed[:, 12:] += 1.0
    torch.testing.assert_close(mixer(x)[:, :12], mixer(changed)[:, :12])
    assert not torch.allclose(mixer(x)[:, 12:], mixer(changed)[:, 12:])


def test_reverse_reads_from_the_end() -> None:
    torch.manual_seed(2)
    mixer = MambaMixer(d_model=8, d_state=4)
    x = torch.randn(2, 15, 8)
    changed = x.clone()
    changed[:, :5] += 1.0
    torch.testing.assert_close(mixer(x, reverse=True)[:, 5:], mixer(changed, reverse=True)[:, 5:])


@pytest.mark.parametrize("d_conv", [2, 4])
def test_stepping_equals_the_whole_sequence(d_conv: int) -> None:
    torch.manual_seed(3)
    mixer = MambaMixer(d_model=10, d_state=8, d_conv=d_conv).eval()
    x = torch.randn(2, 25, 10)
    whole = mixer(x)
    state = mixer.initial_stream_state(batch=2)
    steps = torch.stack([mixer.step(x[:, t], state) for t in range(25)], dim=1)
    torch.testing.assert_close(steps, whole, rtol=1e-4, atol=1e-5)


def test_bimamba_sees_both_directions_and_can_share_weights() -> None:
    torch.manual_seed(4)
    block = BiMamba(d_model=8, d_state=4)
    x = torch.randn(1, 12, 8)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(block(x)[:, 0], block(changed)[:, 0])  # the end reaches the start
    shared = BiMamba(d_model=8, d_state=4, shared=True)
    assert sum(p.numel() for p in shared.parameters()) * 2 == sum(
        p.numel() for p in block.parameters()
    )
    with pytest.raises(ValueError, match="combine must be"):
        BiMamba(d_model=8, combine="max")


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_bimamba_in_one_pass_equals_its_two_mixers(shared: bool, bias: bool) -> None:
    # BiMamba runs both directions as one projection, convolution and scan: the outputs and
    # every gradient equal the two mixers run one after the other.
    torch.manual_seed(5)
    block = BiMamba(d_model=12, d_state=4, d_conv=3, expand=2, shared=shared)
    if bias:
        for mixer in (block.forward_mixer, block.backward_mixer):
            mixer.in_proj.bias = torch.nn.Parameter(torch.randn(mixer.in_proj.out_features))
            mixer.out_proj.bias = torch.nn.Parameter(torch.randn(12))
    x = torch.randn(3, 9, 12, requires_grad=True)
    expected = block.forward_mixer(x) + block.backward_mixer(x, reverse=True)
    actual = block(x)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(expected)
    wrt = [x, *block.parameters()]
    for got, want in zip(torch.autograd.grad((actual * weights).sum(), wrt),
                         torch.autograd.grad((expected * weights).sum(), wrt), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_revin_round_trip(affine: bool) -> None:
    revin = RevIN(3, affine=affine)
    x = torch.randn(4, 50, 3) * 5 + 2
    normed, stats = revin.normalize(x)
    torch.testing.assert_close(normed.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(revin.denormalize(normed, stats), x, rtol=1e-4, atol=1e-4)
