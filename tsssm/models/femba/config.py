"""FEMBA's configs: the encoder options shared by every FEMBA model, and the size presets.

Every config is a dataclass; the encoder options are keyword-only so that each task's shape
fields (``n_chans, n_times[, n_outputs]``) stay first and positional.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ..shapes import ClassificationShape


def _check_int(config: object, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{type(config).__name__}: `{name}` must be an integer >= {minimum}, got {value!r}"
        )


def _check_range(config: object, name: str, low: float, high: float, low_closed: bool) -> None:
    value = getattr(config, name)
    inside = isinstance(value, int | float) and not isinstance(value, bool) and (
        (low <= value if low_closed else low < value) and value < high)
    if not inside:
        interval = f"{'[' if low_closed else '('}{low}, {high})"
        raise ValueError(f"{type(config).__name__}: `{name}` must lie in {interval}, "
                         f"got {value!r}")


def _check_choice(config: object, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{type(config).__name__}: `{name}` must be one of "
                         f"{', '.join(map(repr, choices))}, got {value!r}")


BLOCK_NORMS = ("pre", "post")
TOKEN_LAYOUTS = ("group", "embedding")
CLASSIFICATION_TYPES = ("bc", "ml", "mcc", "mc", "mmc")
MASKINGS = ("token", "zero")
DECODERS = ("linear", "conv")


@dataclass(kw_only=True)
class FEMBAOptions:
    """Encoder options of every FEMBA model.

    Tokens: the window is cut into ``patch_chans × patch_times`` patches, each embedded into
    ``embed_dim`` numbers; the ``chan_groups = ceil(n_chans / patch_chans)`` embeddings of one
    time patch are concatenated into a token of width ``d_model = embed_dim * chan_groups``.

    Attributes:
        embed_dim: width of one patch's embedding.
        n_blocks: bidirectional Mamba blocks.
        patch_chans, patch_times: patch size (FEMBA: 2 channels × 16 samples).
        d_state, d_conv, expand: Mamba mixer sizes (``d_inner = expand * d_model``).
        dropout: dropout on the tokens, on each block's residual branch and before the
            classifier heads' last linear layer.
        backend: selective-scan backend.
        block_norm: ``"pre"`` (tsssm's choice): each block is ``h + mix(norm h)`` and the
            encoder ends with a LayerNorm; ``"post"`` (BioFoundation's released FEMBA): each
            block is ``norm(h + mix(h))``, with no final norm.
        token_layout: order of a token's ``chan_groups × embed_dim`` features: ``"group"``
            (tsssm's choice: feature ``g * embed_dim + e``) or ``"embedding"`` (the released
            convolutional patch embedding's: feature ``e * chan_groups + g``).
    """

    embed_dim: int = 35
    n_blocks: int = 2
    patch_chans: int = 2
    patch_times: int = 16
    d_state: int = 16
    d_conv: int = 4
    expand: int = 4
    dropout: float = 0.0
    backend: str = "auto"
    block_norm: Literal["pre", "post"] = "pre"
    token_layout: Literal["group", "embedding"] = "group"

    def __post_init__(self) -> None:
        for name in ("embed_dim", "n_blocks", "patch_chans", "patch_times", "d_state",
                     "d_conv", "expand"):
            _check_int(self, name, 1)
        _check_range(self, "dropout", 0.0, 1.0, low_closed=True)
        _check_choice(self, "block_norm", BLOCK_NORMS)
        _check_choice(self, "token_layout", TOKEN_LAYOUTS)


@dataclass
class FEMBAEncoderConfig(FEMBAOptions):
    """A FEMBA encoder for windows of ``n_chans`` channels × ``n_times`` samples."""

    n_chans: int
    n_times: int

    def __post_init__(self) -> None:
        _check_int(self, "n_chans", 1)
        _check_int(self, "n_times", 1)
        super().__post_init__()


@dataclass
class FEMBAPretrainConfig(FEMBAEncoderConfig):
    """Masked-patch pre-training: a fraction ``mask_ratio`` in (0, 1) of the patches of every
    window is hidden (FEMBA: 0.6) and reconstructed.

    Attributes:
        masking: how a patch is hidden: ``"token"`` (tsssm's choice) replaces its embedding by
            a learned mask token; ``"zero"`` (the released FEMBA) sets its samples to 0 before
            the patch embedding.
        decoder: ``"linear"`` (tsssm's choice) maps each token to the samples of its
            ``chan_groups`` patches; ``"conv"`` (the released FEMBA) runs a
            ``decoder_kernel`` 2-D convolution over the tokens × features grid, then a
            transposed convolution from each patch's embedding back to its samples.
        decoder_kernel: (tokens, features) size of the ``"conv"`` decoder's first
            convolution; both odd, so that it keeps the grid's size.
    """

    mask_ratio: float = 0.6
    masking: Literal["token", "zero"] = "token"
    decoder: Literal["linear", "conv"] = "linear"
    decoder_kernel: tuple[int, int] = (31, 31)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(self, "mask_ratio", 0.0, 1.0, low_closed=False)
        _check_choice(self, "masking", MASKINGS)
        _check_choice(self, "decoder", DECODERS)
        kernel = self.decoder_kernel
        if (not isinstance(kernel, tuple | list) or len(kernel) != 2 or any(
                isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0
                for k in kernel)):
            raise ValueError(f"{type(self).__name__}: `decoder_kernel` must be two odd "
                             f"positive integers, got {kernel!r}")
        self.decoder_kernel = tuple(kernel)


@dataclass
class FEMBAConfig(ClassificationShape, FEMBAOptions):
    """FEMBA classifier with a linear head on the mean of the tokens.

    ``classification_type`` sets what the logits are (the released FEMBA's output types):
    ``"bc"``, ``"ml"``, ``"mcc"``: one set of ``n_outputs`` logits per window,
    ``[B, n_outputs]``; ``"mc"``: one logit per channel (artifact or not), ``[B, n_chans]``,
    with ``n_outputs = 2``; ``"mmc"``: ``n_outputs`` logits per channel,
    ``[B, n_chans, n_outputs]``.
    """

    classification_type: Literal["bc", "ml", "mcc", "mc", "mmc"] = "bc"

    def __post_init__(self) -> None:
        ClassificationShape.__post_init__(self)
        FEMBAOptions.__post_init__(self)
        _check_choice(self, "classification_type", CLASSIFICATION_TYPES)
        if self.classification_type == "mc" and self.n_outputs != 2:
            raise ValueError(f"{type(self).__name__}: classification_type 'mc' gives one "
                             f"binary logit per channel, so `n_outputs` must be 2, got "
                             f"{self.n_outputs}")

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The logits' shape after the batch dimension (see the class docstring)."""
        return {"mc": (self.n_chans,), "mmc": (self.n_chans, self.n_outputs)}.get(
            self.classification_type, (self.n_outputs,))

    def encoder_config(self) -> FEMBAEncoderConfig:
        """The encoder's part of this config."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(FEMBAOptions)}
        return FEMBAEncoderConfig(self.n_chans, self.n_times, **options)


@dataclass
class FEMBAMambaHeadConfig(FEMBAConfig):
    """FEMBA classifier whose head projects tokens to ``head_dim``, mixes them with one
    (causal) Mamba mixer, averages them and maps the average to the logits."""

    head_dim: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int(self, "head_dim", 1)


# The paper's sizes (Tegon et al., 2025, table of variants) for 22-channel windows with
# 2 × 16 patches: d_model = 35 × 11 = 385, mixers with expand 4 and d_state 16.
FEMBA_PRESETS: dict[str, dict[str, Any]] = {
    "femba_tiny": {"embed_dim": 35, "n_blocks": 2},    # about 7.8M parameters
    "femba_base": {"embed_dim": 35, "n_blocks": 12},   # about 47.7M
    "femba_large": {"embed_dim": 79, "n_blocks": 4},   # about 77.8M
    "femba_huge": {"embed_dim": 79, "n_blocks": 20},   # about 386M
}

# The architecture of the FEMBA that BioFoundation releases (models/FEMBA.py there), as
# options of tsssm's; its pre-training also sets ``masking="zero", decoder="conv"``.
BIOFOUNDATION_ARCHITECTURE: dict[str, Any] = {"block_norm": "post", "token_layout": "embedding"}


def femba_preset(name: str) -> dict[str, Any]:
    """Encoder options of a named size: ``create_model("femba", n_chans=22, n_times=1280,
    n_outputs=2, **femba_preset("femba_tiny"))``. Sizes hold for 22 channels."""
    if name not in FEMBA_PRESETS:
        raise ValueError(f"femba_preset: unknown size {name!r}; known sizes: "
                         f"{', '.join(FEMBA_PRESETS)}")
    return {"patch_chans": 2, "patch_times": 16, "d_state": 16, "expand": 4,
            **FEMBA_PRESETS[name]}
