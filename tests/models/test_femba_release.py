"""BioFoundation's released FEMBA checkpoints load into tsssm and compute the same numbers.

The released weights cannot be downloaded here, so the tests write checkpoints in the released
layout from ``Released*``: an implementation of the released architecture written for these
tests in plain PyTorch (Mamba with a sequential scan), whose module and parameter names are
those of BioFoundation's ``models/FEMBA.py`` and of mamba-ssm's ``Mamba``, under the
``model.`` prefix of its Lightning tasks.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from tsssm.models import create_model
from tsssm.models.femba import (
    FEMBAMambaHead,
    FEMBAPretrain,
    FEMBAReconstructor,
    biofoundation_config,
    biofoundation_input_scaling,
    biofoundation_options,
    is_biofoundation,
    load_biofoundation,
)

# (embed_dim, num_blocks) of the released sizes, for 22 channels × 1280 samples (5 s, 256 Hz)
RELEASED_SIZES = {"tiny": (35, 2), "base": (35, 12), "large": (79, 4), "huge": (79, 20)}
CHANNELS, SAMPLES, PATCH = 22, 1280, (2, 16)


class ReleasedMamba(nn.Module):
    """Mamba (Gu & Dao, 2023) with mamba-ssm's parameter names and a plain sequential scan:
    [B, L, d_model] -> [B, L, d_model]."""

    def __init__(self, d_model: int, expand: int = 2, d_state: int = 16, d_conv: int = 4):
        super().__init__()
        d_inner, self.dt_rank, self.d_state = expand * d_model, math.ceil(d_model / 16), d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1.0, d_state + 1)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        length = hidden.shape[1]
        x, gate = self.in_proj(hidden).chunk(2, dim=-1)  # [B, L, d_inner] each
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length]).transpose(1, 2)
        dt, b, c = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # [B, L, d_inner]
        a = -torch.exp(self.A_log)  # [d_inner, d_state]
        state = x.new_zeros(x.shape[0], x.shape[2], self.d_state)
        outputs = []
        for t in range(length):
            step = dt[:, t, :, None]
            state = torch.exp(step * a) * state + step * b[:, t, None, :] * x[:, t, :, None]
            outputs.append((state * c[:, t, None, :]).sum(-1) + self.D * x[:, t])
        return self.out_proj(torch.stack(outputs, dim=1) * F.silu(gate))


class ReleasedBiMamba(nn.Module):
    def __init__(self, d_model: int, expand: int):
        super().__init__()
        self.mamba_fwd = ReleasedMamba(d_model, expand)
        self.mamba_rev = ReleasedMamba(d_model, expand)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mamba_fwd(hidden) + self.mamba_rev(hidden.flip(1)).flip(1)


class ReleasedPatchEmbed(nn.Module):
    """Conv2d patches; token features embedding-major (feature e * G + g)."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, embed_dim, PATCH, stride=PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x[:, None]).flatten(1, 2).transpose(1, 2)  # [B, N, E * G]


class ReleasedClassifier(nn.Module):
    def __init__(self, d_model: int, n_logits: int, per_channel_classes: int | None):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 256)
        self.mamba_1 = ReleasedMamba(256, expand=2)
        self.fc3 = nn.Linear(256, n_logits)
        self.per_channel_classes = per_channel_classes

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.fc3(self.mamba_1(F.gelu(self.fc1(hidden))).mean(dim=1))
        if self.per_channel_classes is None:
            return logits
        return logits.reshape(-1, CHANNELS, self.per_channel_classes)


class ReleasedDecoder(nn.Module):
    def __init__(self, embed_dim: int, groups: int, kernel: tuple[int, int] = (31, 31)):
        super().__init__()
        self.embed_dim, self.groups = embed_dim, groups
        self.dec_conv = nn.Conv2d(1, 1, kernel, padding=(kernel[0] // 2, kernel[1] // 2),
                                  bias=False)
        self.conv_transpose = nn.ConvTranspose2d(embed_dim, 1, PATCH, stride=PATCH)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.dec_conv(hidden[:, None])[:, 0].transpose(1, 2)  # [B, E * G, N]
        grid = hidden.reshape(hidden.shape[0], self.embed_dim, self.groups, -1)
        return self.conv_transpose(grid)[:, 0]


class ReleasedFEMBA(nn.Module):
    """Post-norm bidirectional Mamba blocks, no final norm; samples zeroed where masked."""

    def __init__(self, embed_dim: int, num_blocks: int, classification_type: str | None,
                 num_classes: int = 2, exp: int = 4):
        super().__init__()
        groups, tokens = CHANNELS // PATCH[0], SAMPLES // PATCH[1]
        d_model = embed_dim * groups
        self.patch_embed = ReleasedPatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, d_model))
        self.mamba_blocks = nn.ModuleList(ReleasedBiMamba(d_model, exp)
                                          for _ in range(num_blocks))
        self.norm_layers = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(num_blocks))
        if classification_type is None:
            self.decoder = ReleasedDecoder(embed_dim, groups)
        else:
            n_logits = {"mc": CHANNELS, "mmc": CHANNELS * num_classes}.get(
                classification_type, num_classes)
            per_channel = num_classes if classification_type == "mmc" else None
            self.classifier = ReleasedClassifier(d_model, n_logits, per_channel)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.patch_embed(x.masked_fill(mask, 0.0)) + self.pos_embed
        for block, norm in zip(self.mamba_blocks, self.norm_layers, strict=True):
            hidden = norm(hidden + block(hidden))
        head = getattr(self, "classifier", None) or self.decoder
        return head(hidden)


class ReleasedTask(nn.Module):
    """The Lightning task's ``model`` attribute gives the checkpoint keys their prefix."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.model = ReleasedFEMBA(*args, **kwargs)


def released(size: str = "tiny", classification_type: str | None = "bc", num_classes: int = 2,
             seed: int = 0) -> ReleasedTask:
    """A released-layout model whose every parameter is perturbed away from its initial
    value (so that unit norms, zero positions or a wrong order of features would show).
    Weight matrices move by half their own spread only: larger steps make the 20 blocks of
    the huge size chaotic, float32 rounding then growing from block to block."""
    torch.manual_seed(seed)
    task = ReleasedTask(*RELEASED_SIZES[size], classification_type, num_classes)
    with torch.no_grad():
        for name, param in task.named_parameters():
            if param.dim() >= 2 and not name.endswith(("A_log", "pos_embed")):
                scale = 0.5 * param.std()
            else:
                scale = 0.3 if name.endswith(("A_log", "D")) or "norm_layers" in name else 0.05
            param.add_(scale * torch.randn_like(param))
    return task.eval()


def windows(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, CHANNELS, SAMPLES, generator=torch.Generator().manual_seed(seed))


def nothing_hidden(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x, dtype=torch.bool)


def save_safetensors(task: nn.Module, path) -> None:
    save_file({k: v.contiguous() for k, v in task.state_dict().items()}, str(path))


class LightningHyperParameters:
    """Stands for the OmegaConf config a Lightning ``.ckpt`` keeps: unpickling it would run
    :func:`record_unpickling`."""

    def __reduce__(self):
        return (record_unpickling, ("hyper-parameters",))


UNPICKLED: list[str] = []


def record_unpickling(what: str) -> str:
    UNPICKLED.append(what)
    return what


def test_the_reference_is_in_the_released_layout() -> None:
    keys = set(released().state_dict())
    assert {"model.patch_embed.proj.weight", "model.pos_embed",
            "model.mamba_blocks.1.mamba_rev.A_log", "model.norm_layers.0.bias",
            "model.classifier.mamba_1.dt_proj.bias", "model.classifier.fc3.weight"} <= keys
    assert is_biofoundation(released().state_dict())
    assert not is_biofoundation(create_model("femba", n_chans=4, n_times=32, n_outputs=2,
                                             patch_times=16, embed_dim=4).state_dict())


@pytest.mark.parametrize("size", list(RELEASED_SIZES))
@pytest.mark.parametrize("task", ["fine-tuning", "pre-training"])
def test_sizes_are_inferred_for_every_released_config(size: str, task: str) -> None:
    with torch.device("meta"):  # shapes only: the huge size holds 386 M parameters
        state = ReleasedTask(*RELEASED_SIZES[size],
                             "bc" if task == "fine-tuning" else None).state_dict()
        config = biofoundation_config(state)
        model = FEMBAMambaHead(config) if task == "fine-tuning" else FEMBAPretrain(config)
    embed_dim, n_blocks = RELEASED_SIZES[size]
    assert (config.embed_dim, config.n_blocks, config.n_chans, config.n_times) == (
        embed_dim, n_blocks, CHANNELS, SAMPLES)
    assert (config.expand, config.d_state, config.d_conv) == (4, 16, 4)
    assert (config.block_norm, config.token_layout) == ("post", "embedding")
    if task == "fine-tuning":
        assert (config.head_dim, config.n_outputs) == (256, 2)
    else:
        assert (config.masking, config.decoder, config.decoder_kernel) == (
            "zero", "conv", (31, 31))
    assert sum(p.numel() for p in model.parameters()) == sum(v.numel() for v in state.values())


@pytest.mark.parametrize("size", [
    "tiny", "base", "large", pytest.param("huge", marks=pytest.mark.slow)])
def test_logits_equal_the_released_module(size: str, tmp_path) -> None:
    task = released(size)
    path = tmp_path / f"{size}.safetensors"
    save_safetensors(task, path)
    model = load_biofoundation(path)
    assert isinstance(model, FEMBAMambaHead) and not model.training
    x = windows()
    with torch.no_grad():
        expected = task.model(x, nothing_hidden(x))
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("classification_type", "num_classes", "shape"), [
    ("bc", 2, (2, 2)), ("ml", 4, (2, 4)), ("mcc", 5, (2, 5)), ("mc", 2, (2, CHANNELS)),
    ("mmc", 6, (2, CHANNELS, 6)),
])
def test_every_head_type(classification_type: str, num_classes: int, shape: tuple,
                         tmp_path) -> None:
    task = released("tiny", classification_type, num_classes, seed=2)
    path = tmp_path / "task.ckpt"  # a Lightning checkpoint, hyper-parameters and all
    torch.save({"state_dict": task.state_dict(), "epoch": 7,
                "hyper_parameters": LightningHyperParameters()}, path)
    model = load_biofoundation(path, classification_type=classification_type)
    assert model.config.classification_type == classification_type
    x = windows(seed=3)
    with torch.no_grad():
        logits = model(x)
        assert logits.shape == shape
        torch.testing.assert_close(logits, task.model(x, nothing_hidden(x)),
                                   rtol=1e-4, atol=1e-4)


def test_lightning_checkpoints_are_read_without_running_their_code(tmp_path) -> None:
    UNPICKLED.clear()
    path = tmp_path / "task.ckpt"
    torch.save({"state_dict": released().state_dict(),
                "hyper_parameters": LightningHyperParameters()}, path)
    load_biofoundation(path)
    assert UNPICKLED == []


@pytest.mark.parametrize("size", ["tiny", "large"])
def test_reconstruction_equals_the_released_decoder(size: str, tmp_path) -> None:
    task = released(size, classification_type=None, seed=4)
    path = tmp_path / "pretrain.safetensors"
    save_safetensors(task, path)
    model = load_biofoundation(path)
    assert isinstance(model, FEMBAReconstructor) and not model.training
    assert model.pretrain.config.decoder_kernel == (31, 31)
    x = windows(seed=5)
    patch_mask = torch.rand(2, 11, 80, generator=torch.Generator().manual_seed(6)) < 0.6
    sample_mask = patch_mask.repeat_interleave(2, dim=1).repeat_interleave(16, dim=2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), task.model(x, nothing_hidden(x)),
                                   rtol=1e-4, atol=1e-4)
        out = model.pretrain(x, patch_mask)
        assert torch.equal(out["mask"], sample_mask)
        torch.testing.assert_close(out["reconstruction"], task.model(x, sample_mask),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("source", "freeze"), [("bc", True), ("bc", False), (None, True)])
def test_fine_tuning_a_new_head_on_the_released_encoder(source: str | None, freeze: bool,
                                                         tmp_path) -> None:
    task = released("tiny", classification_type=source, seed=7)  # None: a pre-training
    path = tmp_path / "tuab.safetensors"
    save_safetensors(task, path)
    options = biofoundation_options(path)
    assert options["n_chans"] == CHANNELS and options["block_norm"] == "post"
    model = create_model("femba_mamba_head", n_outputs=3, head_dim=16, **options)
    model.load_pretrained_encoder(path, freeze_encoder=freeze)
    x = windows(batch=3, seed=8)
    released_model = task.model
    with torch.no_grad():
        hidden = released_model.patch_embed(x) + released_model.pos_embed
        for block, norm in zip(released_model.mamba_blocks, released_model.norm_layers,
                               strict=True):
            hidden = norm(hidden + block(hidden))
        torch.testing.assert_close(model.encoder(x), hidden, rtol=1e-4, atol=1e-4)
    F.cross_entropy(model(x), torch.tensor([0, 1, 2])).backward()
    assert all((p.grad is None) == freeze for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.head.parameters())


def test_a_mismatching_checkpoint_names_the_tensor(tmp_path) -> None:
    state = released().state_dict()
    state["model.norm_layers.1.weight"] = state["model.norm_layers.1.weight"][:-1]
    with pytest.raises(ValueError, match=(
            r"`encoder\.blocks\.1\.norm\.weight` \(`model\.norm_layers\.1\.weight` in the "
            r"checkpoint\) has shape \(384,\) in the checkpoint but \(385,\) in the model")):
        load_biofoundation(state)
    state = released().state_dict()
    state["model.classifier.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"`model\.classifier\.extra\.weight` is not a tensor"):
        load_biofoundation(state)
    with pytest.raises(ValueError, match="classification_type 'mc' needs one logit per channel"):
        load_biofoundation(released().state_dict(), classification_type="mc")
    with pytest.raises(ValueError, match="not a checkpoint of BioFoundation's FEMBA"):
        load_biofoundation({"encoder.pos_embed": torch.zeros(1, 2, 3)})
    tsssm_encoder = create_model("femba_mamba_head", n_outputs=2, head_dim=8,
                                 **{**biofoundation_options(released().state_dict()),
                                    "token_layout": "group"})
    with pytest.raises(ValueError, match=r"needs an encoder with .*biofoundation_options"):
        tsssm_encoder.load_pretrained_encoder(released().state_dict())


def test_input_scaling_is_the_released_tasks() -> None:
    x = torch.tensor([-20.0, 0.0, 20.0])
    torch.testing.assert_close(biofoundation_input_scaling(x), torch.tensor([0.0, 0.5, 1.0]))
