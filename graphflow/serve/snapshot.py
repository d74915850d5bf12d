"""Stats snapshots for the live page: ``graph.stats()`` plus rates (calls/s, packets/s, busy fraction).

One sampler serves every browser: a snapshot younger than ``min_interval_s`` (half a second: the page's refresh)
is handed out again, already serialised, so ``graph.stats()`` runs (it holds the scheduler lock only to copy
counters and latency samples; ``graphflow/stats.py`` sorts them after) and the JSON is built at most twice a
second however many pages are open, and not at all while none is. Rates are differences against the oldest
sample of the last ``RATE_WINDOW_S`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: seconds of history the rates are computed over
RATE_WINDOW_S = 2.0
#: a snapshot younger than this is reused (the page polls every 0.5 s, after the previous answer arrived)
MIN_INTERVAL_S = 0.5


class StatsSampler:
    """``snapshot()`` -> the graph's stats with ``rates`` added; ``extra()`` adds application figures (frames,
    end-to-end latency) under ``app``. ``snapshot_json()``: the same snapshot as JSON bytes (a ``{...}`` object)."""

    def __init__(self, stats: Callable[[], dict[str, Any]], extra: Callable[[], dict[str, Any]] | None = None,
                 *, min_interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._stats, self._extra, self._clock = stats, extra, clock
        self.min_interval_s = min_interval_s
        self._history: deque[tuple[float, dict[str, int], dict[str, int], dict[str, float]]] = deque()
        self._last: tuple[float, dict[str, Any]] | None = None
        self._last_json: tuple[dict[str, Any], bytes] | None = None
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

    def snapshot_json(self) -> bytes:
        doc = self.snapshot()
        with self._lock:
            if self._last_json is None or self._last_json[0] is not doc:
                self._last_json = (doc, json.dumps(doc, default=str).encode())
            return self._last_json[1]
