"""A distributed run ends when its last part does, not at the next tick of a timed wait.

``wait_until_done`` used to return up to 0.1 s after the last packet (the monitor thread slept in slices while
the driver's part finished, and the driver's finish loop heard of a closed bridge only at its next 50 ms slice):
on a short run that was a fifth of the wall time. Here the driver's timed slices are made 20 s long; a run that
still relied on one would take that long, an event-driven one finishes at once.
"""

from __future__ import annotations

import sys
import time

from test_ray_equivalence import CHAIN  # groups a -> b -> a, then the driver

from graphflow.distributed import actor, ray_graph

SLICE_S = 20.0
ENDS_WITHIN_S = 8.0  # far above a clean finish (well under a second), far below one slice


def test_wait_until_done_returns_when_the_last_part_finishes(clean, monkeypatch):
    module = sys.modules["graphflow.distributed.ray_graph"]  # the package exports a function of the same name
    monkeypatch.setattr(module, "MONITOR_SLICE_S", SLICE_S)
    monkeypatch.setattr(module, "FINISH_SLICE_S", SLICE_S)
    monkeypatch.setattr(actor, "WAIT_SLICE_S", SLICE_S)  # the driver part's finish loop and its pullers...
    monkeypatch.setattr(actor, "LONG_POLL_MAX_S", SLICE_S)  # ...whose long polls, once idle, wait up to this
    graph = ray_graph(CHAIN)
    out: list[int] = []
    graph.observe("z", lambda p: out.append(p.payload))
    graph.start()
    try:
        for t in range(50):
            graph.add_packet("x", t, t)
        deadline = time.monotonic() + 30
        while len(out) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        graph.wait_until_done(timeout=60)
        took = time.monotonic() - t0
    finally:
        graph.cancel()
    assert out == list(range(50))
    assert took < ENDS_WITHIN_S, f"wait_until_done took {took:.1f} s after the last packet: a timed slice ran out"
