"""The calculator registry: one decorator, duplicates refused, lazy lookup of installed calculators.

YAML names a calculator by its registered name (``calculator: PalmDetection``) or by an explicit
``package.module:Class`` path. Names come from code already imported or from installed packages that declare an
entry point in the ``graphflow.calculators`` group: a ``{name: "module:Class"}`` dict, imported on first use (no
torch at start).

A graph file is untrusted input, so it can never grant itself an import: a ``module:Class`` path is imported only
when its module (or a package above it) is permitted by the caller (``graphflow run --allow-import MODULE``,
``Graph.from_yaml(..., allow_imports=[...])``) or is the module of an installed entry point (installing a package
is the user's decision). Anything else is refused before any import happens.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TypeVar, overload

from .calculator import Calculator

C = TypeVar("C", bound=type[Calculator])

_REGISTRY: dict[str, type[Calculator]] = {}
_LAZY_INDEX: dict[str, str] | None = None


class RegistryError(LookupError):
    """Unknown calculator name, duplicate registration, or a module path that is not allowed."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message, self.hint = message, hint
        super().__init__(f"{message}; {hint}" if hint else message)


@overload
def register_calculator(cls_or_name: C) -> C: ...
@overload
def register_calculator(cls_or_name: str | None = None) -> Callable[[C], C]: ...


def register_calculator(cls_or_name: C | str | None = None) -> C | Callable[[C], C]:
    """Register a Calculator subclass under ``name`` (default: the class name). Duplicates raise."""

    def deco(cls: C, name: str | None = None) -> C:
        if not (isinstance(cls, type) and issubclass(cls, Calculator)):
            raise TypeError(f"@register_calculator expects a Calculator subclass, got {cls!r}")
        key = name or cls.__name__
        old = _REGISTRY.get(key)
        if old is not None and old is not cls:
            same_origin = (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)
            if not same_origin:  # a re-import of the same module is not a duplicate
                raise RegistryError(
                    f"calculator name '{key}' is already registered by {old.__module__}.{old.__qualname__}; "
                    f"pick another name for {cls.__module__}.{cls.__qualname__}"
                )
        _REGISTRY[key] = cls
        cls.registered_name = key  # type: ignore[attr-defined]
        return cls

    if isinstance(cls_or_name, type):
        return deco(cls_or_name)
    return lambda cls: deco(cls, cls_or_name)  # type: ignore[arg-type]


def unregister(name: str) -> None:
    """Remove a registration (for tests)."""
    _REGISTRY.pop(name, None)


def _lazy_index() -> dict[str, str]:
    global _LAZY_INDEX
    if _LAZY_INDEX is None:
        index: dict[str, str] = {}
        for ep in metadata.entry_points(group="graphflow.calculators"):
            table = ep.load()
            if isinstance(table, dict):
                index.update(table)
        _LAZY_INDEX = index
    return _LAZY_INDEX


def known_names() -> list[str]:
    """Every calculator name that resolves: registered now or declared by an installed package."""
    return sorted(set(_REGISTRY) | set(_lazy_index()))


def _import_path(path: str) -> type[Calculator]:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise RegistryError(f"module '{module_name}' has no attribute '{attr}'") from None
    if not (isinstance(cls, type) and issubclass(cls, Calculator)):
        raise RegistryError(f"'{path}' is not a Calculator subclass")
    return cls


def _module_allowed(module_name: str, allowed: Iterable[str]) -> bool:
    return any(module_name == a or module_name.startswith(a + ".") for a in allowed)


def installed_modules() -> set[str]:
    """Modules named by installed ``graphflow.calculators`` entry points (permitted without a flag)."""
    return {target.partition(":")[0] for target in _lazy_index().values()}


def import_permitted(module_name: str, allow_imports: Iterable[str] = ()) -> bool:
    """Whether the caller's ``allow_imports`` or an installed entry point permits importing ``module_name``."""
    return _module_allowed(module_name, allow_imports) or module_name in installed_modules()


def permit_hint(module_name: str) -> str:
    """How a caller permits ``module_name`` (one place, so every message says the same)."""
    return (f"a graph file cannot permit imports; if you trust '{module_name}', pass `--allow-import {module_name}` "
            f"to graphflow, or Graph.from_yaml(..., allow_imports=['{module_name}'])")


def resolve(name: str, allow_imports: Iterable[str] = ()) -> type[Calculator]:
    """Find the class for a YAML ``calculator:`` value; ``allow_imports`` is the caller's permission."""
    if ":" in name:
        module_name = name.partition(":")[0]
        if not import_permitted(module_name, allow_imports):
            raise RegistryError(
                f"calculator path '{name}' names module '{module_name}', which the caller has not permitted",
                permit_hint(module_name),
            )
        try:
            return _import_path(name)
        except ImportError as exc:
            raise RegistryError(f"cannot import '{module_name}' for calculator '{name}': {exc}",
                                "check the module path and that its package is installed") from exc
    if name in _REGISTRY:
        return _REGISTRY[name]
    target = _lazy_index().get(name)
    if target is not None:
        cls = _import_path(target)
        _REGISTRY.setdefault(name, cls)
        return _REGISTRY[name]
    import difflib

    close = difflib.get_close_matches(name, known_names(), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "run `graphflow calculators` to list them"
    raise RegistryError(f"unknown calculator '{name}'", hint)
