"""Reading a graph output stream from the application: an iterator with timeouts, and ``latest()``."""

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


class OutputPoller:
    """Packets of one graph output stream, in order.

    ``next(timeout)`` blocks up to ``timeout`` seconds (``GraphTimeoutError`` after that) and returns None once the
    stream is closed and drained. Iterating yields every packet until the stream closes (raising the graph's error
    if it failed). ``latest()`` never blocks: the newest packet since the last call (older ones are discarded and
    counted as ``skipped``), or None. ``max_queue`` bounds memory for a poller that is read slowly: the oldest packets
    are dropped and counted in ``dropped`` (and in the graph's stats).
    """

    def __init__(self, graph: Graph, stream: str, max_queue: int = 0) -> None:
        self.stream = stream
        self._graph = graph
        self._queue: deque[Packet] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.max_queue = max_queue
        self.dropped = 0
        self.skipped = 0
        self.received = 0

    def _push(self, packet: Packet) -> None:
        with self._cond:
            self._queue.append(packet)
            self.received += 1
            if self.max_queue and len(self._queue) > self.max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._cond.notify_all()

    def _close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def next(self, timeout: float | None = 10.0) -> Packet | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._graph._pump()
        with self._cond:
            while not self._queue:
                if self._closed:
                    self._graph._raise_if_failed()
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._graph._raise_if_failed()
                    raise GraphTimeoutError(f"no packet on stream '{self.stream}' within {timeout} s")
                self._cond.wait(0.05 if remaining is None else min(0.05, remaining))
                if not self._queue:
                    self._cond.release()
                    try:
                        self._graph._pump()
                    finally:
                        self._cond.acquire()
            return self._queue.popleft()

    def latest(self) -> Packet | None:
        self._graph._pump()  # inline executor only: it progresses in the caller's thread
        with self._cond:
            if not self._queue:
                return None
            self.skipped += len(self._queue) - 1
            packet = self._queue[-1]
            self._queue.clear()
            return packet

    def __iter__(self) -> Iterator[Packet]:
        while True:
            packet = self.next(timeout=None)
            if packet is None:
                return
            yield packet

    def __len__(self) -> int:
        return len(self._queue)
