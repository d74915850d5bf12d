"""Per-run state of streams and nodes, and the ``Context`` calculators see. Used by ``scheduler.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .calculator import Calculator
from .errors import TimestampError
from .packet import Packet
from .policies import UNSTARTED_US, InputQueue
from .timestamp import Timestamp, _from_raw

if TYPE_CHECKING:
    from .validate import NodeInfo

_SET_PAYLOAD = Packet._payload.__set__  # type: ignore[attr-defined]
_SET_TS = Packet._timestamp.__set__  # type: ignore[attr-defined]
_new_packet = Packet.__new__


def make_packet(payload: Any, ts: Timestamp) -> Packet:
    """Fast internal constructor (skips the public one's checks; ``ts`` is already a Timestamp)."""
    p = _new_packet(Packet)
    _SET_PAYLOAD(p, payload)
    _SET_TS(p, ts)
    return p


class StreamRuntime:
    """One stream: its consumers' queues, graph observers, and ordering state."""

    __slots__ = ("name", "consumers", "observers", "pollers", "last_ts", "bound", "count", "producer",
                 "is_graph_output")

    def __init__(self, name: str, producer: str | None) -> None:
        self.name = name
        self.producer = producer
        self.consumers: list[InputQueue] = []
        self.observers: list[Any] = []
        self.pollers: list[Any] = []
        self.last_ts = UNSTARTED_US - 1
        self.bound = UNSTARTED_US
        self.count = 0
        self.is_graph_output = False

    def check(self, ts: int) -> None:
        if ts <= self.last_ts or ts < self.bound:
            prev = _from_raw(self.last_ts) if self.last_ts >= UNSTARTED_US else None
            what = (f"is not greater than the previous packet's {prev}" if prev is not None and ts <= self.last_ts
                    else f"is below the stream's bound {_from_raw(self.bound)}")
            who = f"node '{self.producer}'" if self.producer else "the application (add_packet)"
            raise TimestampError(
                f"stream '{self.name}': timestamp {_from_raw(ts)} from {who} {what}; timestamps on a stream must "
                "strictly increase")


class NodeRuntime:
    """A calculator instance with its queues, outputs and bookkeeping."""

    IDLE, SCHEDULED, RUNNING = 0, 1, 2

    def __init__(self, info: NodeInfo, index: int) -> None:
        self.info = info
        self.name = info.name
        self.index = index
        self.calculator: Calculator = info.cls(info.options)
        self.inputs: list[InputQueue] = []
        self.inputs_by_tag: dict[str, list[InputQueue]] = {}
        self.outputs: dict[str, list[StreamRuntime]] = {}
        self.side: dict[str, list[Any]] = {}
        self.policy = info.input_policy
        self.offset = info.cls.timestamp_offset
        self.bounds_too = bool(getattr(info.cls, "process_timestamp_bounds", False))
        self.is_source = not info.spec.inputs
        self.state = NodeRuntime.IDLE
        self.opened = False
        self.closed = False
        self.source_stopped = False
        self.current_ts = UNSTARTED_US
        self.out_bound = UNSTARTED_US
        self.throttle_override = False
        self.close_on_release = False
        self.notifying: str | None = None  # stream whose graph observers this node's worker is calling
        # stats
        self.calls = 0
        self.busy_ns = 0
        self.latencies: list[int] = []
        self.block_queues: list[InputQueue] = []  # blocking queues this node feeds (filled by the scheduler)
        self.fast = False
        self.single_output: StreamRuntime | None = None
        self.counters: dict[str, int] = {}
        self.ctx = NodeContext(self)

    def downstream_full(self) -> bool:
        if self.throttle_override:
            return False
        for q in self.block_queues:
            if len(q.packets) >= q.capacity:
                return True
        return False


class NodeContext:
    """The ``Context`` a calculator's open/process/close receives (see ``calculator.Context``)."""

    __slots__ = ("_node", "node_name", "options", "_ts", "_ts_obj", "_inputs", "pending", "_side")

    def __init__(self, node: NodeRuntime) -> None:
        self._node = node
        self.node_name = node.name
        self.options = node.info.options
        self._ts = UNSTARTED_US
        self._ts_obj: Timestamp = Timestamp.UNSET  # type: ignore[attr-defined]
        self._inputs: dict[Any, Packet] = {}  # key: tag for index 0, (tag, index) otherwise
        self.pending: list[tuple[StreamRuntime, Packet | None, int]] = []
        self._side: dict[str, list[Any]] = node.side

    def _set(self, ts: int, picked: tuple[tuple[InputQueue, Packet], ...]) -> None:
        self._ts = ts
        self._inputs = {q.key: p for q, p in picked}
        self._ts_obj = picked[0][1]._timestamp if picked else _from_raw(ts)

    @property
    def timestamp(self) -> Timestamp:
        return self._ts_obj

    def get(self, tag: str, default: Any = None) -> Any:
        queues = self._node.inputs_by_tag.get(tag)
        if queues is None:
            if tag in self._node.info.cls.input_ports():
                return [] if self._node.info.cls.input_ports()[tag].multiple else default
            raise KeyError(f"node '{self.node_name}': {type(self._node.calculator).__name__} has no input '{tag}'")
        if self._node.info.cls.input_ports()[tag].multiple:
            out = []
            for q in queues:
                p = self._inputs.get(q.key)
                out.append(default if p is None else p._payload)
            return out
        p = self._inputs.get(tag)
        return default if p is None else p._payload

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
        streams = self._node.outputs.get(tag)
        if streams is None:
            ports = self._node.info.cls.output_ports()
            if tag not in ports:
                raise KeyError(f"node '{self.node_name}': {type(self._node.calculator).__name__} has no output "
                               f"'{tag}' (its outputs: {', '.join(ports) or 'none'})")
            return []
        return streams

    def emit(self, tag: str, payload: Any, timestamp: int | Timestamp | None = None, index: int = 0) -> None:
        if timestamp is None:
            ts_obj = self._ts_obj
            ts = self._ts
            if ts <= UNSTARTED_US:
                raise TimestampError(f"node '{self.node_name}': emit('{tag}') needs an explicit timestamp here "
                                     "(no input timestamp in open/close or in a source)")
        else:
            ts_obj = timestamp if isinstance(timestamp, Timestamp) else Timestamp(timestamp)
            ts = ts_obj._us
        self.emit_packet(tag, make_packet(payload, ts_obj), index)

    def emit_packet(self, tag: str, packet: Packet, index: int = 0) -> None:
        streams = self._node.outputs.get(tag)
        if streams is None:
            streams = self._streams(tag)  # raises for an unknown tag
        if index >= len(streams):
            return  # output not connected: nothing to do
        s = streams[index]
        ts = packet._timestamp._us
        if ts <= s.last_ts or ts < s.bound:
            s.check(ts)  # raises with the details
        s.last_ts = ts
        self.pending.append((s, packet, ts))

    def set_bound(self, tag: str, timestamp: int | Timestamp, index: int = 0) -> None:
        streams = self._streams(tag)
        if index < len(streams):
            ts = timestamp._us if isinstance(timestamp, Timestamp) else int(timestamp)
            self.pending.append((streams[index], None, ts))

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
        return len(self._node.outputs.get(tag, ()))

    def output_connected(self, tag: str) -> bool:
        return bool(self._node.outputs.get(tag))

