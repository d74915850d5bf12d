"""Typed ports, declared as class attributes of a calculator.

    class Scale(Calculator):
        VALUE = Input(float, doc="the number to scale")
        SCALED = Output(float)
        FACTOR = SideInput(float, optional=True)

The attribute name is the port's TAG, the name YAML uses (``inputs: {VALUE: my_stream}``).
``multiple=True`` makes a port take a list of streams (``inputs: {IMAGE: [a, b]}``); the calculator then
reads a list of payloads. ``type_`` is any Python type or typing form; ``Any`` matches everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Port:
    """Base of Input/Output/SideInput; ``tag`` is filled from the attribute name."""

    type_: Any = Any
    optional: bool = False
    multiple: bool = False
    doc: str = ""
    tag: str = field(default="", init=False)

    kind = "port"

    def __set_name__(self, owner: type, name: str) -> None:
        self.tag = name

    def type_name(self) -> str:
        return type_name(self.type_)


class Input(Port):
    kind = "input"


class Output(Port):
    kind = "output"


class SideInput(Port):
    kind = "side input"


def type_name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        mod = tp.__module__
        return tp.__qualname__ if mod in ("builtins", "typing") else f"{mod.split('.')[-1]}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


def types_compatible(produced: Any, consumed: Any) -> bool:
    """Can a stream of type ``produced`` feed a port of type ``consumed``?"""
    if produced is Any or consumed is Any or produced == consumed:
        return True
    if isinstance(produced, type) and isinstance(consumed, type):
        try:
            return issubclass(produced, consumed)
        except TypeError:
            return False
    origin_p = getattr(produced, "__origin__", None)
    origin_c = getattr(consumed, "__origin__", None)
    if origin_p is not None and origin_c is None and isinstance(consumed, type):
        # list[Foo] feeding a port typed plain `list`
        return isinstance(origin_p, type) and issubclass(origin_p, consumed)
    return False
