"""Preprocessing kept as data: a chain of steps, each an MNE ``Raw`` method (or one of a few
steps of tsssm's own) and its keyword arguments, so a recipe config can hold the chain and a
run can be repeated exactly. The idea is braindecode's ``Preprocessor``.

A step is written ``{"step": "filter", "l_freq": 0.1, "h_freq": 75.0}`` in a config (TOML:
``[[preprocessing]]`` tables). Steps:

- MNE ``Raw`` methods: ``filter``, ``notch_filter``, ``resample``, ``set_eeg_reference``,
  ``crop``, ``pick`` (names or channel types), ``drop_channels``.
- ``pick_channels(channels=[...])``: keep these channels in this order (case-insensitive).
- ``bipolar(pairs=["FP1-F7", ...])``: a bipolar montage (``mne.set_bipolar_reference``);
  only the pairs are kept, named as written.
- ``standard_names()``: rename channels to their 10-05 spelling (``"EEG Fp1"`` -> ``"Fp1"``).
- ``robust_scale()``: per channel ``(x - median) / IQR`` over the recording (FEMBA).
- ``scale(factor=1e5, offset=0.0)``: multiply every channel by one fixed factor (``1e5``
  turns volts into units of 10 µV), then add ``offset``, keeping amplitude differences between
  recordings that ``robust_scale``
  would remove.

Shapes: C channels, T samples of a recording.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mne
import numpy as np

from ..series import DataError
from .reading import standard_channel_names

# 22 derivations of the TUH EEG corpus' transverse central parietal (TCP) montage, as FEMBA
# and most TUAB/TUAR work use them (old 10-20 names: T3/T4/T5/T6 = T7/T8/P7/P8).
TCP_PAIRS = (
    "FP1-F7", "F7-T3", "T3-T5", "T5-O1",
    "FP2-F8", "F8-T4", "T4-T6", "T6-O2",
    "A1-T3", "T3-C3", "C3-CZ", "CZ-C4", "C4-T4", "T4-A2",
    "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
    "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
)  # fmt: skip
MNE_STEPS = (
    "filter",
    "notch_filter",
    "resample",
    "set_eeg_reference",
    "crop",
    "pick",
    "drop_channels",
)


def resolve_channels(raw: mne.io.BaseRaw, names: Iterable[str], source: str, why: str) -> list[str]:
    """The channels of ``raw`` called ``names`` (matched case-insensitively), in that order.

    Raises:
        DataError: some are missing; the message names them, the file and ``why``.
    """
    by_upper = {name.upper(): name for name in raw.ch_names}
    names = list(names)
    missing = [name for name in names if name.upper() not in by_upper]
    if missing:
        raise DataError(
            f"{source}: channels {missing} needed for {why} are missing; the recording has "
            f"{raw.ch_names}"
        )
    return [by_upper[name.upper()] for name in names]


def pick_channels(raw: mne.io.BaseRaw, channels: Sequence[str], source: str) -> mne.io.BaseRaw:
    """Keep ``channels`` in this order (names matched case-insensitively)."""
    return raw.pick(resolve_channels(raw, channels, source, "pick_channels"))


def bipolar(
    raw: mne.io.BaseRaw, pairs: Sequence[str | Sequence[str]], source: str
) -> mne.io.BaseRaw:
    """Bipolar montage: channel ``"A-B"`` = A - B for each pair; other channels are dropped.

    ``pairs`` are ``"A-B"`` strings or ``[A, B]`` lists; names match case-insensitively.
    """
    split = [tuple(p.split("-")) if isinstance(p, str) else tuple(p) for p in pairs]
    malformed = [p for p, parts in zip(pairs, split, strict=True) if len(parts) != 2]
    if malformed or not split:
        raise DataError(f"bipolar pairs must be 'A-B' or [A, B]; got {malformed or 'none'}")
    names = [f"{a}-{b}" for a, b in split]
    needed = list(dict.fromkeys(ch for pair in split for ch in pair))
    actual = dict(zip(needed, resolve_channels(raw, needed, source, "the bipolar montage"),
                      strict=True))
    anodes, cathodes = [actual[a] for a, _ in split], [actual[b] for _, b in split]
    raw = mne.set_bipolar_reference(
        raw, anodes, cathodes, ch_name=names, drop_refs=False, copy=False, verbose="error"
    )
    return raw.pick(names)


def standard_names(raw: mne.io.BaseRaw, source: str) -> mne.io.BaseRaw:
    """Rename channels to their standard 10-05 spelling (see ``standard_channel_names``)."""
    renamed = standard_channel_names(raw.ch_names)
    return raw.rename_channels(renamed, verbose="error") if renamed else raw


def robust_scale(raw: mne.io.BaseRaw, source: str) -> mne.io.BaseRaw:
    """Per channel ``(x - median) / (q75 - q25)`` over the whole recording (FEMBA's scaling).

    Raises:
        DataError: a channel with IQR 0 (constant for at least half of the recording).
    """
    median, iqr = robust_statistics(raw.get_data())  # [C, 1] each
    check_iqr(raw.ch_names, iqr, source)
    return raw.apply_function(
        lambda x: (x - median) / iqr, picks="all", channel_wise=False, verbose="error"
    )


def robust_statistics(data: np.ndarray, overwrite: bool = False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Median and interquartile range of each channel of ``data`` [C, T]: [C, 1] each
    (``overwrite``: ``data`` may be reordered in place, sparing a copy)."""
    q25, median, q75 = np.percentile(data, [25, 50, 75], axis=1, keepdims=True,
                                     overwrite_input=overwrite)
    return median, q75 - q25


def check_iqr(ch_names: Sequence[str], iqr: np.ndarray, source: str) -> None:
    """Raise a DataError naming the channels whose IQR (``iqr`` [C, 1]) is 0."""
    zero = [name for name, value in zip(ch_names, iqr[:, 0], strict=True) if value <= 0]
    if zero:
        raise DataError(f"{source}: robust_scale: channels {zero} have an interquartile range 0")


def scale(raw: mne.io.BaseRaw, factor: float, source: str, offset: float = 0.0
          ) -> mne.io.BaseRaw:
    """Every channel ``[C, T]`` multiplied by the same fixed ``factor``, plus ``offset`` (no
    per-recording statistics, so the relative amplitude of two recordings is kept).

    Raises:
        DataError: ``factor`` is not a finite, non-zero number, or ``offset`` not finite.
    """
    def finite(value: object) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | float) and bool(
            np.isfinite(value))

    if not (finite(factor) and factor != 0 and finite(offset)):
        raise DataError(f"{source}: scale: factor must be a finite non-zero number and offset "
                        f"a finite number; got {factor!r} and {offset!r}")
    return raw.apply_function(lambda x: x * factor + offset, picks="all", verbose="error")


CUSTOM_STEPS: dict[str, Callable[..., mne.io.BaseRaw]] = {
    "pick_channels": pick_channels,
    "bipolar": bipolar,
    "standard_names": standard_names,
    "robust_scale": robust_scale,
    "scale": scale,
}
STEP_NAMES = (*MNE_STEPS, *CUSTOM_STEPS)


@dataclass(frozen=True)
class Step:
    """One preprocessing step: a step name (see the module docstring) and its arguments.

    The arguments are checked against the step's signature when the step is made, and must
    be plain data (numbers, strings, lists, dicts, ``None``) so that a config can hold them.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in STEP_NAMES:
            raise DataError(f"unknown preprocessing step {self.name!r}; steps: {list(STEP_NAMES)}")
        try:
            json.dumps(dict(self.kwargs))
        except TypeError as error:
            raise DataError(
                f"step {self.name!r}: arguments must be plain data (numbers, strings, lists): "
                f"{error}"
            ) from None
        function = CUSTOM_STEPS.get(self.name) or getattr(mne.io.BaseRaw, self.name)
        parameters = inspect.signature(function).parameters
        allowed = [p for p in parameters if p not in {"self", "raw", "source"}]
        unknown = sorted(set(self.kwargs) - set(allowed))
        if unknown:
            raise DataError(
                f"step {self.name!r} has no arguments {unknown}; its arguments are {allowed}"
            )
        try:
            inspect.signature(function).bind(None, **self.kwargs, **self._source_kwarg())
        except TypeError as error:
            raise DataError(f"step {self.name!r}: {error}; its arguments are {allowed}") from None

    def _source_kwarg(self) -> dict[str, str]:
        return {"source": ""} if self.name in CUSTOM_STEPS else {}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Step:
        """A step from ``{"step": name, **kwargs}``."""
        if "step" not in spec:
            raise DataError(f"a preprocessing step needs a 'step' key naming it; got {dict(spec)}")
        kwargs = {key: value for key, value in spec.items() if key != "step"}
        return cls(spec["step"], kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"step": name, **kwargs}``, the form a config holds."""
        return {"step": self.name, **self.kwargs}

    def apply(self, raw: mne.io.BaseRaw, source: str) -> mne.io.BaseRaw:
        """Run the step on the preloaded ``raw`` (modified in place) and return it.

        Raises:
            DataError: the step failed; the message names ``source`` and the step.
        """
        try:
            if self.name in CUSTOM_STEPS:
                result = CUSTOM_STEPS[self.name](raw, **self.kwargs, source=source)
            else:
                kwargs = {"verbose": "error", **self.kwargs}
                result = getattr(raw, self.name)(**kwargs)
        except DataError:
            raise
        except (ValueError, RuntimeError, TypeError, IndexError) as error:
            raise DataError(f"{source}: step {self.to_dict()} failed: {error}") from error
        # resample(events=...) returns (raw, events); the chain only keeps the raw
        return result[0] if isinstance(result, tuple) else result


@dataclass(frozen=True)
class Preprocessing:
    """A chain of :class:`Step` run in order on a recording.

    Build it from a config with :meth:`from_config` (a list of ``{"step": ..., **kwargs}``);
    :meth:`to_config` gives that list back.
    """

    steps: tuple[Step, ...] = ()

    @classmethod
    def from_config(cls, steps: Iterable[Mapping[str, Any] | Step]) -> Preprocessing:
        """A chain from step dicts (or :class:`Step` objects)."""
        if isinstance(steps, Mapping | str):
            raise DataError("preprocessing must be a list of steps, e.g. [{'step': 'filter', ...}]")
        return cls(tuple(s if isinstance(s, Step) else Step.from_dict(s) for s in steps))

    def to_config(self) -> list[dict[str, Any]]:
        """The chain as a list of ``{"step": name, **kwargs}`` (JSON/TOML-ready)."""
        return [step.to_dict() for step in self.steps]

    def __len__(self) -> int:
        return len(self.steps)

    def apply(self, raw: mne.io.BaseRaw, source: str = "recording") -> mne.io.BaseRaw:
        """Run every step on ``raw``, which is loaded into memory first (in place)."""
        raw.load_data(verbose="error")
        for step in self.steps:
            raw = step.apply(raw, source)
        return raw


@dataclass(frozen=True)
class Preset:
    """A named preprocessing chain with the window length and stride it is used with."""

    name: str
    preprocessing: Preprocessing
    window_s: float
    stride_s: float


FEMBA_TUH = Preset(
    name="femba_tuh",
    preprocessing=Preprocessing.from_config(
        [
            {"step": "bipolar", "pairs": list(TCP_PAIRS)},
            {"step": "filter", "l_freq": 0.1, "h_freq": 75.0},
            {"step": "notch_filter", "freqs": 60.0},
            {"step": "resample", "sfreq": 256.0},
            {"step": "robust_scale"},
        ]
    ),
    window_s=5.0,
    stride_s=5.0,
)
# What BioFoundation's released FEMBA checkpoints were trained on: its TUH preparation (the
# same montage, filters and rate, windows in µV) and its task's fixed input scaling
# (x + 20) / 40, here on volts: x * 1e6 / 40 + 0.5. No per-recording scaling.
FEMBA_BIOFOUNDATION = Preset(
    name="femba_biofoundation",
    preprocessing=Preprocessing((*FEMBA_TUH.preprocessing.steps[:-1],
                                 Step("scale", {"factor": 1e6 / 40, "offset": 0.5}))),
    window_s=5.0,
    stride_s=5.0,
)
PRESETS = {preset.name: preset for preset in (FEMBA_TUH, FEMBA_BIOFOUNDATION)}


def preset(name: str) -> Preset:
    """The preset ``name`` (``"femba_tuh"``: TCP montage, 0.1-75 Hz, 60 Hz notch, 256 Hz,
    IQR scaling, 5-s windows; ``"femba_biofoundation"``: the same with the released FEMBA's
    fixed scaling instead of the IQR's, for its checkpoints)."""
    if name not in PRESETS:
        raise DataError(f"unknown preprocessing preset {name!r}; presets: {sorted(PRESETS)}")
    return PRESETS[name]
