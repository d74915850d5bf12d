"""The two ends of a bridge edge: ``Outbox`` in the sending part, ``Inbox`` in the receiving part.

An item is ``(seq, ts_us, kind, payload, put_ns)``; ``kind`` is ``PACKET`` or ``BOUND`` (a bound-only message:
no packet below ``ts_us`` will follow; ``DONE_US`` closes the stream). ``seq`` numbers the items an edge sends
(per sender incarnation, assigned as they leave the outbox, so sender-side drops leave no gap): the receiver checks
order itself instead of trusting the transport, and counts gaps as packets lost on the way.

Queue rules (``Edge.policy``), enforced before anything is serialised:

- ``block``: credit-based back-pressure. The sender holds at most ``capacity`` items that the receiver has not yet
  accepted into its engine queue (waiting here, or in transit); ``put_packet`` waits for credit, which comes back
  when the receiver's ``add_packet`` returns (so a full queue over there stops the producer over here).
- ``drop_oldest`` / ``latest_only``: ``put_packet`` never waits; the outbox keeps the newest ``capacity`` packets
  and drops (and counts) the oldest; bounds are never dropped.

Linger (``block`` edges whose producer is a node of the sending part, ``Outbox.more_coming``): a transfer costs
both processes far more than a packet of a busy stream (about 0.6 ms of CPU on each side per Ray call on a small
machine, taken from the GIL-bound nodes of the same processes), so while the producer surely has its next output
due within ``LINGER_S / 2`` (input queued, short calls) the items wait to go together: the transport takes them
once the producer has no more input, the oldest waited ``LINGER_S``, ``MAX_BATCH`` are waiting, or one more would
use the edge's last credit. An idle edge (lock-step traffic, a graph input) never waits. ``LINGER_S`` sets the
trade: a busy edge makes about one call per ``LINGER_S`` (both sides' CPU for it: ~1.1 ms / ``LINGER_S`` of a core,
2.8 % at 40 ms, 5.5 % at 20 ms), and a busy stream's packets (a backlog: they already wait in queues) arrive up
to ``LINGER_S`` later; a pipeline's receiver idles for one linger as it fills.

Two takers, one rule (edges into the driver): the driver's long poll and the reply of a driver -> group push
(piggyback: the reply carries what the group has ready for the driver, so a lock-step round trip is one call) both
take through ``Outbox.take``. A push that waits for its reply's items *claims* the edge for a bounded time
(``claim``, at most ``REPLY_WAIT_S``): meanwhile a long poll leaves the items to it. Batches of one edge then
arrive by two paths in any order: the driver's ``Inbox`` (``reorder=True``) keeps an early batch until the ones
before it arrive (``settle``: the transport says none can still come; what is missing then was lost).

No Ray here either: the transports (``actor.py``) move lists of items between an outbox and an inbox.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GraphError, GraphTimeoutError
from ..timestamp import DONE_US, UNSET_US, Timestamp
from .partition import Edge

PACKET, BOUND = 0, 1
MAX_BATCH = 256  # items per transfer: an int stream is not one call per packet
LATENCY_SAMPLES = 4096
WAIT_SLICE_S = 0.05  # blocking waits wake this often to notice an abort
LINGER_S = 0.04  # the longest a busy producer's items wait to travel together (see the module docstring)
REPLY_WAIT_S = 0.001  # the longest a push waits for what it sets off, to carry it back in its reply (piggyback)


def payload_bytes(payload: Any) -> int:
    """About the bytes a payload puts on the wire, for the statistics (arrays: their buffer; a number: its
    value's bytes; anything else: its pickle). Numbers skip the pickle: in a lock-step hop it was the process's
    first use of the pickler, ~10 us (``docs/notes/2026-12-03-s10-issue-15.md``)."""
    kind = type(payload)
    if kind is int:
        return (payload.bit_length() + 8) // 8  # with a sign bit (one byte more than -128 needs: a statistic)
    if kind is float:
        return 8
    if kind is bool:
        return 1
    if isinstance(payload, np.ndarray):
        return payload.nbytes
    if isinstance(payload, bytes | bytearray | memoryview):
        return len(payload)
    try:
        return len(pickle.dumps(payload, protocol=5))
    except Exception:  # noqa: BLE001 - Ray's serialiser may still manage it; the count is only a statistic
        return 0


def _wire(payload: Any) -> Any:
    """Arrays travel contiguous, so Ray's object store maps them without a copy on the receiving side."""
    if isinstance(payload, np.ndarray) and not payload.flags.c_contiguous:
        return np.ascontiguousarray(payload)
    return payload


class BridgeAborted(Exception):  # noqa: N818 - a signal between bridge threads
    """The run is ending (failure, cancel): bridge waits stop."""


class Outbox:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.lock = threading.RLock()  # (held with ``with self.lock``: a Condition's own ``with`` is Python code)
        self.cond = threading.Condition(self.lock)  # the takers (transport) wait on it for items...
        self.credit = threading.Condition(self.lock)  # ...the producers for credit (``block``)
        self.items: deque[tuple] = deque()
        self.seq = 0
        self.unacked = 0  # block: items taken for transfer, not yet accepted by the receiver
        self.queued_packets = 0
        self.done = False  # DONE is queued: nothing more may be put
        self.aborted = False
        self.packets = self.bytes = self.drops = self.bounds = self.batches = self.lost = 0
        self.last_bound = UNSET_US
        self.on_ready: Callable[[], None] | None = None  # the transport: items were queued (called unlocked)
        self.more_coming: Callable[[], bool] | None = None  # linger hint: the producer's next output is due soon
        self.held = 0  # times the items queued were kept back for the next one (linger)
        self.piggybacked = 0  # batches taken for a push reply (the rest of ``batches`` went by a pull)
        self.claims = 0  # push replies waiting to carry this edge's next items: a long poll leaves them...
        self.claimed_until = 0.0  # ...until then at the latest (monotonic s): a claim never holds items for long

    # ---- producer side (engine worker threads) ------------------------------------------------------------
    def _full(self) -> bool:
        """A ``block`` edge's credit is used up: ``capacity`` items queued here or in transit."""
        return len(self.items) + self.unacked >= self.edge.capacity

    def wait_for_space(self, timeout: float | None) -> None:
        """Block (up to ``timeout`` s) until a ``block`` edge has credit; raises ``GraphTimeoutError``."""
        if self.edge.dropping or not self._full():
            return  # (a look without the lock: ``put_packet`` checks again under it)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self._full() and not self.aborted:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise GraphTimeoutError(
                        f"bridge '{self.edge.id}' (from {self.edge.src}) stayed full ({self.edge.capacity} packets) "
                        f"for {timeout} s; the receiving group is slower than its input — raise queue_size, use "
                        "queue_policy drop_oldest/latest_only, or a FlowLimiter")
                self.credit.wait(WAIT_SLICE_S if left is None else min(WAIT_SLICE_S, left))

    def put_packet(self, ts: int, payload: Any) -> None:
        payload = _wire(payload)
        with self.lock:
            if self.aborted or self.done:
                return
            if self.edge.dropping:
                while self.queued_packets >= self.edge.capacity:
                    self._drop_oldest_packet()
            else:
                while self._full() and not self.aborted:
                    self.credit.wait(WAIT_SLICE_S)
            self.items.append((ts, PACKET, payload, time.time_ns()))
            self.queued_packets += 1
            self.packets += 1
            self.bytes += payload_bytes(payload)
            self.last_bound = max(self.last_bound, ts + 1)
            self._wake_taker_locked()
        if self.on_ready is not None:
            self.on_ready()

    def _drop_oldest_packet(self) -> None:
        for k, item in enumerate(self.items):
            if item[1] == PACKET:
                del self.items[k]
                self.queued_packets -= 1
                self.drops += 1
                return

    def put_bound(self, ts: int) -> None:
        """A bound-only message; consecutive bounds collapse into the last one."""
        with self.lock:
            if self.aborted or self.done or ts <= self.last_bound:
                return
            self.last_bound = ts
            born = time.time_ns()
            if self.items and self.items[-1][1] == BOUND:
                born = self.items.pop()[3]  # the collapsed bound keeps the age of the first: a linger stays bounded
            self.items.append((ts, BOUND, None, born))
            self.bounds += 1
            self.done = ts >= DONE_US
            self._wake_taker_locked()
        if self.on_ready is not None:
            self.on_ready()

    def abort(self) -> None:
        with self.lock:
            self.aborted = True
            self.cond.notify_all()
            self.credit.notify_all()

    def _wake_taker_locked(self) -> None:
        """After a put: wake a waiting ``take`` unless the items linger or a reply claims them (``release`` wakes it
        then); the first item always wakes it, so that a long poll waits out the linger from that item's age
        rather than its own whole timeout."""
        if self._claimed_locked():
            return
        if len(self.items) == 1 or not self._hold_locked():
            self.cond.notify_all()

    def _claimed_locked(self) -> bool:
        return self.claims > 0 and time.monotonic() < self.claimed_until

    def _hold_locked(self) -> bool:
        """Whether the queued items should wait for the producer's next output (linger; lock held)."""
        if self.more_coming is None or self.done or not self.items:
            return False
        n = len(self.items)
        if n >= MAX_BATCH or self._full():
            return False
        if time.time_ns() - self.items[0][3] >= LINGER_S * 1e9:
            return False
        return self.more_coming()

    # ---- transport side -------------------------------------------------------------------------------------
    def claim(self, seconds: float) -> None:
        """A push reply will take this edge's items within ``seconds``: until then (or ``release``) a long poll
        leaves them. Bounded, so a claim whose push is held up (back-pressure) cannot stop the edge."""
        with self.lock:
            self.claims += 1
            self.claimed_until = max(self.claimed_until, time.monotonic() + seconds)

    def release(self) -> None:
        """The claiming reply has taken what it carries; a long poll may take what came after."""
        with self.lock:
            self.claims -= 1
            if self.claims == 0:
                self.claimed_until = 0.0
                if self.items:  # what the reply left (or what came after it) is the long poll's now
                    self.cond.notify_all()

    def take(self, timeout: float, reply: bool = False) -> list[tuple]:
        """Up to ``MAX_BATCH`` items, waiting up to ``timeout`` s for the first one ([] on timeout or abort). Items
        that may not go yet (a linger; a claim by a reply, for a long poll) are waited out, however long
        ``timeout`` (both are bounded); with ``timeout`` 0 they are left ([]). ``reply``: taken for a push reply
        (piggyback; counted in ``piggybacked``)."""
        with self.lock:
            deadline = time.monotonic() + timeout
            while not self.aborted:
                if not self.items:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                elif timeout <= 0:
                    break
                elif not reply and self._claimed_locked():
                    self.cond.wait(self.claimed_until - time.monotonic())
                elif self._hold_locked():
                    self.cond.wait(max(0.0, LINGER_S - (time.time_ns() - self.items[0][3]) / 1e9))
                else:
                    break
            if self.aborted or not self.items or (not reply and self._claimed_locked()):
                return []
            if self._hold_locked():
                self.held += 1
                return []
            batch = []
            packets = 0
            for _ in range(min(MAX_BATCH, len(self.items))):  # numbered as they leave: drops leave no gap
                self.seq += 1
                item = self.items.popleft()
                packets += item[1] == PACKET
                batch.append((self.seq, *item))
            self.queued_packets -= packets
            if not self.edge.dropping:
                self.unacked += len(batch)
            if batch:
                self.batches += 1
                self.piggybacked += reply
            return batch

    def ack(self, n: int, lost: int = 0) -> None:
        """The receiver accepted ``n`` items of a taken batch (``lost`` of them never arrived: its actor died)."""
        with self.lock:
            if not self.edge.dropping:
                self.unacked = max(0, self.unacked - n)
            self.lost += lost
            self.credit.notify_all()  # a taker never waits for credit: waking it would only take the GIL

    @property
    def finished(self) -> bool:
        """DONE was queued and has been taken."""
        with self.lock:
            return self.done and not self.items

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"stream": self.edge.stream, "from": self.edge.src, "to": self.edge.dst,
                    "policy": self.edge.policy, "capacity": self.edge.capacity, "packets": self.packets,
                    "bytes": self.bytes, "drops": self.drops, "bounds": self.bounds, "batches": self.batches,
                    "lost": self.lost, "waiting": len(self.items), "in_transit": self.unacked, "held": self.held,
                    "piggybacked": self.piggybacked}


class Inbox:
    """Feeds one bridge edge into the receiving part's graph, checking order (per-sender seq, timestamps).

    ``reorder``: the edge's batches come by more than one path (the driver's: long poll and push replies), so one
    may arrive before the batches it follows; it waits in ``early`` until they arrive, or until the transport
    calls ``settle`` (no transfer that could bring them is still under way: they were lost). With one path in
    order (pushes, one in flight) a batch that skips seqs means they were lost, at once.
    """

    def __init__(self, edge: Edge, graph: Any, set_bound: Callable[[str, int], None] | None,
                 reorder: bool = False) -> None:
        self.edge = edge
        self.graph = graph
        self.set_bound = set_bound  # None until the engine has Graph.set_input_bound
        self.reorder = reorder
        self.lock = threading.Lock()
        self.incarnation: str | None = None
        self.next_seq = 1
        self.early: dict[int, list[tuple]] = {}  # reorder: first seq -> a batch waiting for the ones before it
        self.last_ts = UNSET_US
        self.closed = False
        self.received = self.gaps = self.duplicates = self.discarded = self.reordered = 0
        self.latencies_ns: deque[int] = deque(maxlen=LATENCY_SAMPLES)

    def deliver(self, incarnation: str, batch: list[tuple], aborted: Callable[[], bool],
                run_here: bool = False) -> int:
        """Feed ``batch`` (and the early batches it lets go) into the graph, in seq order. Returns the credit the
        sender gets back: items accepted, discarded after a stop, or counted lost before them (a dead sender's
        are not counted: its successor starts with all its credit). Waits (in short slices, until ``aborted()``)
        while the engine's queue is full: that wait is the back-pressure the sender's credit sees. Raises the
        graph's ``GraphError`` if the receiving graph failed. ``run_here``: the packets' light consumers may run
        in this thread (``Graph.add_packet``)."""
        with self.lock:
            if incarnation != self.incarnation:  # a new sender (first batch, or its actor restarted)
                self._settle_locked(aborted)  # what the old one still owed never comes
                # a sender's seqs start at 1; a receiver that starts mid-stream (it restarted) takes the first it
                # sees, but only where batches come in order
                first = batch[0][0] if batch else 1
                self.incarnation, self.next_seq = incarnation, 1 if self.reorder else first
            if not batch:
                return 0
            if self.reorder and batch[0][0] > self.next_seq:
                self.early[batch[0][0]] = batch
                self.reordered += 1
                return 0
            return self._feed_locked(batch, aborted, run_here) + self._feed_early_locked(aborted)

    @property
    def waiting_early(self) -> bool:
        """Whether a batch waits for earlier ones (the transport then settles once none can still come)."""
        return bool(self.early)

    def settle(self, aborted: Callable[[], bool]) -> int:
        """No transfer that could bring the batches the early ones wait for is still under way: feed the early
        ones, counting the missing items as lost. Returns the credit, as ``deliver``."""
        with self.lock:
            return self._settle_locked(aborted)

    def _settle_locked(self, aborted: Callable[[], bool]) -> int:
        credit = 0
        while self.early:
            credit += self._feed_locked(self.early.pop(min(self.early)), aborted) + self._feed_early_locked(aborted)
        return credit

    def _feed_early_locked(self, aborted: Callable[[], bool]) -> int:
        credit = 0
        while self.next_seq in self.early:
            credit += self._feed_locked(self.early.pop(self.next_seq), aborted)
        return credit

    def _feed_locked(self, batch: list[tuple], aborted: Callable[[], bool], run_here: bool = False) -> int:
        credit = 0
        for seq, ts, kind, payload, put_ns in batch:
            if seq < self.next_seq:
                self.duplicates += 1  # its credit came back with the first copy
                continue
            if seq > self.next_seq:
                self.gaps += seq - self.next_seq  # items that never came (lost on the way)
                credit += seq - self.next_seq
            self.next_seq = seq + 1
            credit += 1
            if self.closed:
                self.discarded += 1  # arrived after the part was stopped
                continue
            if kind == PACKET:
                if ts < self.last_ts:
                    raise GraphError(f"bridge '{self.edge.id}': packet at {Timestamp(ts)} arrived after one at "
                                     f"{Timestamp(self.last_ts)} (seq {seq}); the transport reordered it",
                                     node=self.edge.dst, timestamp=Timestamp(ts), phase="bridge")
                self._add(ts, payload, aborted, run_here)
                self.last_ts = ts + 1
                self.received += 1
                self.latencies_ns.append(time.time_ns() - put_ns)
            elif ts >= DONE_US:
                self.graph.close_input(self.edge.stream)
                self.closed = True
            elif self.set_bound is not None and ts > self.last_ts:
                self.set_bound(self.edge.stream, ts)
                self.last_ts = ts
        return credit

    def _add(self, ts: int, payload: Any, aborted: Callable[[], bool], run_here: bool) -> None:
        while True:
            try:
                self.graph.add_packet(self.edge.stream, payload, ts, timeout=WAIT_SLICE_S, run_here=run_here)
                return
            except GraphTimeoutError:
                if aborted():
                    raise BridgeAborted from None

    def close(self) -> None:
        with self.lock:
            self.closed = True

    def stats(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ns)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, round(q * (len(lat) - 1)))] / 1000.0 if lat else 0.0

        return {"received": self.received, "seq_gaps": self.gaps, "duplicates": self.duplicates,
                "discarded_after_stop": self.discarded, "reordered": self.reordered,
                "latency_us": {"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] / 1000.0 if lat else 0.0}}
