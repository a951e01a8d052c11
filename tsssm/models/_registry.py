"""Model registry: every model family registers a factory under a name and a task, with a tiny
example config, so that tests, benchmarks and recipes can loop over all of them
(``create_model``, ``list_models``, ``model_entry(name).example_config()``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .shapes import EXAMPLE_SHAPES


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its class, its config dataclass, the task it solves and the
    options of a tiny example (over the task's :data:`~tsssm.models.shapes.EXAMPLE_SHAPES`)."""

    name: str
    model_cls: type[nn.Module]
    config_cls: type
    task: str
    example: Mapping[str, Any] = field(default_factory=dict)

    def example_config(self) -> Any:
        """A config of a tiny model of this entry (seconds to build and run on a CPU)."""
        return self.config_cls(**{**EXAMPLE_SHAPES[self.task], **self.example})


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, config_cls: type, task: str,
                   example: Mapping[str, Any]) -> Callable[[type], type]:
    """Class decorator: ``@register_model("smamba", SMambaConfig, task="forecasting",
    example={"d_model": 8})``.

    The class must be constructible as ``model_cls(config)``; ``example`` holds the options
    of a tiny instance (it may change the task's example shape too).
    """
    if task not in EXAMPLE_SHAPES:
        raise ValueError(f"unknown model task {task!r}; tasks: {', '.join(EXAMPLE_SHAPES)}")

    def decorate(model_cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = ModelEntry(name, model_cls, config_cls, task, dict(example))
        return model_cls

    return decorate


def list_models(task: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one task."""
    return sorted(n for n, e in _MODELS.items() if task is None or e.task == task)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; a clear error lists the known names."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model from keyword arguments of its config dataclass.

    An unknown keyword is an error that names it and lists the accepted ones.
    """
    entry = model_entry(name)
    accepted = {f.name for f in dataclasses.fields(entry.config_cls)}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ValueError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(sorted(accepted))}"
        )
    return entry.model_cls(entry.config_cls(**config))
