"""Stats snapshots for the live page: ``graph.stats()`` plus rates (calls/s, packets/s, busy fraction).

One sampler serves every browser: a snapshot younger than ``min_interval_s`` is handed out again, so the graph's
stats lock is taken at most ``1 / min_interval_s`` times a second however many pages are open. Rates are
differences against the oldest sample of the last ``RATE_WINDOW_S`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: seconds of history the rates are computed over
RATE_WINDOW_S = 2.0
#: a snapshot younger than this is reused (the page polls about twice a second)
MIN_INTERVAL_S = 0.25


class StatsSampler:
    """``snapshot()`` -> the graph's stats with ``rates`` added; ``extra()`` adds application figures (frames,
    end-to-end latency) under ``app``."""

    def __init__(self, stats: Callable[[], dict[str, Any]], extra: Callable[[], dict[str, Any]] | None = None,
                 *, min_interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._stats, self._extra, self._clock = stats, extra, clock
        self.min_interval_s = min_interval_s
        self._history: deque[tuple[float, dict[str, int], dict[str, int], dict[str, float]]] = deque()
        self._last: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._t0 = clock()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last[0] < self.min_interval_s:
                return self._last[1]
            stats = self._stats()
            calls = {name: int(n["process_calls"]) for name, n in stats["nodes"].items()}
            busy = {name: float(n["busy_s"]) for name, n in stats["nodes"].items()}
            packets = {name: int(s["packets"]) for name, s in stats["streams"].items()}
            self._history.append((now, calls, packets, busy))
            while len(self._history) > 2 and now - self._history[1][0] >= RATE_WINDOW_S:
                self._history.popleft()
            t_old, calls_old, packets_old, busy_old = self._history[0]
            dt = now - t_old
            rates: dict[str, Any] = {"window_s": dt, "nodes": {}, "streams": {}}
            if dt > 0:
                rates["nodes"] = {n: {"calls_per_s": (c - calls_old.get(n, 0)) / dt,
                                      "busy": (busy[n] - busy_old.get(n, 0.0)) / dt} for n, c in calls.items()}
                rates["streams"] = {s: (c - packets_old.get(s, 0)) / dt for s, c in packets.items()}
            doc = dict(stats)
            doc["rates"] = rates
            doc["server_uptime_s"] = now - self._t0
            if self._extra is not None:
                doc["app"] = self._extra()
            self._last = (now, doc)
            return doc
