"""FEMBA: patch tokens, masked-patch pre-training, fine-tuning from a checkpoint, streaming."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from tsssm.layers import MambaMixer, PatchEmbed2d
from tsssm.models import (
    FEMBAEncoder,
    FEMBAEncoderConfig,
    create_model,
    femba_preset,
    list_models,
    load_pretrained_encoder,
    masked_reconstruction_loss,
)

# 5 channels in groups of 2 and 40 samples in patches of 8: a 3 × 5 grid whose last channel
# group is half padding.
SHAPE = {"n_chans": 5, "n_times": 40}
TINY = {"embed_dim": 4, "n_blocks": 2, "patch_chans": 2, "patch_times": 8, "d_state": 4,
        "expand": 2}
# The released FEMBA's architecture (BioFoundation), tsssm's other choice of each option.
RELEASED = {"block_norm": "post", "token_layout": "embedding"}
RELEASED_PRETRAIN = {**RELEASED, "masking": "zero", "decoder": "conv", "decoder_kernel": (3, 5)}


def pretrain_model(**options):
    torch.manual_seed(0)
    return create_model("femba_pretrain", **{**SHAPE, **TINY, **options})


def classifier(name: str = "femba", **options):
    torch.manual_seed(1)
    extra = {"head_dim": 8} if name == "femba_mamba_head" else {}
    return create_model(name, **{**SHAPE, "n_outputs": 3, **TINY, **extra, **options})


def test_registered_under_their_tasks() -> None:
    assert {"femba", "femba_mamba_head"} <= set(list_models("classification"))
    assert "femba_pretrain" in list_models("pretraining")


def test_patch_embedding_is_a_strided_convolution_and_patchify_round_trips() -> None:
    torch.manual_seed(2)
    layer = PatchEmbed2d(2, 8, 6)
    x = torch.randn(3, 5, 37)
    # The reference: zero-pad to whole patches, then a 2-D convolution with stride = kernel.
    padded = F.pad(x, (0, 3, 0, 1))[:, None]  # [3, 1, 6, 40]
    weight = layer.proj.weight.reshape(6, 1, 2, 8)
    expected = F.conv2d(padded, weight, layer.proj.bias, stride=(2, 8)).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), expected)
    assert layer.grid(5, 37) == (3, 5)
    torch.testing.assert_close(layer.unpatchify(layer.patchify(x), 5, 37), x)
    with pytest.raises(ValueError, match="do not tile"):
        layer.unpatchify(layer.patchify(x), 7, 37)


@pytest.mark.parametrize("name", ["femba", "femba_mamba_head"])
def test_classifier_shapes(name: str) -> None:
    model = classifier(name)
    x = torch.randn(4, 5, 40)
    assert model.encoder(x).shape == (4, 5, 3 * 4)  # N = 5 tokens of D = 3 groups × 4
    assert model(x).shape == (4, 3)


def test_pretraining_outputs_and_masking_ratio() -> None:
    model = pretrain_model(mask_ratio=0.6)
    x = torch.randn(4, 5, 40)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out["reconstruction"].shape == x.shape and out["mask"].shape == x.shape
    patch_mask = out["patch_mask"]
    assert patch_mask.shape == (4, 3, 5)
    # Exactly round(0.6 × 15) = 9 hidden patches in every window, not the same ones.
    assert patch_mask.reshape(4, -1).sum(1).tolist() == [9] * 4
    assert len({tuple(row.flatten().tolist()) for row in patch_mask}) > 1
    # The sample mask is the patch mask spread over each patch's 2 × 8 samples.
    assert bool(out["mask"][:, 0:2, 0:8].eq(patch_mask[:, 0, 0, None, None]).all())
    assert bool(out["mask"][:, 4:5, 32:40].eq(patch_mask[:, 2, 4, None, None]).all())
    again = model.random_patch_mask(4, torch.Generator().manual_seed(0))
    assert torch.equal(again, patch_mask)


def test_loss_scores_only_the_masked_samples() -> None:
    torch.manual_seed(3)
    target = torch.randn(2, 5, 40)
    reconstruction = torch.randn(2, 5, 40)
    mask = torch.rand(2, 5, 40) < 0.5
    loss = masked_reconstruction_loss(reconstruction, target, mask)
    expected = F.smooth_l1_loss(reconstruction, target, reduction="none")[mask].mean()
    torch.testing.assert_close(loss, expected)
    hidden, shown = mask.nonzero()[0].tolist(), (~mask).nonzero()[0].tolist()
    changed = target.clone()
    changed[tuple(shown)] += 100.0
    torch.testing.assert_close(masked_reconstruction_loss(reconstruction, changed, mask), loss)
    changed = target.clone()
    changed[tuple(hidden)] += 100.0
    assert masked_reconstruction_loss(reconstruction, changed, mask) > loss + 0.1


@pytest.mark.parametrize("options", [{}, RELEASED_PRETRAIN])
def test_hidden_patches_do_not_reach_the_encoder(options: dict) -> None:
    model = pretrain_model(**options).eval()
    x = torch.randn(2, 5, 40)
    patch_mask = model.random_patch_mask(2, torch.Generator().manual_seed(1))
    out = model(x, patch_mask)
    changed = torch.where(out["mask"], x + 10.0, x)  # every hidden sample changes
    torch.testing.assert_close(model(changed, patch_mask)["reconstruction"],
                               out["reconstruction"])
    shown = (~out["mask"]).nonzero()[0].tolist()
    changed = x.clone()
    changed[tuple(shown)] += 10.0
    assert not torch.allclose(model(changed, patch_mask)["reconstruction"],
                              out["reconstruction"])


def test_pretraining_learns_to_fill_in() -> None:
    model = pretrain_model()
    x = torch.sin(torch.linspace(0, 12, 40)).repeat(8, 5, 1) + 0.1 * torch.randn(8, 5, 40)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(4)
    losses = []
    for _ in range(30):
        out = model(x, generator=generator)
        loss = masked_reconstruction_loss(out["reconstruction"], x, out["mask"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])


@pytest.mark.parametrize("name", ["femba_pretrain", "femba", "femba_mamba_head"])
@pytest.mark.parametrize("released", [False, True])
def test_gradients_reach_every_parameter(name: str, released: bool) -> None:
    if name == "femba_pretrain":
        model = pretrain_model(**(RELEASED_PRETRAIN if released else {}))
    else:
        model = classifier(name, **(RELEASED if released else {}))
    x = torch.randn(3, 5, 40)
    if name == "femba_pretrain":
        out = model(x)
        loss = masked_reconstruction_loss(out["reconstruction"], x, out["mask"])
    else:
        loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2]))
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


def test_loading_copies_the_encoder_and_freezing_stops_its_gradients(tmp_path) -> None:
    pretrained = pretrain_model()
    path = tmp_path / "pretrain.pt"
    torch.save(pretrained.state_dict(), path)
    model = classifier().load_pretrained_encoder(path, freeze_encoder=True)
    for key, value in pretrained.encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[key], value)
    F.cross_entropy(model(torch.randn(3, 5, 40)), torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.head.parameters())


def test_loading_finds_the_encoder_under_a_prefix() -> None:
    pretrained = pretrain_model()
    lightning_style = {"state_dict": {f"model.{k}": v for k, v in
                                      pretrained.state_dict().items()}, "epoch": 3}
    model = classifier()
    load_pretrained_encoder(model.encoder, lightning_style)
    torch.testing.assert_close(model.encoder.pos_embed, pretrained.encoder.pos_embed)
    assert all(p.requires_grad for p in model.parameters())


def test_loading_a_mismatched_checkpoint_names_the_tensor(tmp_path) -> None:
    model = classifier()
    other_length = pretrain_model(n_times=48)  # one more token: pos_embed differs
    with pytest.raises(ValueError, match=r"`pos_embed` has shape \(1, 6, 12\)"):
        model.load_pretrained_encoder(other_length.state_dict())
    deeper = pretrain_model(n_blocks=3)
    with pytest.raises(ValueError, match=r"unexpected `blocks\.2\.norm\.weight`"):
        model.load_pretrained_encoder(deeper.state_dict())
    with pytest.raises(ValueError, match="exactly one set of encoder weights"):
        model.load_pretrained_encoder({"head.linear.weight": torch.zeros(3, 12)})
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        model.load_pretrained_encoder(tmp_path / "missing.pt")


class _Payload:
    """An arbitrary object: a pickled checkpoint holding one must not be unpickled."""

    def __reduce__(self):
        return (print, ("this should never run",))


def test_checkpoint_files_are_read_as_weights_only(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"encoder.pos_embed": _Payload()}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        classifier().load_pretrained_encoder(path)


def test_mixer_step_chunk_equals_stepping() -> None:
    torch.manual_seed(5)
    mixer = MambaMixer(6, d_state=3, d_conv=3)
    x = torch.randn(2, 11, 6)
    chunked_state, stepped_state = mixer.initial_stream_state(2), mixer.initial_stream_state(2)
    chunked = torch.cat([mixer.step_chunk(x[:, a:b], chunked_state)
                         for a, b in ((0, 1), (1, 7), (7, 11))], dim=1)
    stepped = torch.stack([mixer.step(x[:, t], stepped_state) for t in range(11)], dim=1)
    torch.testing.assert_close(chunked, stepped)
    torch.testing.assert_close(chunked, mixer(x))
    torch.testing.assert_close(chunked_state.ssm, stepped_state.ssm)
    torch.testing.assert_close(chunked_state.conv, stepped_state.conv)


@pytest.mark.parametrize("name", ["femba", "femba_mamba_head"])
@pytest.mark.parametrize("options", [{}, RELEASED])
def test_streaming_equals_the_offline_recording(name: str, options: dict) -> None:
    model = classifier(name, **options).eval()
    recording = torch.randn(2, 5, 4 * 40)
    windows = recording.split(40, dim=-1)
    with torch.no_grad():
        offline = model.encoder.forward_recording(recording)  # [2, 4 × 5, 12]
        streamed = torch.cat(list(model.encoder.stream(windows)), dim=1)
        torch.testing.assert_close(streamed, offline, rtol=1e-5, atol=1e-5)
        # The first window has no past: the stream agrees with reading it alone ...
        torch.testing.assert_close(offline[:, :5], model.encoder(windows[0]))
        # ... later windows carry the forward scan of the windows before them.
        assert not torch.allclose(offline[:, 5:10], model.encoder(windows[1]), atol=1e-3)
        logits = torch.stack(list(model.stream(windows)), dim=1)  # [2, 4, 3]
        expected = torch.stack([model.head(t) for t in offline.split(5, dim=1)], dim=1)
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_stream_state_is_per_recording() -> None:
    encoder = classifier().encoder.eval()
    state = encoder.init_stream(batch=2)
    encoder.step(torch.randn(2, 5, 40), state)
    assert state.windows == 1
    with pytest.raises(ValueError, match="holds 2 recordings, the chunk 3"):
        encoder.step(torch.randn(3, 5, 40), state)


@pytest.mark.parametrize(("preset", "millions"), [("femba_tiny", 7.8), ("femba_base", 47.7)])
def test_preset_sizes_match_the_paper(preset: str, millions: float) -> None:
    with torch.device("meta"):
        model = create_model("femba", n_chans=22, n_times=1280, n_outputs=2,
                             **femba_preset(preset))
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert 0.75 * millions <= count <= 1.25 * millions
    assert model.encoder.d_model == 385 and model.encoder.n_tokens == 80


def test_bad_inputs_are_named() -> None:
    model = classifier()
    with pytest.raises(ValueError, match=r"`x` has shape \(5, 40\)"):
        model(torch.randn(5, 40))
    with pytest.raises(ValueError, match="n_chans=5"):
        model(torch.randn(2, 4, 40))
    with pytest.raises(ValueError, match="n_times=40"):
        model(torch.randn(2, 5, 41))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.ones(2, 5, 40, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`recording`.*a multiple of 40"):
        model.encoder.forward_recording(torch.randn(1, 5, 100))
    with pytest.raises(ValueError, match="`chunk`"):
        list(model.stream([torch.randn(1, 5, 30)]))
    pretrained = pretrain_model()
    with pytest.raises(ValueError, match="`patch_mask` must be bool of shape"):
        pretrained(torch.randn(2, 5, 40), torch.ones(2, 3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="one shape"):
        masked_reconstruction_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4),
                                   torch.ones(1, 2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="hides nothing"):
        masked_reconstruction_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3),
                                   torch.zeros(1, 2, 3, dtype=torch.bool))


def test_token_layouts_hold_the_same_patch_embeddings() -> None:
    encoder = classifier().encoder
    patches = torch.randn(2, 3, 5, 4)  # [B, G, N, E]
    group = encoder.join_patches(patches)
    torch.testing.assert_close(group[:, 1, 2 * 4 + 3], patches[:, 2, 1, 3])  # g * E + e
    torch.testing.assert_close(encoder.split_tokens(group), patches)
    released = classifier(**RELEASED).encoder
    embedding = released.join_patches(patches)
    torch.testing.assert_close(embedding[:, 1, 3 * 3 + 2], patches[:, 2, 1, 3])  # e * G + g
    torch.testing.assert_close(released.split_tokens(embedding), patches)
    assert isinstance(released.norm, torch.nn.Identity)  # post-norm: no final norm


@pytest.mark.parametrize(("classification_type", "shape"), [
    ("bc", (2, 2)), ("ml", (2, 2)), ("mcc", (2, 2)), ("mc", (2, 5)), ("mmc", (2, 5, 2))])
@pytest.mark.parametrize("name", ["femba", "femba_mamba_head"])
def test_output_types(name: str, classification_type: str, shape: tuple) -> None:
    model = classifier(name, n_outputs=2, classification_type=classification_type).eval()
    x = torch.randn(2, 5, 40)
    assert model(x).shape == shape
    assert next(iter(model.stream([x]))).shape == shape


@pytest.mark.parametrize(("name", "options", "message"), [
    ("femba", {"block_norm": "sandwich"}, "block_norm"),
    ("femba", {"token_layout": "time"}, "token_layout"),
    ("femba", {"classification_type": "multi"}, "classification_type"),
    ("femba", {"classification_type": "mc", "n_outputs": 3}, "must be 2"),
    ("femba_pretrain", {"masking": "noise"}, "masking"),
    ("femba_pretrain", {"decoder": "mlp"}, "decoder"),
    ("femba_pretrain", {"decoder_kernel": (30, 31)}, "two odd positive integers"),
    ("femba_pretrain", {"mask_ratio": 0.0}, "mask_ratio"),
    ("femba_pretrain", {"mask_ratio": 1.0}, "mask_ratio"),
    ("femba", {"embed_dim": 0}, "embed_dim"),
    ("femba", {"dropout": 1.0}, "dropout"),
    ("femba", {"n_outputs": 0}, "n_outputs"),
    ("femba_mamba_head", {"head_dim": 0}, "head_dim"),
])
def test_bad_configs_are_named(name: str, options: dict, message: str) -> None:
    base = {**SHAPE, **TINY} if name == "femba_pretrain" else {**SHAPE, "n_outputs": 2, **TINY}
    with pytest.raises(ValueError, match=message):
        create_model(name, **{**base, **options})
    with pytest.raises(ValueError, match="n_times"):
        FEMBAEncoder(FEMBAEncoderConfig(n_chans=3, n_times=0))
    with pytest.raises(ValueError, match="unknown size"):
        femba_preset("femba_giant")
