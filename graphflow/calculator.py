"""The Calculator base class: typed ports, an Options dataclass, and the open/process/close lifecycle.

Lifecycle guarantees (the same as MediaPipe's):

- A calculator object is built fresh for every run of a graph; expensive shared objects come in as side inputs.
- ``open(ctx)`` runs once before anything else. If it raises, neither ``process`` nor ``close`` runs.
- ``process(ctx)`` runs once per input timestamp set (see the input policies in ``policies.py``). It never runs
  concurrently with itself. A *source* (a calculator with no inputs) has ``process`` called again and again until
  it raises ``StopSource``; its outputs then close. Any calculator may raise ``StopSource`` to say it is finished
  (e.g. a loop node whose clock input has ended while its back edge is still open).
- ``close(ctx)`` runs exactly once when ``open`` succeeded: after the inputs are done, or after an error anywhere
  in the graph. Packets emitted from ``close`` are delivered when the graph is still healthy.

The smallest useful calculator:

    @register_calculator
    class VectorSize(Calculator):
        \"\"\"Counts the items of a list.

        Inputs:  VECTOR - list
        Outputs: SIZE - int
        \"\"\"
        VECTOR = Input(list)
        SIZE = Output(int)

        def process(self, ctx: Context) -> None:
            ctx.emit("SIZE", len(ctx.get("VECTOR")))
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

from .packet import Packet
from .ports import Input, Output, Port, SideInput
from .timestamp import Timestamp


class Context(Protocol):
    """What a calculator sees during open/process/close (implemented by the scheduler)."""

    node_name: str
    options: Any

    @property
    def timestamp(self) -> Timestamp:
        """The input timestamp being processed (UNSET in open/close and for sources)."""
        ...

    def get(self, tag: str, default: Any = None) -> Any:
        """Payload on input ``tag`` at this timestamp, or ``default`` if that input is empty here.

        For a ``multiple=True`` port: a list with one entry per stream (``default`` where empty).
        """
        ...

    def packet(self, tag: str) -> Packet | None:
        """The packet on input ``tag`` at this timestamp, or None."""
        ...

    def has(self, tag: str) -> bool:
        """Whether input ``tag`` carries a packet at this timestamp."""
        ...

    def emit(self, tag: str, payload: Any, timestamp: int | Timestamp | None = None, index: int = 0) -> None:
        """Send ``payload`` on output ``tag`` (at the input timestamp unless ``timestamp`` is given)."""
        ...

    def emit_packet(self, tag: str, packet: Packet, index: int = 0) -> None:
        """Send an existing packet (payload shared, not copied)."""
        ...

    def set_bound(self, tag: str, timestamp: int | Timestamp, index: int = 0) -> None:
        """Promise that output ``tag`` will carry nothing below ``timestamp`` (lets downstream move on)."""
        ...

    def side(self, tag: str, default: Any = None) -> Any:
        """Payload of input side packet ``tag``."""
        ...

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to this node's named counter (visible in stats)."""
        ...

    def input_count(self, tag: str) -> int:
        """How many streams are connected to input ``tag`` (for ``multiple=True`` ports)."""
        ...

    def output_count(self, tag: str) -> int:
        """How many streams are connected to output ``tag``."""
        ...

    def input_bound(self, tag: str, index: int = 0) -> Timestamp:
        """The smallest timestamp a future packet on input ``tag`` may carry."""
        ...

    def output_connected(self, tag: str) -> bool:
        """Whether output ``tag`` is wired to a stream in this graph."""
        ...


@dataclasses.dataclass
class NoOptions:
    """A calculator without options."""


class Calculator:
    """Base class of every node. See the module docstring for the lifecycle."""

    Options: ClassVar[type] = NoOptions
    #: "default" (timestamp-synchronised) or "immediate"; a node's YAML ``input_policy`` overrides it.
    input_policy: ClassVar[str] = "default"
    #: Output timestamp minus input timestamp, when fixed. 0 (the default) lets the scheduler advance every
    #: output's bound past T after ``process`` at T, so downstream nodes never wait on a skipped output.
    #: Set None for calculators that emit at other timestamps (they then call ``ctx.set_bound``).
    timestamp_offset: ClassVar[int | None] = 0

    options: Any

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    # ---- lifecycle (override what you need) ----
    def open(self, ctx: Context) -> None:  # noqa: B027 - optional hook
        """Called once before the first ``process``."""

    def process(self, ctx: Context) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement process(ctx)")

    def close(self, ctx: Context) -> None:  # noqa: B027 - optional hook
        """Called once at the end if ``open`` succeeded."""

    # ---- contract (collected from class attributes) ----
    @classmethod
    def ports(cls, kind: type[Port]) -> dict[str, Port]:
        found: dict[str, Port] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, kind):
                    found[name] = value
        return found

    @classmethod
    def input_ports(cls) -> dict[str, Input]:
        return cls.ports(Input)  # type: ignore[return-value]

    @classmethod
    def output_ports(cls) -> dict[str, Output]:
        return cls.ports(Output)  # type: ignore[return-value]

    @classmethod
    def side_input_ports(cls) -> dict[str, SideInput]:
        return cls.ports(SideInput)  # type: ignore[return-value]

    @classmethod
    def is_source(cls) -> bool:
        return not cls.input_ports()

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.__name__
