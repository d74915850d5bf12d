"""The engine's exceptions. Every message names where (file:line, node) and what to do."""

from __future__ import annotations


class GraphflowError(Exception):
    """Base class of everything graphflow raises on purpose."""


class ConfigError(GraphflowError):
    """A graph file or graph dict is malformed or inconsistent (found before anything runs).

    ``location`` is ``file:line`` (or ``<string>:line``), ``node`` the node's name when one is involved.
    """

    def __init__(self, message: str, *, location: str = "", node: str = "", hint: str = "") -> None:
        self.location = location
        self.node = node
        self.hint = hint
        self.bare_message = message
        parts = [f"{location}: " if location else ""]
        if node:
            parts.append(f"node '{node}': ")
        parts.append(message)
        if hint:
            parts.append(f" -> {hint}")
        super().__init__("".join(parts))


class TimestampError(GraphflowError):
    """A packet's timestamp breaks a stream's ordering (e.g. a decreasing timestamp)."""


class StopSource(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a source calculator's ``process`` when it has nothing more to produce."""


class GraphError(GraphflowError):
    """A node failed while the graph ran. ``__cause__`` is the original exception."""

    def __init__(
        self,
        message: str,
        *,
        node: str = "",
        calculator: str = "",
        timestamp: object = None,
        phase: str = "",
        others: list[BaseException] | None = None,
    ) -> None:
        self.node = node
        self.calculator = calculator
        self.timestamp = timestamp
        self.phase = phase
        self.others = others or []
        super().__init__(message)


class GraphTimeoutError(GraphflowError, TimeoutError):
    """A blocking call (add_packet on a full queue, wait_*, close) ran past its timeout."""
