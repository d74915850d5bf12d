"""Per-run state of streams and nodes, and the ``Context`` calculators see. Used by ``scheduler.py`` only."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from .calculator import Calculator
from .errors import TimestampError
from .packet import Packet
from .policies import InputQueue, Readiness
from .timestamp import UNSET_US, UNSTARTED_US, Timestamp, _from_raw

if TYPE_CHECKING:
    from collections.abc import Callable

    from .validate import NodeInfo

_new_packet = object.__new__
LATENCY_SAMPLES = 4096  # per node, the most recent process() durations kept for percentiles
LATENCY_MASK = LATENCY_SAMPLES - 1
assert LATENCY_SAMPLES & LATENCY_MASK == 0, "LATENCY_SAMPLES must be a power of two"


def make_packet(payload: Any, ts: Timestamp) -> Packet:
    """Fast internal constructor (skips the public one's checks; ``ts`` is already a Timestamp)."""
    p = _new_packet(Packet)
    p._payload = payload
    p._timestamp = ts
    return p


class NodeState(enum.Enum):
    IDLE = "idle"  # not queued for a worker
    SCHEDULED = "scheduled"  # in the ready queue
    RUNNING = "running"  # a worker (or the caller's thread) holds it


IDLE, SCHEDULED, RUNNING = NodeState.IDLE, NodeState.SCHEDULED, NodeState.RUNNING


class StreamRuntime:
    """One stream: its consumers' queues, what watches it from outside the graph, and its two bounds.

    ``promised`` is the producer's side (no packet below it may still be emitted: the last packet's timestamp + 1
    or a ``set_bound``; updated at once by the producing call). ``bound`` is the consumers' side (what delivery
    has made visible; moved under the scheduler lock).
    """

    __slots__ = ("name", "consumers", "observers", "bound_observers", "pollers", "last_ts", "promised", "bound",
                 "count", "producer", "is_graph_output", "watched")

    def __init__(self, name: str, producer: str | None) -> None:
        self.name = name
        self.producer = producer
        self.consumers: list[InputQueue] = []
        self.observers: list[Callable[[Packet], None]] = []
        self.bound_observers: list[Callable[[Timestamp], None]] = []
        self.pollers: list[Any] = []  # OutputPoller channels
        self.last_ts = UNSET_US
        self.promised = UNSTARTED_US
        self.bound = UNSTARTED_US
        self.count = 0
        self.is_graph_output = False
        self.watched = False  # anything outside the graph (observer, poller) wants its packets or bounds

    def update_watched(self) -> None:
        self.watched = bool(self.observers or self.bound_observers or self.pollers)

    def check(self, ts: int) -> None:
        """Raise the ``TimestampError`` for a packet at ``ts`` below ``promised``."""
        who = f"node '{self.producer}'" if self.producer else "the application (add_packet)"
        if ts <= self.last_ts:
            what = f"is not greater than the previous packet's {_from_raw(self.last_ts)}"
        else:
            what = f"is below the stream's bound {_from_raw(self.promised)} (set with set_bound)"
        raise TimestampError(f"stream '{self.name}': timestamp {_from_raw(ts)} from {who} {what}; timestamps on a "
                             "stream must strictly increase")


class NodeRuntime:
    """A calculator instance with its queues, outputs and bookkeeping."""

    def __init__(self, info: NodeInfo, index: int) -> None:
        self.info = info
        self.name = info.name
        self.index = index
        self.calculator: Calculator = info.cls(info.options)
        self.inputs: list[InputQueue] = []
        self.inputs_by_tag: dict[str, list[InputQueue]] = {}
        self.outputs: dict[str, list[StreamRuntime]] = {}
        self.out_streams: list[StreamRuntime] = []
        self.side: dict[str, list[Any]] = {}
        self.policy = info.input_policy
        self.offset = info.cls.timestamp_offset
        self.bounds_too = bool(getattr(info.cls, "process_timestamp_bounds", False))
        self.is_source = not info.spec.inputs
        self.state = IDLE
        self.opened = False
        self.closed = False
        self.stop_requested = False  # StopSource raised, or Graph.stop() for a source: finish at the next step
        self.out_bound = UNSTARTED_US
        self.relief = 0  # input sets it may run although a queue downstream is full (deadlock relief)
        self.close_on_release = False
        self.notifying: str | None = None  # stream whose graph observers this node's worker is calling
        self.block_queues: list[InputQueue] = []  # blocking queues this node feeds (filled by the scheduler)
        self.readiness: Readiness | None = None  # chosen by the scheduler at build
        self.take: Callable[[], int] | None = None  # the scheduler's rule for this node (see Scheduler._make_take)
        self.step: Callable[..., object] | None = None  # one input set: step(out, handed=False) (Scheduler._make_step)
        self.has_turn: Callable[[], bool] | None = None  # would a step now do anything (Scheduler._make_step)
        self.is_heavy = True  # see record_call
        self.link: NodeRuntime | None = None  # the node whose step may follow this one's in the same thread
        # stats
        self.calls = 0
        self.busy_ns = 0
        self.latencies: list[int] = [0] * LATENCY_SAMPLES
        self.counters: dict[str, int] = {}
        self.ctx = NodeContext(self)

    def record_call(self, duration_ns: int) -> None:
        """Account one process() call and decide ``is_heavy``: worth a worker of its own because its calls take
        long (torch, OpenCV, blocking reads: they release the GIL), or not run often enough yet to tell. Light
        nodes are microsecond-long Python calls, best run in the thread that made them ready."""
        calls = self.calls
        self.latencies[calls & LATENCY_MASK] = duration_ns
        self.calls = calls = calls + 1
        self.busy_ns += duration_ns
        self.is_heavy = calls < HEAVY_PROBE_CALLS or self.busy_ns > HEAVY_NS * calls

    def throttled(self) -> bool:
        """A blocking queue it feeds is full (it must wait for its consumers)."""
        for q in self.block_queues:
            if len(q.packets) >= q.capacity:
                return True
        return False

    def latency_samples(self) -> list[int]:
        return self.latencies[:min(self.calls, LATENCY_SAMPLES)]


HEAVY_NS = 200_000  # a node whose process() takes longer on average is worth waking a second worker for
HEAVY_PROBE_CALLS = 8  # calls before a node's average is trusted


class NodeContext:
    """The ``Context`` a calculator's open/process/close receives (see ``calculator.Context``)."""

    __slots__ = ("_node", "node_name", "options", "_ts", "_ts_obj", "_inputs", "pending", "_side", "_multi",
                 "_in_tags", "_out")

    def __init__(self, node: NodeRuntime) -> None:
        cls = node.info.cls
        self._node = node
        self.node_name = node.name
        self.options = node.info.options
        self._ts = UNSET_US
        self._ts_obj: Timestamp = Timestamp.UNSET  # type: ignore[attr-defined]
        self._inputs: dict[Any, Packet] = {}  # key: tag for index 0, (tag, index) otherwise
        self.pending: list[tuple[StreamRuntime, Packet | None, int]] = []
        self._side: dict[str, list[Any]] = node.side
        ports = cls.input_ports()
        self._in_tags = frozenset(ports)
        self._multi = frozenset(t for t, p in ports.items() if p.multiple)
        # every declared output tag -> its connected streams ([] when unconnected); filled by the scheduler
        self._out: dict[str, list[StreamRuntime]] = {t: [] for t in cls.output_ports()}

    def _reset(self) -> None:
        """No input set: open() and close() see timestamp UNSET and no inputs."""
        self._ts = UNSET_US
        self._ts_obj = Timestamp.UNSET  # type: ignore[attr-defined]
        self._inputs = {}

    @property
    def timestamp(self) -> Timestamp:
        return self._ts_obj

    def _unknown_input(self, tag: str) -> KeyError:
        return KeyError(f"node '{self.node_name}': {type(self._node.calculator).__name__} has no input '{tag}'")

    def get(self, tag: str, default: Any = None) -> Any:
        if tag in self._multi:
            return [default if (p := self._inputs.get(q.key)) is None else p._payload
                    for q in self._node.inputs_by_tag.get(tag, ())]
        p = self._inputs.get(tag)
        if p is None:
            if tag not in self._in_tags:
                raise self._unknown_input(tag)
            return default
        return p._payload

    def packet(self, tag: str, index: int = 0) -> Packet | None:
        return self._inputs.get(tag if index == 0 else (tag, index))

    def has(self, tag: str, index: int = 0) -> bool:
        return (tag if index == 0 else (tag, index)) in self._inputs

    def input_bound(self, tag: str, index: int = 0) -> Timestamp:
        for q in self._node.inputs_by_tag.get(tag, ()):
            if q.index == index:  # packets still queued count: the next one may arrive at its head's timestamp
                return q.packets[0]._timestamp if q.packets else _from_raw(q.bound)
        return Timestamp.UNSET  # type: ignore[attr-defined, no-any-return]

    def _streams(self, tag: str) -> list[StreamRuntime]:
        streams = self._out.get(tag)
        if streams is None:
            ports = self._node.info.cls.output_ports()
            raise KeyError(f"node '{self.node_name}': {type(self._node.calculator).__name__} has no output "
                           f"'{tag}' (its outputs: {', '.join(ports) or 'none'})")
        return streams

    def emit(self, tag: str, payload: Any, timestamp: int | Timestamp | None = None, index: int = 0) -> None:
        if timestamp is None:
            ts_obj = self._ts_obj
            if self._ts <= UNSTARTED_US:
                raise TimestampError(f"node '{self.node_name}': emit('{tag}') needs an explicit timestamp here "
                                     "(no input timestamp in open/close or in a source)")
        else:
            ts_obj = timestamp if isinstance(timestamp, Timestamp) else Timestamp(timestamp)
        packet = _new_packet(Packet)  # make_packet, inlined: emit is every calculator's hot call
        packet._payload = payload
        packet._timestamp = ts_obj
        self.emit_packet(tag, packet, index)

    def emit_packet(self, tag: str, packet: Packet, index: int = 0) -> None:
        streams = self._out.get(tag)
        if streams is None:
            streams = self._streams(tag)  # raises for an unknown tag
        if index >= len(streams):
            return  # output not connected: nothing to do
        s = streams[index]
        ts = packet._timestamp._us
        if ts < s.promised:
            s.check(ts)  # raises with the details
        s.last_ts = ts
        s.promised = ts + 1
        self.pending.append((s, packet, ts))

    def set_bound(self, tag: str, timestamp: int | Timestamp, index: int = 0) -> None:
        """Applies at once: a later ``emit`` below ``timestamp`` in the same call is an error there."""
        streams = self._streams(tag)
        if index < len(streams):
            s = streams[index]
            ts = timestamp._us if isinstance(timestamp, Timestamp) else int(timestamp)
            if ts > s.promised:
                s.promised = ts
                self.pending.append((s, None, ts))

    def side(self, tag: str, default: Any = None) -> Any:
        values = self._side.get(tag)
        if values is None:
            return default
        if self._node.info.cls.side_input_ports()[tag].multiple:
            return list(values)
        return values[0]

    def count(self, counter: str, n: int = 1) -> None:
        c = self._node.counters
        c[counter] = c.get(counter, 0) + n

    def input_count(self, tag: str) -> int:
        return len(self._node.inputs_by_tag.get(tag, ()))

    def output_count(self, tag: str) -> int:
        return len(self._out.get(tag, ()))

    def output_connected(self, tag: str) -> bool:
        return bool(self._out.get(tag))
