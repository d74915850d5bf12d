"""Packets: an immutable (payload, timestamp) pair.

The payload is shared, never copied: ``packet.at(ts)`` makes a new packet around the same object, so a
numpy frame travels through the whole graph by reference. Treat payloads as read-only; a calculator that
needs to modify an image copies it first.
"""

from __future__ import annotations

from typing import Any

from .timestamp import Timestamp, as_timestamp


def _read_only(self: Packet, value: object) -> None:
    raise AttributeError("Packet is immutable; use packet.at(ts) for a re-stamped copy")


class Packet:
    """Immutable payload + timestamp.

    The public ``payload`` and ``timestamp`` cannot be assigned. The slots behind them are private and written
    only when a packet is made (plain slot stores: a packet is made at every hop of a graph, so it must be cheap).
    """

    __slots__ = ("_payload", "_timestamp")
    _payload: Any
    _timestamp: Timestamp

    def __init__(self, payload: Any, timestamp: int | Timestamp = Timestamp.UNSET) -> None:  # type: ignore[attr-defined]
        self._payload = payload
        self._timestamp = as_timestamp(timestamp)

    def _get_payload(self) -> Any:
        return self._payload

    def _get_timestamp(self) -> Timestamp:
        return self._timestamp

    payload = property(_get_payload, _read_only, doc="The payload object (shared, never copied).")
    timestamp = property(_get_timestamp, _read_only, doc="The packet's Timestamp.")

    def at(self, timestamp: int | Timestamp) -> Packet:
        """A packet with the same payload object (no copy) at ``timestamp``."""
        return Packet(self._payload, timestamp)

    def __repr__(self) -> str:
        kind = type(self._payload).__name__
        shape = getattr(self._payload, "shape", None)
        detail = f"{kind}{tuple(shape)}" if shape is not None else kind
        return f"Packet({detail} @ {self._timestamp})"
