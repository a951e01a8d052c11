"""Lazy package attributes: a package ``__init__`` names its public objects and the modules
that define them, and each module is imported the first time one of its names is used.

Why: ``import tsssm.runs`` (the app, ``tsssm runs``, ``tsssm --help``) must not pay for torch,
Lightning or MNE; a package that imported its submodules eagerly would load them all.

    __getattr__, __dir__ = lazy_exports(__name__, {"Recipe": ".base", "load_config": ".config"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str], eager: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps each public name to the
    module (absolute, or relative to ``package`` when it starts with a dot) that defines it;
    ``eager`` lists public names the package defines itself (for ``dir``)."""

    def module_getattr(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    def module_dir() -> list[str]:
        return sorted({*names, *eager})

    return module_getattr, module_dir
