"""Runs a ``ValidatedGraph``: readiness, delivery, back-pressure, errors, shutdown.

Two executors share everything but the loop that picks work:

- ``threads`` (default): a pool of named worker threads takes ready nodes from one queue. A node never runs
  ``process`` concurrently with itself (a node is IDLE, SCHEDULED or RUNNING; only one worker holds it).
- ``inline``: deterministic, single thread: ``add_packet`` and the ``wait_*`` calls run ready nodes in the
  caller's thread, in FIFO order, until nothing is ready. For tests and for embedding in a control loop that wants
  no threads.

One lock guards all queue state; calculators run outside it. Packets a calculator emits are buffered in its context
and delivered when its call returns, so every call takes the lock twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import GraphError, GraphTimeoutError, StopSource
from .packet import Packet
from .policies import (
    DONE,
    DONE_US,
    NOT_READY,
    UNSTARTED_US,
    InputQueue,
    default_ready,
    immediate_ready,
    settled_bound,
)
from .runtime import NodeRuntime, StreamRuntime
from .timestamp import Timestamp, _from_raw
from .validate import ValidatedGraph

log = logging.getLogger("graphflow")

BATCH = 64  # input sets a worker processes for one node before letting others run
LATENCY_SAMPLES = 4096  # per node, the most recent process() durations kept for percentiles
HEAVY_NS = 200_000  # a node whose process() takes longer on average is worth waking a second worker for
HEAVY_PROBE_CALLS = 8  # calls before a node's average is trusted
_UNSET = Timestamp.UNSET  # type: ignore[attr-defined]


class Scheduler:
    def __init__(self, graph: ValidatedGraph, executor: str = "threads", num_threads: int | None = None,
                 tracer: Any = None, default_queue_size: int = 100) -> None:
        if executor not in ("threads", "inline"):
            raise ValueError(f"executor must be 'threads' or 'inline', got {executor!r}")
        self.graph = graph
        self.executor = executor
        self.num_threads = max(1, num_threads or 2)
        self.tracer = tracer
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.ready: deque[NodeRuntime] = deque()
        self.running = 0
        self.running_light = 0  # workers now running a light (pure-Python, GIL-holding) node
        self.error: GraphError | None = None
        self.errors: list[BaseException] = []
        self.stopping = False
        self.started = False
        self.finished = False
        self.workers: list[threading.Thread] = []
        self.streams: dict[str, StreamRuntime] = {}
        self.nodes: list[NodeRuntime] = []
        self.graph_inputs: dict[str, StreamRuntime] = {}
        self.deadlock_reliefs = 0
        self.inline_depth = 0
        self._build(default_queue_size)

    # ---- construction ------------------------------------------------------------------------------------------
    def _build(self, default_queue_size: int) -> None:
        g = self.graph
        for stream, (producer, _loc) in g.producers.items():
            self.streams[stream] = StreamRuntime(stream, producer)
        for name, _ in g.spec.input_streams:
            self.graph_inputs[name] = self.streams[name]
        for name, _ in g.spec.output_streams:
            self.streams[name].is_graph_output = True
        for i, info in enumerate(g.nodes):
            node = NodeRuntime(info, i)
            for spec in sorted(info.spec.inputs, key=lambda s: (s.tag, s.index)):
                q = InputQueue(node, spec.tag, spec.index, spec.stream, spec.queue_size or default_queue_size,
                               spec.queue_policy or "block", spec.back_edge)
                node.inputs.append(q)
                node.inputs_by_tag.setdefault(spec.tag, []).append(q)
                self.streams[spec.stream].consumers.append(q)
            for out in sorted(info.spec.outputs, key=lambda s: (s.tag, s.index)):
                node.outputs.setdefault(out.tag, []).append(self.streams[out.stream])
            self.nodes.append(node)
        self.by_name = {n.name: n for n in self.nodes}
        for node in self.nodes:
            node.block_queues = [q for streams in node.outputs.values() for st in streams for q in st.consumers
                                 if q.blocking]
            node.fast = (not node.is_source and node.policy == "default" and len(node.inputs) == 1
                         and not node.inputs[0].back_edge and node.offset == 0)
            outs = [st for streams in node.outputs.values() for st in streams]
            node.single_output = outs[0] if len(outs) == 1 else None

    # ---- start ---------------------------------------------------------------------------------------------------
    def start(self, side_packets: dict[str, Any]) -> None:
        for node in self.nodes:
            for s in node.info.spec.side_inputs:
                node.side.setdefault(s.tag, []).append(side_packets[s.name])
            for spec, q in zip(sorted(node.info.spec.inputs, key=lambda s: (s.tag, s.index)), node.inputs,
                               strict=True):
                for k, payload in enumerate(spec.initial or ()):
                    q.packets.append(Packet(payload, _from_raw(-(2**63) + 3 + k)))  # before any regular timestamp
        self.started = True
        for node in self.nodes:  # open in topological order; stop at the first failure
            try:
                node.calculator.open(node.ctx)
                node.opened = True
            except Exception as exc:  # noqa: BLE001 - reported as GraphError
                self._fail(node, "open", None, exc)
                break
            with self.lock:
                self._deliver(node, node.ctx.pending)
        if self.error is not None:
            self.shutdown(timeout=5.0)
            raise self.error
        with self.lock:
            for node in self.nodes:
                self._schedule(node)
        if self.executor == "threads":
            for i in range(self.num_threads):
                t = threading.Thread(target=self._worker, name=f"graphflow-worker-{i}", daemon=True)
                t.start()
                self.workers.append(t)

    # ---- scheduling ------------------------------------------------------------------------------------------
    def _schedule(self, node: NodeRuntime) -> None:
        """Queue ``node`` for a run if it is idle (lock held)."""
        if node.state == NodeRuntime.IDLE and not node.closed:
            node.state = NodeRuntime.SCHEDULED
            self.ready.append(node)
            if self.executor == "threads":
                self.cond.notify()

    def _next_work(self, node: NodeRuntime) -> Any:
        """Pop the node's next input set (lock held): (ts, picked) | NOT_READY | DONE | 'tick' (sources)."""
        if node.source_stopped:
            return DONE
        if node.is_source:
            if node.downstream_full():
                return NOT_READY
            return "tick"
        if node.downstream_full():
            return NOT_READY
        if node.policy == "immediate":
            work = immediate_ready(node.inputs, node.bounds_too)
        else:
            work = default_ready(node.inputs)
            if work is NOT_READY and node.offset is not None:
                self._propagate_bound(node, settled_bound(node.inputs) + node.offset)
        if work is not NOT_READY and work is not DONE:
            for q, _p in work[1]:
                if q.blocking and len(q.packets) + 1 == q.capacity:
                    self._wake_producer(q)
        return work

    def _wake_producer(self, q: InputQueue) -> None:
        stream = self.streams[q.stream]
        if stream.producer is None:
            self.cond.notify_all()  # a caller blocked in add_packet
        else:
            self._schedule(self.by_name[stream.producer])

    def _propagate_bound(self, node: NodeRuntime, bound: int) -> None:
        if bound > node.out_bound:
            node.out_bound = bound
            for streams in node.outputs.values():
                for s in streams:
                    self._advance_stream(s, bound)

    def _advance_stream(self, s: StreamRuntime, bound: int) -> None:
        if bound > s.bound:
            s.bound = bound
            for q in s.consumers:
                if bound > q.bound:
                    q.bound = bound
                    self._schedule(q.node)
            if bound >= DONE_US:
                for p in s.pollers:
                    p._close()

    def _deliver(self, node: NodeRuntime | None, pending: list[Any]) -> list[tuple[StreamRuntime, Packet]]:
        """Push emitted packets/bounds into consumer queues (lock held). Returns packets for graph observers."""
        observed: list[tuple[StreamRuntime, Packet]] = []
        threads = self.executor == "threads"
        for s, packet, ts in pending:
            if packet is None:
                self._advance_stream(s, ts)
                continue
            s.count += 1
            for q in s.consumers:
                if q.blocking:  # InputQueue.push for the common policy, inlined (one call less per hop)
                    packets = q.packets
                    if len(packets) >= q.capacity:
                        q.overflows += 1
                    packets.append(packet)
                    q.received += 1
                    if len(packets) > q.high_water:
                        q.high_water = len(packets)
                    if ts >= q.bound:
                        q.bound = ts + 1
                else:
                    q.push(packet, ts)
                n = q.node
                if n.state == 0 and not n.closed:  # _schedule, inlined
                    n.state = 1
                    self.ready.append(n)
                    # the worker that ran `node` takes the next ready node itself. Wake another worker only for
                    # packets from the application's thread, or when there is work for two and that work is heavy
                    # enough (a calculator that releases the GIL: torch, OpenCV): two threads fighting over the
                    # GIL for microsecond-long Python calls are 2-3x slower than one.
                    if threads and (node is None or (len(self.ready) > 1 and (
                            n.calls < HEAVY_PROBE_CALLS or n.busy_ns > HEAVY_NS * n.calls))):
                        self.cond.notify()
            if ts + 1 > s.bound:
                s.bound = ts + 1
            if s.observers or s.pollers:
                observed.append((s, packet))
        if node is not None and node.single_output is not None and node.single_output.bound > node.out_bound:
            node.out_bound = node.single_output.bound  # its only output already says it: no bound round needed
        pending.clear()
        return observed

    def _notify(self, observed: list[tuple[StreamRuntime, Packet]], node: NodeRuntime | None = None) -> None:
        """Hand packets to graph observers and pollers (lock NOT held). While a callback runs, ``node`` (whose
        worker delivers) records the stream, so a callback that blocks is named as such, not as the node."""
        for s, packet in observed:
            for p in s.pollers:
                p._push(packet)
            if node is not None and s.observers:
                node.notifying = s.name
            for cb in s.observers:
                try:
                    cb(packet)
                except Exception as exc:  # noqa: BLE001
                    self._fail(None, f"observer of stream '{s.name}'", packet.timestamp, exc)
        if node is not None:
            node.notifying = None

    # ---- running a node --------------------------------------------------------------------------------------
    def _run(self, node: NodeRuntime) -> None:
        """Process up to BATCH input sets of ``node`` (state RUNNING; lock not held on entry or exit).

        The lock is taken once per input set: delivering the outputs of one call and taking the next input set
        happen in the same critical section.
        """
        calc = node.calculator
        ctx = node.ctx
        pending = ctx.pending
        tracer = self.tracer
        lock = self.lock
        perf = time.perf_counter_ns
        fast_q = node.inputs[0] if node.fast else None
        sync_bound = node.offset is not None and node.policy == "default" and not node.is_source
        offset = node.offset or 0
        block_queues = node.block_queues
        lock.acquire()
        try:
            for _ in range(BATCH):
                # ---- take the next input set (lock held) ----
                if self.stopping:
                    node.state = NodeRuntime.IDLE
                    if node.close_on_release and not node.closed:
                        node.closed = True
                        lock.release()
                        try:
                            self._late_close(node)  # shutdown gave up waiting for this call; close() still runs
                        finally:
                            lock.acquire()
                    return
                if not node.throttle_override:
                    for q in block_queues:
                        if len(q.packets) >= q.capacity:
                            node.state = NodeRuntime.IDLE
                            return
                if fast_q is not None:  # one synchronised input: settled whenever a packet waits
                    packets = fast_q.packets
                    if packets:
                        p = packets.popleft()
                        if fast_q.blocking and len(packets) + 1 == fast_q.capacity:
                            self._wake_producer(fast_q)
                        ts = p._timestamp._us
                        ctx._ts = ts
                        ctx._ts_obj = p._timestamp
                        ctx._inputs = {fast_q.key: p}
                        work = ((fast_q, p),)
                    elif fast_q.bound >= DONE_US:
                        work = DONE
                    else:
                        if fast_q.bound > node.out_bound:
                            self._propagate_bound(node, fast_q.bound)
                        node.state = NodeRuntime.IDLE
                        return
                else:
                    work = self._next_work(node)
                    if work is NOT_READY:
                        node.state = NodeRuntime.IDLE
                        return
                    if work is not DONE:
                        if work == "tick":
                            ctx._ts, ctx._inputs, ctx._ts_obj = -(2**63) + 1, {}, _UNSET
                            ts = None
                        else:
                            ts = work[0]
                            ctx._set(ts, work[1])
                        work = () if ts is None else work[1]
                lock.release()
                if work is DONE:
                    try:
                        self._close_node(node)
                    finally:
                        lock.acquire()
                    return
                # ---- run it (lock not held) ----
                start = perf()
                try:
                    calc.process(ctx)
                except StopSource:
                    node.source_stopped = True
                except Exception as exc:  # noqa: BLE001
                    pending.clear()
                    with lock:
                        node.state = NodeRuntime.IDLE
                    self._fail(node, "process", ts, exc)
                    lock.acquire()
                    return
                end = perf()
                dur = end - start
                node.calls += 1
                node.busy_ns += dur
                if node.calls <= LATENCY_SAMPLES:
                    node.latencies.append(dur)
                else:
                    node.latencies[node.calls % LATENCY_SAMPLES] = dur
                if tracer is not None:
                    tracer.span(node.name, ts, start, end, work)
                    for st, packet, _t in pending:
                        if packet is not None:
                            tracer.flow_start(st.name, packet, end)
                # ---- deliver (lock held again) ----
                lock.acquire()
                observed = self._deliver(node, pending) if pending else None
                if sync_bound and ts is not None and ts + 1 + offset > node.out_bound:
                    # the node is done with ts: its outputs will carry nothing below ts + 1 + offset
                    self._propagate_bound(node, ts + 1 + offset)
                if observed:
                    lock.release()  # observers run outside the lock, in order, before the next call
                    try:
                        self._notify(observed, node)
                    finally:
                        lock.acquire()
            node.state = NodeRuntime.IDLE
            self._schedule(node)  # more work may remain: go to the back of the line
        finally:
            lock.release()

    def _late_close(self, node: NodeRuntime) -> None:
        node.ctx.pending.clear()
        try:
            node.calculator.close(node.ctx)
        except Exception as exc:  # noqa: BLE001 - the run is over; keep it visible in errors
            with self.lock:
                self.errors.append(exc)
            log.error("node '%s' failed in close after being released: %s", node.name, exc)
        node.ctx.pending.clear()

    def _close_node(self, node: NodeRuntime) -> None:
        """Run close() once (lock not held), deliver what it emits, then close every output."""
        if node.closed:
            return
        node.closed = True
        ctx = node.ctx
        ctx._ts, ctx._inputs = -(2**63) + 1, {}
        try:
            if node.opened:
                node.calculator.close(ctx)
        except Exception as exc:  # noqa: BLE001
            self._fail(node, "close", None, exc)
        observed = []
        with self.lock:
            node.state = NodeRuntime.IDLE
            if self.error is None:
                observed = self._deliver(node, ctx.pending)
            ctx.pending.clear()
            for streams in node.outputs.values():
                for s in streams:
                    self._advance_stream(s, DONE_US)
            self._check_finished()
        if observed:
            self._notify(observed)

    def _check_finished(self) -> None:
        if all(n.closed for n in self.nodes) and not self.finished:
            self.finished = True
            for s in self.streams.values():
                for p in s.pollers:
                    p._close()
            self.cond.notify_all()

    # ---- errors --------------------------------------------------------------------------------------------------
    def _fail(self, node: NodeRuntime | None, phase: str, ts: int | None, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(exc)
            if ts is None and node is not None and node.is_source and phase == "process":
                # a source has no input timestamp: name the last one it emitted
                emitted = [s.last_ts for streams in node.outputs.values() for s in streams]
                last = max(emitted, default=UNSTARTED_US)
                ts = last if last > UNSTARTED_US else None
            if self.error is None:
                tstr = str(_from_raw(ts)) if isinstance(ts, int) else (str(ts) if ts is not None else "-")
                if node is not None:
                    calc = node.info.spec.calculator
                    msg = (f"node '{node.name}' ({calc}) failed in {phase} at timestamp {tstr}: "
                           f"{type(exc).__name__}: {exc}")
                    err = GraphError(msg, node=node.name, calculator=calc, timestamp=ts, phase=phase)
                else:
                    err = GraphError(f"{phase} failed at timestamp {tstr}: {type(exc).__name__}: {exc}", phase=phase,
                                     timestamp=ts)
                err.__cause__ = exc
                self.error = err
                log.info("%s", err)  # raised to the caller as GraphError; no second copy on stderr
            else:
                self.error.others.append(exc)
            self.stopping = True
            self.cond.notify_all()
            for s in self.streams.values():
                for p in s.pollers:
                    p._close()

    # ---- executors -----------------------------------------------------------------------------------------------
    def _pick(self) -> NodeRuntime | None:
        """The next node for a worker (lock held), or None to keep waiting.

        Python calculators hold the GIL, so two workers running microsecond-long Python calls at once only fight
        over it (2-3x slower than one). A second worker therefore takes a light node only while no other light node
        runs; heavy nodes (average process() over HEAVY_NS: torch, OpenCV, which release the GIL) it always takes.
        """
        if not self.ready:
            return None
        if self.running_light == 0:
            return self.ready.popleft()
        for i, n in enumerate(self.ready):
            if n.calls < HEAVY_PROBE_CALLS or n.busy_ns > HEAVY_NS * n.calls:
                del self.ready[i]
                return n
        return None

    def _worker(self) -> None:
        cond = self.cond
        while True:
            with cond:
                while True:
                    if self.stopping or self.finished:
                        cond.notify_all()
                        return
                    node = self._pick()
                    if node is not None:
                        break
                    if self.running == 0:
                        self._relieve_deadlock()
                        if self.ready:
                            continue
                    cond.wait(0.05)
                    if self.running == 0 and not self.ready:
                        cond.notify_all()  # let idle waiters re-check
                node.state = NodeRuntime.RUNNING
                self.running += 1
                light = not (node.calls < HEAVY_PROBE_CALLS or node.busy_ns > HEAVY_NS * node.calls)
                self.running_light += light
            try:
                self._run(node)
            finally:
                with cond:
                    self.running -= 1
                    self.running_light -= light
                    if self.running == 0 and not self.ready:
                        cond.notify_all()
                    elif self.ready and self.running_light == 0:
                        cond.notify()  # light work that waited for this one may go now

    def run_inline(self) -> None:
        """Inline executor: run ready nodes in this thread until nothing is ready."""
        if self.inline_depth:  # called from an observer callback: the outer loop will continue
            return
        self.inline_depth += 1
        try:
            while True:
                with self.lock:
                    if self.error is not None or self.stopping or not self.ready:
                        return
                    node = self.ready.popleft()
                    node.state = NodeRuntime.RUNNING
                self._run(node)
        finally:
            self.inline_depth -= 1

    def idle(self) -> bool:
        return not self.ready and self.running == 0

    def _relieve_deadlock(self) -> None:
        """Nothing runs, yet a node holds ready input behind a full queue: let it overflow once (counted)."""
        for node in self.nodes:
            if node.closed or node.state != NodeRuntime.IDLE or not node.downstream_full():
                continue
            has_input = node.is_source and not node.source_stopped or any(q.packets for q in node.inputs)
            if has_input:
                node.throttle_override = True
                work_possible = self._peek_ready(node)
                node.throttle_override = False
                if work_possible:
                    self.deadlock_reliefs += 1
                    log.warning("graphflow: back-pressure deadlock around node '%s'; letting one input set through "
                                "(raise queue_size on its downstream inputs)", node.name)
                    node.throttle_override = True
                    self._schedule(node)
                    return

    def _peek_ready(self, node: NodeRuntime) -> bool:
        if node.is_source:
            return not node.source_stopped
        if node.policy == "immediate":
            return any(q.packets for q in node.inputs)
        ts = min((q.packets[0]._timestamp._us for q in node.inputs if q.packets), default=None)
        if ts is None:
            return False
        return all(q.packets or q.bound > ts or q.back_edge for q in node.inputs)

    # ---- shutdown ------------------------------------------------------------------------------------------------
    def shutdown(self, timeout: float) -> list[str]:
        """Stop workers, join them, close every opened node. Returns names of nodes stuck in a call."""
        with self.lock:
            self.stopping = True
            self.cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self.workers:
            t.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            stuck = [n.name if n.notifying is None else f"observer of stream '{n.notifying}' (after node '{n.name}')"
                     for n in self.nodes if n.state == NodeRuntime.RUNNING]
            for n in self.nodes:
                if n.state == NodeRuntime.RUNNING and n.opened and not n.closed:
                    n.close_on_release = True  # its worker runs close() when the call returns
        for node in reversed(self.nodes):
            if node.opened and not node.closed and node.state != NodeRuntime.RUNNING:
                node.closed = True
                node.ctx.pending.clear()
                try:
                    node.calculator.close(node.ctx)
                except Exception as exc:  # noqa: BLE001
                    self._fail(node, "close", None, exc)
                node.ctx.pending.clear()
        with self.lock:
            for s in self.streams.values():
                for p in s.pollers:
                    p._close()
        self.workers = [t for t in self.workers if t.is_alive()]
        return stuck

    def wait(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.executor == "inline":
            self.run_inline()
        with self.cond:
            while not predicate():
                if self.error is not None:
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    busy = [n.name for n in self.nodes if n.state == NodeRuntime.RUNNING]
                    raise GraphTimeoutError(f"{what} timed out after {timeout} s; nodes busy now: "
                                            f"{', '.join(busy) or 'none'}")
                if self.executor == "inline":
                    self.cond.release()
                    try:
                        self.run_inline()
                    finally:
                        self.cond.acquire()
                    if not predicate() and self.idle():
                        self._relieve_deadlock()
                        if not self.ready:
                            self.cond.wait(0.001 if remaining is None else min(remaining, 0.001))
                else:
                    self.cond.wait(0.05 if remaining is None else min(remaining, 0.05))
