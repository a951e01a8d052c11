"""Checking a parsed TOML table against a dataclass: known keys (with a "did you mean"),
required keys and value types; every error names the file (or override) and the key."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from tsssm.training.config import ConfigError  # one error for every unusable setting

_T = TypeVar("_T")


class Context:
    """Where the values come from, so that an error can name the file or the override."""

    def __init__(self, source: str, origins: Mapping[str, str]) -> None:
        self.source, self.origins = source, origins

    def error(self, key: str, message: str) -> ConfigError:
        """An error about ``key``, blamed on the override that set it (or a table above or
        below it), else on the file."""
        parts = key.split(".")
        related = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        related += [k for k in self.origins if k.startswith(key + ".")]
        for candidate in related:
            if candidate in self.origins:
                return ConfigError(f"{self.source} (--set {self.origins[candidate]}): {message}")
        return ConfigError(f"{self.source}: {message}")


def resolve_layout(data: Any, layouts: Iterable[str], ctx: Context) -> None:
    """Set ``data.layout`` for a ``[data]`` table whose ``dataset`` is a bundled set (its own
    layout) or a folder in one of ``layouts`` (which ``data.layout`` must then name)."""
    layouts = list(layouts)
    if data.dataset in layouts:
        if data.layout not in ("", data.dataset):
            raise ctx.error("data.layout", f"data.layout {data.layout!r} contradicts the "
                                           f"bundled data set {data.dataset!r}")
        data.layout = data.dataset
    elif data.layout not in layouts:
        raise ctx.error("data.layout", f"data.layout must be one of {layouts} for the folder "
                                       f"{data.dataset}, not {data.layout!r}")


def suggest(key: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_keys(
    table: Mapping[str, Any], known: Iterable[str], section: str, ctx: Context
) -> None:
    known = list(known)
    for key in table:
        if key not in known:
            dotted = f"{section}.{key}" if section else key
            raise ctx.error(
                dotted,
                f"unknown key {dotted!r}{suggest(key, known)}; "
                f"known keys{' of [' + section + ']' if section else ''}: {', '.join(known)}",
            )


def as_table(value: Any, key: str, ctx: Context) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(key, f"{key!r} must be a table, not {toml_type(value)} {value!r}")
    return value


def build(cls: type[_T], value: Any, section: str, ctx: Context) -> _T:
    """An instance of the dataclass ``cls`` from the table ``value``, every field type-checked."""
    table = as_table(value, section, ctx)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    check_keys(table, fields, section, ctx)
    hints = typing.get_type_hints(cls)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in table:
            raise ctx.error(f"{section}.{name}", f"missing key '{section}.{name}'")
    values = {k: check_type(v, hints[k], f"{section}.{k}", ctx) for k, v in table.items()}
    return cls(**values)


def toml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
             dict: "table"}
    return names.get(type(value), type(value).__name__)


def _homogeneous_tuple(hint: Any) -> bool:
    """Whether ``hint`` is ``tuple[X, ...]`` (any length), not a fixed-length tuple."""
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list or _homogeneous_tuple(hint):
        return f"array of {type_name(typing.get_args(hint)[0])}s"
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if typing.get_origin(hint) is tuple:
        names = [type_name(a) for a in typing.get_args(hint)]
        if len(set(names)) == 1:
            return f"an array of {len(names)} {names[0]}s"
        return f"an array of {len(names)} items ({', '.join(names)})"
    return {bool: "boolean", int: "integer", float: "float", str: "string"}.get(hint, str(hint))


def check_type(value: Any, hint: Any, key: str, ctx: Context) -> Any:
    """``value`` checked against the type hint ``hint`` (an integer is accepted as a float)."""
    ok, converted = convert(value, hint)
    if not ok:
        raise ctx.error(
            key, f"'{key}' must be {type_name(hint)}, not {toml_type(value)} {value!r}"
        )
    return converted


def convert(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):  # in order: `int | float` keeps 3 an integer
            ok, converted = (value is None, None) if arg is type(None) else convert(value, arg)
            if ok:
                return True, converted
        return False, None
    if origin is typing.Literal:
        return value in typing.get_args(hint) and isinstance(value, str | int), value
    if origin is list or _homogeneous_tuple(hint):  # a TOML array; `tuple[X, ...]`: a tuple
        if not isinstance(value, list | tuple):
            return False, None
        items = [convert(v, typing.get_args(hint)[0]) for v in value]
        return all(ok for ok, _ in items), origin(v for _, v in items)
    if origin is tuple:  # `tuple[X, Y]`: a TOML array of that length
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            return False, None
        items = [convert(v, arg) for v, arg in zip(value, args, strict=True)]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if hint is Any:
        return True, value
    if hint is float:  # bool is an int subclass, but never a number in a config
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, hint), value
