"""Validate a node's YAML ``options:`` mapping against its calculator's ``Options`` dataclass.

Unknown keys and wrong types are errors (not warnings). Accepted: bool, int, float (ints accepted), str,
``X | None``, ``Literal[...]``, Enum subclasses (by name or value), ``list[X]``/``tuple[X, ...]``, ``dict[str, X]``,
nested dataclasses (from a mapping) and ``Any``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin


class OptionError(ValueError):
    """``key`` is the dotted path of the offending option."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` checked (and minimally converted) against the annotation ``tp``."""
    if tp is Any or tp is object:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except OptionError as exc:
                errors.append(str(exc))
        raise OptionError(key, f"option '{key}' = {value!r} matches none of {_describe(tp)}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        choices = ", ".join(repr(a) for a in get_args(tp))
        raise OptionError(key, f"option '{key}' = {value!r} must be one of {choices}")
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionError(key, f"option '{key}' must be a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise OptionError(key, f"option '{key}' must have {len(args)} items, got {len(value)}")
            return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise OptionError(key, f"option '{key}' must be a mapping, got {type(value).__name__}")
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or value == member.name or value is member:
                return member
        choices = ", ".join(m.name for m in tp)
        raise OptionError(key, f"option '{key}' = {value!r} must be one of {choices}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise OptionError(key, f"option '{key}' must be a mapping of {tp.__name__} fields")
        return build_options(tp, value, prefix=f"{key}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise OptionError(key, f"option '{key}' must be true or false, got {type(value).__name__} {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise OptionError(key, f"option '{key}' must be a number, got {type(value).__name__} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise OptionError(key, f"option '{key}' must be an integer, got {type(value).__name__} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise OptionError(key, f"option '{key}' must be a string, got {type(value).__name__} {value!r}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise OptionError(key, f"option '{key}' must be {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def build_options(options_cls: type, values: dict[str, Any] | None, prefix: str = "") -> Any:
    """Instantiate ``options_cls`` (a dataclass) from a mapping, strictly."""
    values = dict(values or {})
    if not dataclasses.is_dataclass(options_cls):
        raise TypeError(f"{options_cls!r} is not a dataclass")
    hints = typing.get_type_hints(options_cls)
    fields = {f.name: f for f in dataclasses.fields(options_cls) if f.init}
    unknown = [k for k in values if k not in fields]
    if unknown:
        import difflib

        key = unknown[0]
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known options: {', '.join(fields) or '(none)'}"
        raise OptionError(prefix + key, f"unknown option '{prefix}{key}'; {hint}")
    kwargs = {k: coerce(v, hints.get(k, Any), prefix + k) for k, v in values.items()}
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise OptionError(prefix + missing[0], f"option '{prefix}{missing[0]}' is required")
    try:
        return options_cls(**kwargs)
    except (ValueError, TypeError) as exc:  # a __post_init__ check of the Options dataclass
        raise OptionError(prefix + (next(iter(kwargs), "") or ""), f"invalid options: {exc}") from None
