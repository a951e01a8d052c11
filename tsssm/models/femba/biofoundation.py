"""The FEMBA checkpoints BioFoundation releases (github pulp-bio/BioFoundation; weights on the
Hugging Face hub, CC BY-ND 4.0), as tsssm modules.

:func:`load_biofoundation` reads one (``.safetensors``, or a Lightning ``.ckpt`` of its
fine-tuning or pre-training task), infers the sizes from its tensors and returns tsssm's FEMBA
with the released architecture (:data:`~tsssm.models.femba.config.BIOFOUNDATION_ARCHITECTURE`)
holding its weights: a :class:`FEMBAMambaHead` for a fine-tuning checkpoint, a
:class:`FEMBAReconstructor` for a pre-training one. :func:`biofoundation_options` gives the
encoder's options, to fine-tune a new head from the released encoder.

What cannot be read from the tensors is taken as in every released config: the patch stride
equals the patch size; the two scan directions are added (the released module can also
multiply them, which tsssm does not offer); windows hold ``chan_groups * patch_chans``
channels (the released convolution drops trailing channels that do not fill a patch where
tsssm pads them, so an odd channel count does not load). The classifier's output type is an
argument: ``"mc"`` and ``"mmc"`` shape the logits per channel, ``"bc"``, ``"ml"`` and
``"mcc"`` (``num_classes`` logits) only name their use.

The released task also rescales its input (windows in µV), ``(x + 20) / 40`` (its
``input_normalization`` with "quartiles" -20 and 20), before the model; that is data
preparation and stays outside the module: the EEG preset ``femba_biofoundation``
(:mod:`tsssm.data.eeg.preprocessing`) prepares TUH recordings so, and
:func:`biofoundation_input_scaling` rescales windows already in µV.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from .checkpoints import (
    RELEASED_PREFIX,
    Checkpoint,
    from_biofoundation,
    is_biofoundation,
    load_matching,
    read_state_dict,
)
from .classification import FEMBAMambaHead
from .config import (
    BIOFOUNDATION_ARCHITECTURE,
    CLASSIFICATION_TYPES,
    FEMBAMambaHeadConfig,
    FEMBAPretrainConfig,
)
from .pretraining import FEMBAPretrain, FEMBAReconstructor

_BLOCK = re.compile(r"mamba_blocks\.(\d+)\.")
# The released task's input_normalization: the fixed "quartiles" of an affine map.
BIOFOUNDATION_INPUT_QUARTILES = (-20.0, 20.0)


def biofoundation_input_scaling(x: torch.Tensor) -> torch.Tensor:
    """The released task's input scaling, ``(x - q_lower) / (q_upper - q_lower + 1e-8)`` with
    the fixed ``(q_lower, q_upper) = (-20, 20)`` of its configs; ``x`` [B, C, T]."""
    lower, upper = BIOFOUNDATION_INPUT_QUARTILES
    return (x - lower) / (upper - lower + 1e-8)


class _Released:
    """The shapes of a released checkpoint's tensors, by their released names (without the
    task's ``model.`` prefix); a missing tensor or a shape that is no whole size is named."""

    def __init__(self, state: Mapping[str, object], caller: str) -> None:
        if not is_biofoundation(state):
            raise ValueError(f"{caller}: not a checkpoint of BioFoundation's FEMBA (no "
                             "`model.mamba_blocks.0.mamba_fwd.*` tensors)")
        prefixed = all(key.startswith(RELEASED_PREFIX) for key in state)
        self.shapes = {key[len(RELEASED_PREFIX):] if prefixed else key: tuple(value.shape)
                       for key, value in state.items() if isinstance(value, torch.Tensor)}
        self.caller = caller

    def __contains__(self, name: str) -> bool:
        return name in self.shapes

    def shape(self, name: str, dims: int) -> tuple[int, ...]:
        if name not in self.shapes:
            raise ValueError(f"{self.caller}: the checkpoint has no `{name}` tensor")
        if len(self.shapes[name]) != dims:
            raise ValueError(f"{self.caller}: `{name}` has shape {self.shapes[name]}, not "
                             f"{dims}-dimensional as in the released FEMBA")
        return self.shapes[name]

    def ratio(self, numerator: int, denominator: int, what: str) -> int:
        if numerator % denominator:
            raise ValueError(f"{self.caller}: {what} ({numerator}) is not a multiple of "
                             f"{denominator}")
        return numerator // denominator

    def encoder_options(self) -> dict[str, Any]:
        embed_dim, _, patch_chans, patch_times = self.shape("patch_embed.proj.weight", 4)
        _, n_tokens, d_model = self.shape("pos_embed", 3)
        groups = self.ratio(d_model, embed_dim, "the token width of `pos_embed`")
        mixer = "mamba_blocks.0.mamba_fwd."
        d_inner = self.shape(mixer + "in_proj.weight", 2)[0] // 2
        return {
            "n_chans": groups * patch_chans,
            "n_times": n_tokens * patch_times,
            "embed_dim": embed_dim,
            "n_blocks": 1 + max(int(m.group(1)) for m in map(_BLOCK.match, self.shapes) if m),
            "patch_chans": patch_chans,
            "patch_times": patch_times,
            "d_state": self.shape(mixer + "A_log", 2)[1],
            "d_conv": self.shape(mixer + "conv1d.weight", 3)[2],
            "expand": self.ratio(d_inner, d_model, f"the inner width of `{mixer}in_proj`"),
            **BIOFOUNDATION_ARCHITECTURE,
        }


def biofoundation_options(checkpoint: Checkpoint) -> dict[str, Any]:
    """The options of a released FEMBA's encoder, read from its tensors: ``n_chans``,
    ``n_times``, its sizes (``embed_dim``, ``n_blocks``, ``patch_chans``, ``patch_times``,
    ``d_state``, ``d_conv``, ``expand``) and :data:`BIOFOUNDATION_ARCHITECTURE`.

    To fine-tune a new head on the released encoder::

        options = biofoundation_options(path)
        model = create_model("femba_mamba_head", n_outputs=4, head_dim=256, **options)
        model.load_pretrained_encoder(path, freeze_encoder=True)

    Raises:
        ValueError: not a released FEMBA checkpoint, or a tensor missing or of a shape that
            gives no whole size (named).
    """
    state = read_state_dict(checkpoint, "biofoundation_options")
    return _Released(state, "biofoundation_options").encoder_options()


def biofoundation_config(checkpoint: Checkpoint, classification_type: str = "bc",
                         backend: str = "auto"
                         ) -> FEMBAMambaHeadConfig | FEMBAPretrainConfig:
    """The tsssm config of a released checkpoint: a :class:`FEMBAMambaHeadConfig` for a
    fine-tuning checkpoint (``classifier.*`` tensors), a :class:`FEMBAPretrainConfig`
    (``masking="zero"``, ``decoder="conv"``) for a pre-training one (``decoder.*``).

    Args:
        checkpoint: the file or its state dict (see :func:`load_biofoundation`).
        classification_type: the classifier's output type: ``"bc"``, ``"ml"``, ``"mcc"``
            (``num_classes`` logits), ``"mc"`` (one logit per channel) or ``"mmc"``
            (``num_classes`` logits per channel); unused for a pre-training checkpoint.
        backend: the selective-scan backend.
    """
    caller = "biofoundation_config"
    released = _Released(read_state_dict(checkpoint, caller), caller)
    options = {**released.encoder_options(), "backend": backend}
    if "decoder.dec_conv.weight" in released:
        kernel = released.shape("decoder.dec_conv.weight", 4)[2:]
        return FEMBAPretrainConfig(masking="zero", decoder="conv", decoder_kernel=kernel,
                                   **options)
    if "classifier.fc3.weight" not in released:
        raise ValueError(f"{caller}: the checkpoint has neither the released classifier "
                         "(`classifier.fc3.weight`) nor its decoder (`decoder.dec_conv.weight`)")
    if classification_type not in CLASSIFICATION_TYPES:
        raise ValueError(f"{caller}: classification_type must be one of "
                         f"{', '.join(CLASSIFICATION_TYPES)}, got {classification_type!r}")
    head_dim = released.shape("classifier.fc1.weight", 2)[0]
    n_logits = released.shape("classifier.fc3.weight", 2)[0]
    n_chans = options["n_chans"]
    if classification_type == "mc":
        if n_logits != n_chans:
            raise ValueError(f"{caller}: classification_type 'mc' needs one logit per "
                             f"channel ({n_chans}), but `classifier.fc3` has {n_logits}")
        n_outputs = 2
    elif classification_type == "mmc":
        n_outputs = released.ratio(n_logits, n_chans, "the outputs of `classifier.fc3` for "
                                   f"classification_type 'mmc' ({n_chans} channels)")
    else:
        n_outputs = n_logits
    return FEMBAMambaHeadConfig(n_outputs=n_outputs, classification_type=classification_type,
                                head_dim=head_dim, **options)


def load_biofoundation(checkpoint: Checkpoint, classification_type: str = "bc",
                       backend: str = "auto") -> FEMBAMambaHead | FEMBAReconstructor:
    """A released FEMBA checkpoint as a tsssm module in eval mode.

    Args:
        checkpoint: a ``.safetensors`` file, a Lightning ``.ckpt`` of BioFoundation's
            fine-tuning or pre-training task (read with ``weights_only``; its
            hyper-parameters are skipped unread), or their state dict. Keys are ``model.`` +
            the released module's names (or those names alone).
        classification_type: see :func:`biofoundation_config`.
        backend: the selective-scan backend.

    Returns:
        For a fine-tuning checkpoint a :class:`FEMBAMambaHead`: ``forward(x [B, C, T])`` ->
        logits [B, classes] (``"mc"``: [B, C]; ``"mmc"``: [B, C, classes]); for a
        pre-training checkpoint a :class:`FEMBAReconstructor`: ``forward(x [B, C, T])`` ->
        the reconstruction [B, C, T]. Both equal the released module on the same weights and
        input (an all-False mask, or ``patch_mask`` for the reconstructor); the released
        task's input scaling is not part of them (:func:`biofoundation_input_scaling`).

    Raises:
        ValueError: not a released FEMBA checkpoint, or one whose tensors do not fit the
            inferred model (the first mismatching tensor named first, with both shapes).
    """
    caller = "load_biofoundation"
    state = read_state_dict(checkpoint, caller)
    config = biofoundation_config(state, classification_type, backend)
    tensors, names = from_biofoundation(state, caller)
    if isinstance(config, FEMBAPretrainConfig):
        pretrain = FEMBAPretrain(config)
        load_matching(pretrain, tensors, caller, "pre-training model", names)
        return FEMBAReconstructor(pretrain).eval()
    model = FEMBAMambaHead(config)
    load_matching(model, tensors, caller, "classifier", names)
    return model.eval()
