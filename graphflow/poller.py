"""Reading a graph stream from the application: an iterator with timeouts, and ``latest()``.

The scheduler and the graph hold only a poller's ``PollerChannel`` (its queue and counters), never the poller: a
poller points at its graph, nothing points back, so a graph and its pollers that nobody references any more are
freed at once (and the graph shut down), without waiting for the cycle collector, while its worker threads still
exist.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import GraphTimeoutError
from .packet import Packet

if TYPE_CHECKING:
    from .graph import Graph

POLL_SLICE_S = 0.05  # while waiting, how often next() lets the inline executor make progress


class PollerChannel:
    """The packets of one stream waiting for one poller (filled by the scheduler outside its lock), and its counts."""

    def __init__(self, stream: str, max_queue: int) -> None:
        self.stream = stream
        self.queue: deque[Packet] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.max_queue = max_queue
        self.dropped = 0
        self.received = 0
        self.skipped = 0  # discarded by the poller's latest()

    def push(self, packet: Packet) -> None:
        with self.cond:
            self.queue.append(packet)
            self.received += 1
            if self.max_queue and len(self.queue) > self.max_queue:
                self.queue.popleft()
                self.dropped += 1
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class OutputPoller:
    """Packets of one graph stream, in order.

    ``next(timeout)`` blocks up to ``timeout`` seconds (``GraphTimeoutError`` after that) and returns None once the
    stream is closed and drained. Iterating yields every packet until the stream closes (raising the graph's error
    if it failed). ``latest()`` never blocks: the newest packet since the last call (older ones are discarded and
    counted as ``skipped``), or None. ``max_queue`` bounds memory for a poller that is read slowly: the oldest packets
    are dropped and counted in ``dropped`` (and in the graph's stats).
    """

    def __init__(self, graph: Graph, stream: str, max_queue: int = 0) -> None:
        self.stream = stream
        self._graph = graph
        self._channel = PollerChannel(stream, max_queue)

    @property
    def skipped(self) -> int:
        return self._channel.skipped

    @property
    def dropped(self) -> int:
        return self._channel.dropped

    @property
    def received(self) -> int:
        return self._channel.received

    @property
    def max_queue(self) -> int:
        return self._channel.max_queue

    def _pop(self, deadline: float | None) -> tuple[Packet | None, bool]:
        """(packet, closed) after waiting at most one slice (never calls into the graph while holding the lock)."""
        ch = self._channel
        with ch.cond:
            if not ch.queue and not ch.closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is None or remaining > 0:
                    ch.cond.wait(POLL_SLICE_S if remaining is None else min(POLL_SLICE_S, remaining))
            if ch.queue:
                return ch.queue.popleft(), False
            return None, ch.closed

    def next(self, timeout: float | None = 10.0) -> Packet | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._graph._pump()
            packet, closed = self._pop(deadline)
            if packet is not None:
                return packet
            if closed:
                self._graph._raise_if_failed()
                return None
            if deadline is not None and time.monotonic() >= deadline:
                self._graph._raise_if_failed()
                raise GraphTimeoutError(f"no packet on stream '{self.stream}' within {timeout} s")

    def latest(self) -> Packet | None:
        self._graph._pump()  # inline executor only: it progresses in the caller's thread
        ch = self._channel
        with ch.cond:
            if not ch.queue:
                return None
            ch.skipped += len(ch.queue) - 1
            packet = ch.queue[-1]
            ch.queue.clear()
            return packet

    def __iter__(self) -> Iterator[Packet]:
        while True:
            packet = self.next(timeout=None)
            if packet is None:
                return
            yield packet

    def __len__(self) -> int:
        return len(self._channel.queue)
