"""Input queues and input policies: when is a node ready, and with which packets.

Vocabulary (MediaPipe's): each input queue has a *bound*, the smallest timestamp a future packet on it may carry.
Timestamp T is *settled* on an input when a packet at T is queued there, or when the bound is past T (nothing at T
will ever come: the input is *empty* at T).

- ``default`` policy: let T = the smallest timestamp queued on any input. The node runs for T once T is settled
  on every input; inputs without a packet at T are delivered empty. Back-edge inputs never hold a node back.
- ``immediate`` policy: the node runs as soon as any input has a packet, with the packets at the smallest queued
  timestamp (others empty). Calculators with ``process_timestamp_bounds = True`` are also called when a bound
  moves with no packet (``ctx.input_bound(tag)`` tells them where it is).

Queue policies on an input: ``block`` (bounded; a full queue holds back its producer: back-pressure reaches the
source and the caller's ``add_packet``), ``drop_oldest`` (bounded; the oldest queued packet is dropped and counted),
``latest_only`` (only the newest packet is kept; every replaced packet is counted).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .timestamp import MAX_US

if TYPE_CHECKING:
    from .packet import Packet

DONE_US = 2**63 - 1  # Timestamp.DONE
UNSTARTED_US = -(2**63) + 1
POST_STREAM_US = MAX_US + 1


class InputQueue:
    """The packets waiting on one input of one node (a stream's consumer end)."""

    __slots__ = ("node", "tag", "index", "stream", "packets", "bound", "capacity", "policy", "drops", "high_water",
                 "back_edge", "blocking", "received", "overflows", "seen_bound", "key")

    def __init__(self, node: Any, tag: str, index: int, stream: str, capacity: int, policy: str,
                 back_edge: bool) -> None:
        self.node = node
        self.tag = tag
        self.index = index
        self.stream = stream
        self.packets: deque[Packet] = deque()
        self.bound = UNSTARTED_US
        self.seen_bound = UNSTARTED_US
        self.capacity = 1 if policy == "latest_only" else capacity
        self.policy = policy
        self.blocking = policy == "block"
        self.drops = 0
        self.overflows = 0  # packets let in above capacity to break a back-pressure deadlock
        self.high_water = 0
        self.received = 0
        self.back_edge = back_edge
        self.key = tag if index == 0 else (tag, index)  # how the node's context looks this input up

    def push(self, packet: Packet, ts: int) -> None:
        packets = self.packets
        if not self.blocking and len(packets) >= self.capacity:
            if self.policy == "latest_only":
                self.drops += len(packets)
                packets.clear()
            else:
                packets.popleft()
                self.drops += 1
        elif self.blocking and len(packets) >= self.capacity:
            self.overflows += 1
        packets.append(packet)
        self.received += 1
        n = len(packets)
        if n > self.high_water:
            self.high_water = n
        if ts >= self.bound:
            self.bound = ts + 1

    def full(self) -> bool:
        return self.blocking and len(self.packets) >= self.capacity


NOT_READY = None
DONE = "done"


def _min_head(queues: list[InputQueue]) -> int:
    """The smallest timestamp queued on any input (DONE_US when all are empty)."""
    min_ts = DONE_US
    for q in queues:
        if q.packets:
            h = q.packets[0]._timestamp._us
            if h < min_ts:
                min_ts = h
    return min_ts


def _pop_at(queues: list[InputQueue], ts: int) -> tuple[tuple[InputQueue, Packet], ...]:
    """Pop the head packet of every input whose head is at ``ts``."""
    return tuple((q, q.packets.popleft()) for q in queues if q.packets and q.packets[0]._timestamp._us == ts)


def default_ready(queues: list[InputQueue]) -> Any:
    """Next input set under the default policy: (ts, {queue: packet}) | NOT_READY | DONE."""
    if len(queues) == 1:  # fast path: one input is settled whenever it holds a packet
        q = queues[0]
        if q.packets:
            p = q.packets.popleft()
            return p._timestamp._us, ((q, p),)
        return DONE if q.bound >= DONE_US else NOT_READY
    min_ts = _min_head(queues)
    if min_ts == DONE_US:
        for q in queues:
            if q.bound < DONE_US and not q.back_edge:
                return NOT_READY
        return DONE
    for q in queues:
        if not q.packets and q.bound <= min_ts and not q.back_edge:
            return NOT_READY
    return min_ts, _pop_at(queues, min_ts)


def immediate_ready(queues: list[InputQueue], bounds_too: bool) -> Any:
    """Next input set under the immediate policy."""
    min_ts = _min_head(queues)
    if min_ts < DONE_US:
        return min_ts, _pop_at(queues, min_ts)
    if all(q.bound >= DONE_US for q in queues):
        return DONE
    if not bounds_too and all(q.bound >= DONE_US or q.back_edge for q in queues):
        # only back edges remain open, and their producers wait on this node to close: finish now. (Nodes that
        # see bounds decide for themselves when a loop is over, by raising StopSource.)
        return DONE
    if bounds_too:
        moved = False
        for q in queues:
            if q.bound != q.seen_bound:
                q.seen_bound = q.bound
                moved = True
        if moved:
            return min(q.bound for q in queues) - 1, ()
    return NOT_READY


def settled_bound(queues: list[InputQueue]) -> int:
    """The smallest timestamp this node may still process (for propagating bounds downstream)."""
    lowest = DONE_US
    for q in queues:
        if q.back_edge:
            continue
        b = q.packets[0]._timestamp._us if q.packets else q.bound
        if b < lowest:
            lowest = b
    return lowest
