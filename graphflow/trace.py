"""Chrome-trace / Perfetto JSON: one span per ``process`` call, a flow arrow per packet from producer to consumer.

Open the file in ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class Tracer:
    def __init__(self, path: str | Path | None, max_events: int = 2_000_000) -> None:
        self.path = Path(path) if path is not None else None  # None: kept in memory (Graph.start_trace)
        self.events: list[dict[str, Any]] = []
        self.max_events = max_events
        self.dropped = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _add(self, event: dict[str, Any]) -> None:
        with self._lock:
            if len(self.events) < self.max_events:
                self.events.append(event)
            else:
                self.dropped += 1

    def span(self, node: str, ts: int | None, start_ns: int, end_ns: int,
             picked: list[tuple[str, Any]]) -> None:
        """One process() call; ``picked``: the (stream, packet) pairs it received."""
        tid = threading.get_ident()
        args: dict[str, Any] = {"timestamp_us": ts} if ts is not None else {}
        self._add({"name": node, "cat": "process", "ph": "X", "ts": start_ns / 1000.0,
                   "dur": (end_ns - start_ns) / 1000.0, "pid": self._pid, "tid": tid, "args": args})
        for stream, packet in picked:  # flow end: the packet arrives at this call
            self._add({"name": stream, "cat": "packet", "ph": "f", "bp": "e", "id": _flow_id(stream, packet),
                       "ts": start_ns / 1000.0, "pid": self._pid, "tid": tid})

    def flow_start(self, stream: str, packet: Any, at_ns: int) -> None:
        self._add({"name": stream, "cat": "packet", "ph": "s", "id": _flow_id(stream, packet),
                   "ts": at_ns / 1000.0 - 0.001, "pid": self._pid, "tid": threading.get_ident()})

    def document(self, thread_names: dict[int, str] | None = None) -> dict[str, Any]:
        """The trace as a Chrome-trace JSON object."""
        meta = [{"name": "thread_name", "ph": "M", "pid": self._pid, "tid": tid, "args": {"name": name}}
                for tid, name in (thread_names or {}).items()]
        with self._lock:
            events = list(self.events)
        return {"traceEvents": meta + events, "displayTimeUnit": "ms",
                "otherData": {"producer": "graphflow", "events_dropped": self.dropped}}

    def write(self, thread_names: dict[int, str] | None = None) -> Path:
        if self.path is None:
            raise ValueError("this tracer keeps its events in memory: use document()")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.document(thread_names)))
        return self.path


def _flow_id(stream: str, packet: Any) -> int:
    return hash((stream, packet._timestamp._us)) & 0x7FFFFFFFFFFF
