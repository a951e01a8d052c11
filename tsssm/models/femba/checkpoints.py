"""FEMBA checkpoints: reading them without unpickling code, finding the encoder's tensors, and
the layout of the FEMBA that BioFoundation releases (github pulp-bio/BioFoundation, weights
on the Hugging Face hub).

A released checkpoint is a ``.safetensors`` file or a Lightning ``.ckpt`` of BioFoundation's
fine-tuning or pre-training task: its tensors are ``model.`` + the names of that FEMBA's
modules (``patch_embed.proj``, ``pos_embed``, ``mamba_blocks.<i>.mamba_fwd|mamba_rev``,
``norm_layers.<i>``, then ``classifier.fc1|mamba_1|fc3`` or ``decoder.dec_conv|
conv_transpose``). :func:`from_biofoundation` renames them to tsssm's modules built with
:data:`~tsssm.models.femba.config.BIOFOUNDATION_ARCHITECTURE`; the one tensor whose layout
differs is the patch embedding, a ``Conv2d`` weight ``[E, 1, pc, pt]`` there and a ``Linear``
weight ``[E, pc * pt]`` here (the same numbers: tsssm flattens a patch channel by channel).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

Checkpoint = str | Path | Mapping[str, object]

# released name (after ``model.``) -> tsssm name, in the order of the released module
_RELEASED_NAMES = tuple((re.compile(pattern), name) for pattern, name in (
    (r"patch_embed\.proj\.(weight|bias)", r"encoder.patch_embed.proj.\1"),
    (r"pos_embed", "encoder.pos_embed"),
    (r"mamba_blocks\.(\d+)\.mamba_fwd\.(.+)", r"encoder.blocks.\1.mixer.forward_mixer.\2"),
    (r"mamba_blocks\.(\d+)\.mamba_rev\.(.+)", r"encoder.blocks.\1.mixer.backward_mixer.\2"),
    (r"norm_layers\.(\d+)\.(weight|bias)", r"encoder.blocks.\1.norm.\2"),
    (r"classifier\.fc1\.(weight|bias)", r"head.proj.\1"),
    (r"classifier\.mamba_1\.(.+)", r"head.mixer.\1"),
    (r"classifier\.fc3\.(weight|bias)", r"head.linear.\1"),
    (r"decoder\.dec_conv\.weight", "decoder.token_conv.weight"),
    (r"decoder\.conv_transpose\.(weight|bias)", r"decoder.patch_conv.\1"),
))
_RELEASED_MARK = re.compile(r"(model\.)?mamba_blocks\.\d+\.mamba_fwd\.")
RELEASED_PREFIX = "model."


class _StandIn:
    """What a non-tensor object of a checkpoint (e.g. Hydra's hyper-parameters) is read as:
    nothing of its class is imported or run, and whatever it held is dropped."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        del args, kwargs

    def __setstate__(self, state: object) -> None:
        del state

    def __setitem__(self, key: object, value: object) -> None:
        del key, value

    def append(self, value: object) -> None:
        del value

    def extend(self, values: object) -> None:
        del values


def _stand_in(full_name: str) -> type:
    """A :class:`_StandIn` class that ``weights_only`` takes for the global ``full_name``: it
    matches an allowed class by ``f"{__module__}.{__qualname__}"``, as the file names it."""
    module, _, name = full_name.rpartition(".")
    return type(name, (_StandIn,), {"__module__": module, "__qualname__": name})


def _unsafe_globals(path: Path) -> list[str]:
    """The globals a zip checkpoint names beyond those ``weights_only`` allows (none for a
    file of another format, or a torch without this check)."""
    find_unsafe = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if find_unsafe is None:
        return []
    try:
        return find_unsafe(path)
    except (RuntimeError, ValueError, pickle.UnpicklingError):
        return []


def _load_weights_only(path: Path) -> object:
    """``torch.load(path, weights_only=True)``; a file that also names other objects (a
    Lightning ``.ckpt`` keeps its hyper-parameters, e.g. OmegaConf's ``DictConfig``) is read
    again with each of those globals bound to an inert :class:`_StandIn`, so its tensors load
    and no code of the file runs."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        unsafe = _unsafe_globals(path)
        if not unsafe:
            raise
    stand_ins = [_stand_in(name) for name in unsafe]
    try:
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # e.g. a subclass of list or dict among the other objects: weights_only fills only
        # real lists and dicts, so the stand-ins cannot take their place
        raise pickle.UnpicklingError(
            f"{path}: its tensors cannot be read without running code of the objects stored "
            f"beside them ({', '.join(unsafe)}); save its state dict alone (e.g. with "
            f"safetensors) and load that: {error}") from None


def read_state_dict(checkpoint: Checkpoint, caller: str) -> Mapping[str, object]:
    """The tensors of a checkpoint, never unpickling code.

    Args:
        checkpoint: a ``.safetensors`` file; another file (``torch.save`` or Lightning
            ``.ckpt``; read with ``weights_only=True``, see :func:`_load_weights_only`); or a
            state dict, or a Lightning-style dict holding one under ``"state_dict"``.
        caller: the function named in errors.

    Raises:
        FileNotFoundError: no such file.
        TypeError: neither a path nor a mapping.
        pickle.UnpicklingError: a file that needs code to be read.
    """
    if isinstance(checkpoint, str | Path):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"{caller}: no checkpoint file at {path}")
        if path.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError as error:
                raise ImportError(f"{caller}: reading {path} needs the safetensors package "
                                  "(pip install safetensors)") from error
            checkpoint = load_file(path, device="cpu")
        else:
            checkpoint = _load_weights_only(path)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"{caller}: a checkpoint must be a path or a mapping of tensors, got "
                        f"{type(checkpoint).__name__}")
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise TypeError(f"{caller}: the checkpoint's `state_dict` is a "
                        f"{type(state).__name__}, not a mapping of tensors")
    return state


def is_biofoundation(state: Mapping[str, object]) -> bool:
    """Whether ``state`` is in the layout of BioFoundation's released FEMBA."""
    return any(_RELEASED_MARK.match(key) for key in state)


def from_biofoundation(state: Mapping[str, object], caller: str = "from_biofoundation"
                       ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A released FEMBA's tensors under tsssm's names (``encoder.``, ``head.`` or
    ``decoder.`` ...), and {tsssm name: released name} for error messages.

    ``state`` holds the keys of BioFoundation's task (``model.`` + the FEMBA module's names)
    or of the FEMBA module itself. Other entries of a task (none in the released files) are
    refused.

    Raises:
        ValueError: a tensor that the released FEMBA does not have, or a non-tensor.
    """
    prefixed = all(key.startswith(RELEASED_PREFIX) for key in state)
    tensors: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    for key, value in state.items():
        released = key[len(RELEASED_PREFIX):] if prefixed else key
        renamed = next((pattern.sub(name, released) for pattern, name in _RELEASED_NAMES
                        if pattern.fullmatch(released)), None)
        if renamed is None:
            raise ValueError(f"{caller}: `{key}` is not a tensor of BioFoundation's FEMBA")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{caller}: `{key}` is a {type(value).__name__}, not a tensor")
        if renamed == "encoder.patch_embed.proj.weight":
            if value.dim() != 4:
                raise ValueError(f"{caller}: `{key}` has shape {tuple(value.shape)}; the "
                                 "released patch embedding is a Conv2d weight [E, 1, pc, pt]")
            value = value.flatten(1)  # [E, 1, pc, pt] -> [E, pc * pt]
        tensors[renamed] = value
        names[renamed] = key
    return tensors, names


def encoder_tensors(state: Mapping[str, object], caller: str = "load_pretrained_encoder"
                    ) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a checkpoint, keyed as in :class:`FEMBAEncoder`: those of a
    released FEMBA (see :func:`from_biofoundation`), else those under the one
    ``...encoder.`` prefix of ``state``."""
    if is_biofoundation(state):
        tensors = from_biofoundation(state, caller)[0]
        return {key[len("encoder."):]: value for key, value in tensors.items()
                if key.startswith("encoder.")}
    prefixes = {key[: key.index("encoder.") + len("encoder.")] for key in state
                if key.startswith("encoder.") or ".encoder." in key}
    prefixes = {p for p in prefixes if p == "encoder." or p.endswith(".encoder.")}
    if len(prefixes) != 1:
        found = ", ".join(sorted(prefixes)) or "none"
        raise ValueError(f"{caller}: the checkpoint needs exactly one set of encoder weights "
                         f"(keys under '<prefix>encoder.'); found: {found}")
    prefix = prefixes.pop()
    tensors = {key[len(prefix):]: value for key, value in state.items()
               if key.startswith(prefix)}
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{caller}: `{prefix}{key}` is a {type(value).__name__}, not a "
                            "tensor")
    return tensors


def load_matching(module: nn.Module, tensors: Mapping[str, torch.Tensor], caller: str,
                  what: str, released: Mapping[str, str] | None = None) -> None:
    """Load ``tensors`` into ``module`` if they are exactly its state dict.

    Raises:
        ValueError: naming each tensor that is missing, unexpected or of another shape (the
            first in the module's order first), with both shapes and, for a released
            checkpoint, its name there (``released``: {tsssm name: released name}).
    """
    released = released or {}

    def named(key: str) -> str:
        return f"`{key}` (`{released[key]}` in the checkpoint)" if key in released else (
            f"`{key}`")

    expected = module.state_dict()
    problems = []
    for key, value in expected.items():
        if key not in tensors:
            problems.append(f"missing {named(key)}")
        elif tensors[key].shape != value.shape:
            problems.append(f"{named(key)} has shape {tuple(tensors[key].shape)} in the "
                            f"checkpoint but {tuple(value.shape)} in the model")
    problems += [f"unexpected {named(key)}" for key in tensors if key not in expected]
    if problems:
        raise ValueError(f"{caller}: the checkpoint does not fit this {what}: "
                         + "; ".join(problems))
    module.load_state_dict(dict(tensors))
