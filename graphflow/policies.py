"""Input queues and input policies: when is a node ready, and with which packets.

Vocabulary (MediaPipe's): each input queue has a *bound*, the smallest timestamp a future packet on it may carry.
Timestamp T is *settled* on an input when a packet at T is queued there, or when the bound is past T (nothing at T
will ever come: the input is *empty* at T).

- ``default`` policy: let T = the smallest timestamp queued on any input. The node runs for T once T is settled
  on every input; inputs without a packet at T are delivered empty. (Back edges into a default-policy node are
  refused at validation: the loop's packet at T could only come after the node ran at T.)
- ``immediate`` policy: the node runs as soon as any input has a packet, with the packets at the smallest queued
  timestamp (others empty). Calculators with ``process_timestamp_bounds = True`` are also called when a bound
  moves with no packet (``ctx.input_bound(tag)`` tells them where it is).

Each rule is written once, as a ``Readiness`` class. ``readiness_for`` picks one per node when the graph starts;
for the commonest shape (one synchronised input) it picks ``SingleInputReadiness``, the default rule specialised
to one queue (the only queue's head is the smallest queued timestamp and is settled by being queued). The
scheduler can be told not to specialise (``Scheduler(specialize=False)``); the tests run graphs both ways.

Queue policies on an input: ``block`` (bounded; a full queue holds back its producer: back-pressure reaches the
source and the caller's ``add_packet``), ``drop_oldest`` (bounded; the oldest queued packet is dropped and counted),
``latest_only`` (only the newest packet is kept; every replaced packet is counted). A closed node's queues drop
(and count) whatever still arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .timestamp import DONE_US, UNSET_US, UNSTARTED_US, Timestamp, _from_raw

if TYPE_CHECKING:
    from .packet import Packet

QUEUE_POLICIES = ("block", "drop_oldest", "latest_only")

# What a Readiness.take() returns.
READY = 1
NOT_READY = 0
DONE = -1


class InputQueue:
    """The packets waiting on one input of one node (a stream's consumer end).

    ``push`` is chosen once per queue from its policy (``_push_block``, ``_push_drop_oldest``,
    ``_push_latest_only``) and becomes ``_push_closed`` when the node closes.
    """

    __slots__ = ("node", "tag", "index", "stream", "packets", "bound", "capacity", "policy", "drops", "high_water",
                 "back_edge", "blocking", "received", "overflows", "seen_bound", "key", "push", "dropped_at_close")

    def __init__(self, node: Any, tag: str, index: int, stream: str, capacity: int, policy: str,
                 back_edge: bool) -> None:
        if policy not in QUEUE_POLICIES:
            raise ValueError(f"queue policy must be one of {QUEUE_POLICIES}, got {policy!r}")
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
        self.drops = 0  # packets this queue discarded by its policy (or because its node had closed)
        self.dropped_at_close = 0  # of those: packets still queued, or arriving, after the node closed
        self.overflows = 0  # packets let in above capacity to break a back-pressure deadlock (block only)
        self.high_water = 0
        self.received = 0
        self.back_edge = back_edge
        self.key = tag if index == 0 else (tag, index)  # how the node's context looks this input up
        self.push: Callable[[Packet, int], None] = getattr(self, "_push_" + policy)

    def _push_block(self, packet: Packet, ts: int) -> None:
        packets = self.packets
        packets.append(packet)
        self.received += 1
        self.bound = ts + 1  # the stream already checked ts against its bound
        n = len(packets)
        if n > self.high_water:
            self.high_water = n
        if n > self.capacity:
            self.overflows += 1

    def _push_drop_oldest(self, packet: Packet, ts: int) -> None:
        packets = self.packets
        if len(packets) >= self.capacity:
            packets.popleft()
            self.drops += 1
        packets.append(packet)
        self.received += 1
        self.bound = ts + 1
        if len(packets) > self.high_water:
            self.high_water = len(packets)

    def _push_latest_only(self, packet: Packet, ts: int) -> None:
        packets = self.packets
        if packets:
            self.drops += len(packets)
            packets.clear()
        packets.append(packet)
        self.received += 1
        self.bound = ts + 1
        if self.high_water == 0:
            self.high_water = 1

    def _push_closed(self, packet: Packet, ts: int) -> None:
        self.received += 1
        self.drops += 1
        self.dropped_at_close += 1
        self.bound = ts + 1

    def close(self) -> None:
        """The node is closed: count what is still queued as dropped, and drop whatever comes later."""
        n = len(self.packets)
        self.drops += n
        self.dropped_at_close += n
        self.packets.clear()
        self.push = self._push_closed

    def full(self) -> bool:
        return self.blocking and len(self.packets) >= self.capacity


class Readiness:
    """Picks a node's next input set. ``take()`` pops it into the node's context and returns READY, or returns
    NOT_READY / DONE; ``peek()`` says whether ``take()`` would return READY, without popping."""

    def __init__(self, queues: list[InputQueue], ctx: Any, space_freed: Callable[[InputQueue], None]) -> None:
        self.queues = queues
        self.ctx = ctx
        self.space_freed = space_freed  # called when a pop takes a block queue from full to not full

    def take(self) -> int:
        raise NotImplementedError

    def peek(self) -> bool:
        raise NotImplementedError

    def has_work(self) -> bool:
        """Whether ``take()`` would return READY or DONE (not NOT_READY), without popping."""
        raise NotImplementedError

    def settled_bound(self) -> int:
        """The smallest timestamp this node may still process (for propagating bounds downstream)."""
        lowest = DONE_US
        for q in self.queues:
            if q.back_edge:
                continue
            b = q.packets[0]._timestamp._us if q.packets else q.bound
            if b < lowest:
                lowest = b
        return lowest

    def _pop_at(self, ts: int) -> None:
        """Pop the head packet of every input whose head is at ``ts`` into the context."""
        picked = {}
        first = None
        for q in self.queues:
            packets = q.packets
            if packets and packets[0]._timestamp._us == ts:
                p = packets.popleft()
                picked[q.key] = p
                if first is None:
                    first = p
                if q.blocking and len(packets) + 1 == q.capacity:
                    self.space_freed(q)
        ctx = self.ctx
        ctx._ts = ts
        ctx._ts_obj = first._timestamp if first is not None else _from_raw(ts)
        ctx._inputs = picked


def _min_head(queues: list[InputQueue]) -> int:
    """The smallest timestamp queued on any input (DONE_US when all are empty)."""
    min_ts = DONE_US
    for q in queues:
        if q.packets:
            h = q.packets[0]._timestamp._us
            if h < min_ts:
                min_ts = h
    return min_ts


class DefaultReadiness(Readiness):
    """The default (timestamp-synchronised) policy: the smallest queued timestamp, once settled on every input."""

    def _settled(self) -> int | None:
        """The timestamp to run at, or None (not yet); DONE_US when every input has ended."""
        queues = self.queues
        min_ts = _min_head(queues)
        if min_ts == DONE_US:
            for q in queues:
                if q.bound < DONE_US:
                    return None
            return DONE_US
        for q in queues:
            if not q.packets and q.bound <= min_ts:
                return None
        return min_ts

    def take(self) -> int:
        ts = self._settled()
        if ts is None:
            return NOT_READY
        if ts == DONE_US:
            return DONE
        self._pop_at(ts)
        return READY

    def peek(self) -> bool:
        ts = self._settled()
        return ts is not None and ts != DONE_US

    def has_work(self) -> bool:
        return self._settled() is not None


class SingleInputReadiness(DefaultReadiness):
    """``DefaultReadiness`` specialised to one input: its head is settled as soon as it is queued."""

    def __init__(self, queues: list[InputQueue], ctx: Any, space_freed: Callable[[InputQueue], None]) -> None:
        super().__init__(queues, ctx, space_freed)
        self.q = queues[0]
        self.inputs: dict[Any, Packet] = {}

    def take(self) -> int:
        q = self.q
        packets = q.packets
        if packets:
            p = packets.popleft()
            if q.blocking and len(packets) + 1 == q.capacity:
                self.space_freed(q)
            ctx = self.ctx
            t = p._timestamp
            ctx._ts_obj = t
            ctx._ts = t._us
            inputs = self.inputs  # one dict for every call: the key never changes
            inputs[q.key] = p
            ctx._inputs = inputs
            return READY
        return DONE if q.bound >= DONE_US else NOT_READY

    def peek(self) -> bool:
        return bool(self.q.packets)

    def has_work(self) -> bool:
        return bool(self.q.packets) or self.q.bound >= DONE_US

    def settled_bound(self) -> int:
        # Readiness.settled_bound over one queue (never a back edge: those are refused into default-policy nodes)
        packets = self.q.packets
        return packets[0]._timestamp._us if packets else self.q.bound

    def hand(self, packet: Packet) -> None:
        """``take()`` of ``packet`` as if it had just been pushed into the empty queue (the scheduler's hand-off to
        an idle linked node): the queue counts it as ``InputQueue.push`` would (a push into an empty queue drops
        nothing under any policy, and take's pop leaves it empty again), and the context gets it as ``take`` sets
        it."""
        q = self.q
        t = packet._timestamp
        q.received += 1
        q.bound = t._us + 1
        if not q.high_water:
            q.high_water = 1
        ctx = self.ctx
        ctx._ts_obj = t
        ctx._ts = t._us
        inputs = self.inputs
        inputs[q.key] = packet
        ctx._inputs = inputs

    def turn_test(self, node: Any, offset: int | None) -> Callable[[], bool]:
        """The scheduler's ``has_turn`` for this node (``Scheduler._make_step``: stopping, or ``has_work()``, or, for
        a synchronised node (``offset`` not None), ``settled_bound() + offset`` past its outputs' bound), with
        ``has_work`` and ``settled_bound`` read off the one queue in place: a queued packet is work, and with none
        queued the settled bound is the queue's bound. It runs after every call of a linked node."""
        q = self.q
        packets = q.packets
        if offset is None:
            def has_turn() -> bool:
                return node.stop_requested or bool(packets) or q.bound >= DONE_US
        else:
            def has_turn() -> bool:
                if node.stop_requested or packets:
                    return True
                bound = q.bound
                return bound >= DONE_US or bound + offset > node.out_bound
        return has_turn


class ImmediateReadiness(Readiness):
    """The immediate policy: any queued packet runs the node (with everything queued at the smallest timestamp)."""

    def __init__(self, queues: list[InputQueue], ctx: Any, space_freed: Callable[[InputQueue], None],
                 bounds_too: bool) -> None:
        super().__init__(queues, ctx, space_freed)
        self.bounds_too = bounds_too

    def _bounds_moved(self) -> bool:
        return self.bounds_too and any(q.bound != q.seen_bound for q in self.queues)

    def _status(self, min_ts: int) -> int:
        """What ``take`` returns, given the smallest queued timestamp (nothing is popped)."""
        queues = self.queues
        if min_ts < DONE_US:
            return READY
        if all(q.bound >= DONE_US for q in queues):
            return DONE
        if not self.bounds_too and all(q.bound >= DONE_US or q.back_edge for q in queues):
            # only back edges remain open, and their producers wait on this node to close: finish now. (Nodes that
            # see bounds decide for themselves when a loop is over, by raising StopSource.)
            return DONE
        return READY if self._bounds_moved() else NOT_READY

    def take(self) -> int:
        queues = self.queues
        min_ts = _min_head(queues)
        status = self._status(min_ts)
        if status != READY:
            return status
        if min_ts < DONE_US:
            self._pop_at(min_ts)
            return READY
        for q in queues:  # a bound moved with no packet
            q.seen_bound = q.bound
        ctx = self.ctx
        ts = min(q.bound for q in queues) - 1
        ctx._ts = ts
        ctx._ts_obj = _from_raw(ts)
        ctx._inputs = {}
        return READY

    def peek(self) -> bool:
        return _min_head(self.queues) < DONE_US or self._bounds_moved()

    def has_work(self) -> bool:
        return self._status(_min_head(self.queues)) != NOT_READY


class SourceReadiness(Readiness):
    """A node without inputs runs again and again (until it raises StopSource)."""

    _EMPTY: dict[Any, Packet] = {}

    def take(self) -> int:
        ctx = self.ctx
        ctx._ts = UNSET_US
        ctx._ts_obj = Timestamp.UNSET  # type: ignore[attr-defined]
        ctx._inputs = self._EMPTY
        return READY

    def peek(self) -> bool:
        return True

    def has_work(self) -> bool:
        return True

    def settled_bound(self) -> int:
        return DONE_US


def readiness_for(policy: str, queues: list[InputQueue], ctx: Any, space_freed: Callable[[InputQueue], None],
                  bounds_too: bool, specialize: bool = True) -> Readiness:
    """The readiness rule of a node, chosen once when the graph starts."""
    if not queues:
        return SourceReadiness(queues, ctx, space_freed)
    if policy == "immediate":
        return ImmediateReadiness(queues, ctx, space_freed, bounds_too)
    if specialize and len(queues) == 1:
        return SingleInputReadiness(queues, ctx, space_freed)
    return DefaultReadiness(queues, ctx, space_freed)
