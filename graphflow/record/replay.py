"""Replay: re-drive a graph's input streams from a recording, at recorded pace (speed 1), scaled (speed x) or as
fast as possible (speed 0).

    rec = Recording("run.mcap")
    graph = Graph.from_yaml("graphs/hand_tracking.yaml", **replay_graph_kwargs(0.0))  # lossless: no timing drops
    graph.start()
    drive(graph, rec, speed=0.0)        # feeds 'image' (every recorded graph input), closes the inputs
    graph.close()

Packets keep their recorded timestamps and order; recorded bound advances become ``Graph.set_input_bound`` calls
(where the engine has it), so nodes fire exactly where they fired in the recorded run. As fast as possible, the
graph's ``drop_oldest``/``latest_only`` queues must block instead (``lossless=True``): drops depend on timing, and
a replay that drops differently is not a reproduction. ``loop`` repeats the recording, shifting each pass after
the previous one so timestamps keep increasing.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..timestamp import Timestamp
from .reader import RecordedPacket, Recording, RecordingError
from .writer import KIND_BOUNDS, KIND_PACKETS

DONE_US = Timestamp.DONE.microseconds
DROP_POLICIES = ("drop_oldest", "latest_only")


class Pacer:
    """Sleeps until a timestamp is due: ``speed`` 1 = recorded pace, 2 = twice as fast, 0 = never sleeps."""

    def __init__(self, speed: float, stop: threading.Event | None = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
        self.speed = speed
        self.stop = stop or threading.Event()
        self._origin: tuple[int, float] | None = None

    def wait(self, timestamp_us: int) -> bool:
        """Block until ``timestamp_us`` is due; False when ``stop`` was set meanwhile."""
        if self.speed == 0:
            return not self.stop.is_set()
        now = time.monotonic()
        if self._origin is None:
            self._origin = (timestamp_us, now)
        ts0, t0 = self._origin
        delay = t0 + (timestamp_us - ts0) / 1e6 / self.speed - now
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


def looped(recording: Recording, streams: Iterable[str], *, loop: bool = False,
           bounds: bool = True) -> Iterator[RecordedPacket]:
    """The recording's packets (and bounds) of ``streams``; with ``loop``, forever, each pass shifted to start one
    frame interval after the previous pass ended. A looping replay drops the DONE bounds (the stream never ends)."""
    names = list(streams)
    offset = 0
    while True:
        first = last = prev = None
        for p in recording.packets(names, bounds=bounds):
            if p.kind == KIND_BOUNDS:
                if p.timestamp_us == DONE_US:
                    if not loop:
                        yield p
                    continue
                yield replace(p, timestamp_us=p.timestamp_us + offset)
                continue
            if first is None:
                first = p.timestamp_us
            prev, last = last, p.timestamp_us
            yield replace(p, timestamp_us=p.timestamp_us + offset) if offset else p
        if not loop or first is None or last is None:
            return
        gap = max(1, last - prev) if prev is not None else 1
        offset += last - first + gap


def replay_graph_kwargs(speed: float) -> dict[str, Any]:
    """``Graph``/``Graph.from_yaml`` keywords for a replay: ``lossless=True`` as fast as possible (speed 0)."""
    from ..graph import Graph

    if speed == 0 and "lossless" in inspect.signature(Graph.__init__).parameters:
        return {"lossless": True}
    return {}


def flow_limiters(graph: Any) -> list[str]:
    """FlowLimiter nodes: they drop by in-flight count, i.e. by timing, even in a lossless graph."""
    return [n.name for n in graph.spec.nodes if n.calculator == "FlowLimiter"]


def drop_policy_nodes(graph: Any) -> list[str]:
    """'node.TAG (policy)' for every input queue of ``graph`` that drops packets when full."""
    return [f"{n.name}.{i.tag} ({i.queue_policy})" for n in graph.spec.nodes for i in n.inputs
            if i.queue_policy in DROP_POLICIES]


@dataclass
class ReplayCounts:
    packets: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    wall_s: float = 0.0


def replay_streams(graph: Any, recording: Recording, streams: Iterable[str] | None = None) -> list[str]:
    """The graph inputs to drive: ``streams``, or every graph input stream the recording has."""
    inputs = [n for n, _ in graph.spec.input_streams]
    recorded = recording.streams()
    if streams is not None:
        names = list(streams)
        bad = [s for s in names if s not in inputs]
        if bad:
            raise RecordingError(f"replay: '{bad[0]}' is not an input stream of {graph.spec.source} "
                                 f"(input_streams: {', '.join(inputs) or 'none'})")
        return names
    names = [s for s in inputs if s in recorded]
    if not names:
        raise RecordingError(f"replay: {recording.path} records none of the input streams of {graph.spec.source} "
                             f"(inputs: {', '.join(inputs) or 'none'}; recorded: {', '.join(recorded)})")
    return names


def drive(graph: Any, recording: Recording, *, streams: Iterable[str] | None = None, speed: float = 0.0,
          loop: bool = False, stop: threading.Event | None = None, close_inputs: bool = True) -> ReplayCounts:
    """Feed a started ``graph`` from ``recording`` (see the module docstring); returns what was fed."""
    names = replay_streams(graph, recording, streams)
    pacer = Pacer(speed, stop)
    counts = ReplayCounts({s: 0 for s in names}, {s: 0 for s in names})
    set_bound = getattr(graph, "set_input_bound", None)
    closed: set[str] = set()
    t0 = time.perf_counter()
    try:
        for p in looped(recording, names, loop=loop, bounds=set_bound is not None):
            if p.kind == KIND_PACKETS:
                if not pacer.wait(p.timestamp_us):
                    counts.stopped = True
                    break
                graph.add_packet(p.stream, p.payload, p.timestamp_us, timeout=None)
                counts.packets[p.stream] += 1
            elif p.timestamp_us == DONE_US:
                graph.close_input(p.stream)
                closed.add(p.stream)
            elif set_bound is not None:
                set_bound(p.stream, p.timestamp_us)
                counts.bounds[p.stream] += 1
            if pacer.stop.is_set():
                counts.stopped = True
                break
    finally:
        counts.wall_s = time.perf_counter() - t0
    if close_inputs:
        for s in names:
            if s not in closed:
                graph.close_input(s)
    return counts
