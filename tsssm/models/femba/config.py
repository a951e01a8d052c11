"""FEMBA's configs: the encoder options shared by every FEMBA model, and the size presets.

Every config is a dataclass; the encoder options are keyword-only so that each task's shape
fields (``n_chans, n_times[, n_outputs]``) stay first and positional.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

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

    def __post_init__(self) -> None:
        for name in ("embed_dim", "n_blocks", "patch_chans", "patch_times", "d_state",
                     "d_conv", "expand"):
            _check_int(self, name, 1)
        _check_range(self, "dropout", 0.0, 1.0, low_closed=True)


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
    window is hidden (FEMBA: 0.6) and reconstructed."""

    mask_ratio: float = 0.6

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(self, "mask_ratio", 0.0, 1.0, low_closed=False)


@dataclass
class FEMBAConfig(ClassificationShape, FEMBAOptions):
    """FEMBA classifier with a linear head on the mean of the tokens."""

    def __post_init__(self) -> None:
        ClassificationShape.__post_init__(self)
        FEMBAOptions.__post_init__(self)

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


def femba_preset(name: str) -> dict[str, Any]:
    """Encoder options of a named size: ``create_model("femba", n_chans=22, n_times=1280,
    n_outputs=2, **femba_preset("femba_tiny"))``. Sizes hold for 22 channels."""
    if name not in FEMBA_PRESETS:
        raise ValueError(f"femba_preset: unknown size {name!r}; known sizes: "
                         f"{', '.join(FEMBA_PRESETS)}")
    return {"patch_chans": 2, "patch_times": 16, "d_state": 16, "expand": 4,
            **FEMBA_PRESETS[name]}
