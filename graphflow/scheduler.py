"""Runs a ``ValidatedGraph``: readiness, delivery, back-pressure, errors, shutdown.

Everything that decides *whether* a node runs is written once:

- ``Scheduler._make_take(node)`` builds, when the graph starts, the one function a step uses to take the node's
  next input set: stopped -> DONE; a blocking queue downstream full -> NOT_READY (unless a deadlock relief
  credit lets one input set through); else the node's ``Readiness`` (``policies.py``) for its input policy. Its
  one specialisation is the hand-off in ``_make_step``: the packet a producer just emitted goes straight into its
  idle linked consumer's context when the queue between them is empty (``HAND_OFF``; tests run both forms).
- ``NodeRuntime.record_call`` decides (``is_heavy``) whether a node is worth a worker of its own.
- ``Scheduler._make_step`` builds the only code that runs ``process``: worker threads, the inline
  executor and the caller's thread all go through it.

Executors:

- ``threads`` (default): worker threads take ready nodes from one queue; a node never runs concurrently with
  itself. A packet that makes a node ready is never left waiting for a timed wake-up: the worker that finishes a
  step runs the first ready node itself and wakes an idle worker for the next one; a heavy node made ready in the
  middle of a light node's batch gets an idle worker at once (``_wake_for``); a chain of light nodes runs in the
  worker that produced the packet, which avoids two threads fighting over the GIL for microsecond calls. Sources
  and heavy nodes run one input set per turn, light nodes up to ``BATCH``, so nothing starves the rest. With
  ``caller_runs`` (the default) a packet the application adds runs its light consumers in the caller's thread
  while no worker is busy, which spares two thread hand-offs in a lock-step control loop; sources and heavy nodes
  stay on the workers.
- ``inline``: deterministic, single thread: ``add_packet`` and the ``wait_*`` calls run ready nodes in the
  caller's thread, in FIFO order, until nothing is ready.

One lock guards all queue state; calculators run outside it. Packets a calculator emits are buffered in its
context and delivered when its call returns. Graph observers, pollers and bound observers are called outside the
lock, in stream order, by the thread that delivered (a stream closes for a poller only after its last packet).
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
from .policies import DONE, NOT_READY, InputQueue, SingleInputReadiness, readiness_for
from .runtime import IDLE, RUNNING, SCHEDULED, NodeRuntime, StreamRuntime
from .timestamp import DONE_US, UNSTARTED_US, Timestamp, _from_raw
from .trace import Tracer
from .validate import ValidatedGraph

log = logging.getLogger("graphflow")

EXECUTORS = ("threads", "inline")
SPECIALIZE = True  # build each node's fast form of the rules; False: the general form everywhere (tests run both)
HAND_OFF = True  # a link's input packet goes straight into its context when it can (see _make_step; read when a
# graph is built; tests run both)
BATCH = 64  # input sets a worker runs for one light node before letting others run
CALLER_BUDGET = 256  # input sets the caller's thread runs in one add_packet before handing the rest to workers
WORKER_IDLE_WAIT_S = 1.0  # a sleeping worker re-checks this often (wake-ups are explicit; this is a safety net)
FEEDER_POLL_S = 0.05  # a caller blocked in add_packet re-checks for a deadlock this often
INLINE_POLL_S = 0.001  # inline executor: how long a blocked caller sleeps when nothing in the graph can run
MAX_CHAIN = 32  # links in a row before a chain is cut (each link is one stack level in the producing thread)

RAN, ENDED = "ran", "ended"  # what a node's step returns
Notification = tuple[StreamRuntime, Packet | None, int]  # (stream, packet, ts) or (stream, None, new bound)


class Scheduler:
    """The run of one graph. ``Graph`` uses only the public methods below the construction section."""

    def __init__(self, graph: ValidatedGraph, executor: str = "threads", num_threads: int | None = None,
                 tracer: Tracer | None = None, default_queue_size: int = 100, lossless: bool = False,
                 specialize: bool | None = None, caller_runs: bool = True) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        self.graph = graph
        self.executor = executor
        self.threads = executor == "threads"
        self.num_threads = max(1, num_threads or 2)
        self.tracer = tracer
        self.lossless = lossless
        self.specialize = SPECIALIZE if specialize is None else specialize
        self.caller_runs = caller_runs and self.threads
        self.lock = threading.RLock()
        self.work_cond = threading.Condition(self.lock)  # workers wait here
        self.changed = threading.Condition(self.lock)  # callers wait here (add_packet, wait_*, close)
        self.ready: deque[NodeRuntime] = deque()
        self.running = 0  # threads now running a node (workers and a caller's thread)
        self.running_light = 0  # of those: running a light (pure-Python, GIL-holding) node
        self.idle_workers = 0
        self.waiters = 0  # callers in _wait_changed
        self.error: GraphError | None = None
        self.errors: list[BaseException] = []
        self.stopping = False
        self.started = False
        self.finished = False
        self.shut_down = False
        self.started_at: float | None = None
        self.workers: list[threading.Thread] = []
        self.streams: dict[str, StreamRuntime] = {}
        self.nodes: list[NodeRuntime] = []
        self.sources: list[NodeRuntime] = []  # the nodes without inputs (``idle`` asks about them alone)
        self.graph_inputs: dict[str, StreamRuntime] = {}
        self.blocked_feeders: dict[str, int] = {}  # graph input -> callers now blocked in add_packet on it
        self.deadlock_reliefs = 0
        self.relief_for_feeder = False  # a deadlock relief granted to a caller blocked in add_packet
        self._local = threading.local()  # .busy: this thread is inside graph work (observer callbacks included)
        self._build(default_queue_size)

    # ---- construction ------------------------------------------------------------------------------------------
    def _build(self, default_queue_size: int) -> None:
        g = self.graph
        for stream, (producer, _loc) in g.producers.items():
            self.streams[stream] = StreamRuntime(stream, producer)
        for name, _ in g.spec.input_streams:
            self.graph_inputs[name] = self.streams[name]
            self.blocked_feeders[name] = 0
        for name, _ in g.spec.output_streams:
            self.streams[name].is_graph_output = True
        for i, info in enumerate(g.nodes):
            node = NodeRuntime(info, i)
            for spec in sorted(info.spec.inputs, key=lambda s: (s.tag, s.index)):
                policy = spec.queue_policy or "block"
                if self.lossless:
                    policy = "block"
                q = InputQueue(node, spec.tag, spec.index, spec.stream, spec.queue_size or default_queue_size,
                               policy, spec.back_edge)
                node.inputs.append(q)
                node.inputs_by_tag.setdefault(spec.tag, []).append(q)
                self.streams[spec.stream].consumers.append(q)
            for out in sorted(info.spec.outputs, key=lambda s: (s.tag, s.index)):
                s = self.streams[out.stream]
                node.outputs.setdefault(out.tag, []).append(s)
                node.ctx._out[out.tag] = node.outputs[out.tag]
                node.out_streams.append(s)
            node.readiness = readiness_for(node.policy, node.inputs, node.ctx, self._space_freed, node.bounds_too,
                                           self.specialize)
            self.nodes.append(node)
        self.by_name = {n.name: n for n in self.nodes}
        self.sources = [n for n in self.nodes if n.is_source]
        for node in self.nodes:
            node.block_queues = [q for s in node.out_streams for q in s.consumers if q.blocking]
        self._link_chains()
        for node in self.nodes:
            node.take = self._make_take(node)
            node.step = self._make_step(node)

    def _link_chains(self) -> None:
        """Find the links: node A -> node B where A's only output stream feeds only B, and B has that one
        synchronised input (``SingleInputReadiness``). After A's step delivers, an idle light B takes its own
        step at once in A's thread (``_make_step``), so a chain of light nodes runs packet by packet in the
        producing thread, the way stream processors chain operators, instead of through the ready queue. Each
        step goes through the node's one ``take`` rule, or through its specialisation, the hand-off of the one
        packet its producer just emitted (see the end of ``_make_step``). Chains are cut every MAX_CHAIN links. With
        ``specialize=False`` there are no links (every packet goes through the ready queue)."""
        if not self.specialize:
            return
        depth: dict[int, int] = {}
        for node in self.nodes:  # topological order: a link's producer is seen before its consumer
            if len(node.out_streams) != 1 or len(node.out_streams[0].consumers) != 1:
                continue
            q = node.out_streams[0].consumers[0]
            b = q.node
            if b is node or q.back_edge or len(b.inputs) != 1 or not isinstance(b.readiness, SingleInputReadiness):
                continue
            d = depth.get(node.index, 0) + 1
            if d > MAX_CHAIN:
                continue
            depth[b.index] = d
            node.link = b

    def _make_take(self, node: NodeRuntime) -> Callable[[], int]:
        """The one rule for "may this node run now, and with what" (lock held), built once per node.

        Without blocking queues downstream the throttle test can never fire and is left out; with
        ``specialize=False`` every node gets the general form."""
        rtake = node.readiness.take  # type: ignore[union-attr]
        if self.specialize and len(node.block_queues) == 1:
            bq = node.block_queues[0]  # throttled() specialised to its one queue

            def take() -> int:
                if node.stop_requested:
                    return DONE
                if len(bq.packets) >= bq.capacity:
                    if not node.relief:
                        return NOT_READY
                    node.relief -= 1
                return rtake()
        elif node.block_queues or not self.specialize:
            def take() -> int:
                if node.stop_requested:
                    return DONE
                if node.throttled():
                    if not node.relief:
                        return NOT_READY
                    node.relief -= 1  # a deadlock relief: this input set may overflow a queue (counted there)
                return rtake()
        else:
            def take() -> int:
                if node.stop_requested:
                    return DONE
                return rtake()
        return take

    def _runnable(self, node: NodeRuntime) -> bool:
        """Whether ``take`` would give the node work if nothing downstream were full (lock held)."""
        return not node.closed and not node.stop_requested and node.readiness.peek()  # type: ignore[union-attr]

    # ---- public API (used by Graph) -----------------------------------------------------------------------------
    def stream(self, name: str) -> StreamRuntime | None:
        return self.streams.get(name)

    def watch(self, stream: str, *, observer: Callable[[Packet], None] | None = None,
              on_bound: Callable[[Timestamp], None] | None = None, poller: Any = None) -> None:
        """Attach an observer, a bound observer or a poller channel to ``stream`` (before start)."""
        s = self.streams[stream]
        if observer is not None:
            s.observers.append(observer)
        if on_bound is not None:
            s.bound_observers.append(on_bound)
        if poller is not None:
            s.pollers.append(poller)
        s.update_watched()

    def start(self, side_packets: dict[str, Any]) -> None:
        for node in self.nodes:
            for s in node.info.spec.side_inputs:
                node.side.setdefault(s.tag, []).append(side_packets[s.name])
            for spec, q in zip(sorted(node.info.spec.inputs, key=lambda s: (s.tag, s.index)), node.inputs,
                               strict=True):
                for k, payload in enumerate(spec.initial or ()):
                    q.packets.append(Packet(payload, _from_raw(UNSTARTED_US + 2 + k)))  # before any regular ts
        self.started = True
        self.started_at = time.monotonic()
        out: list[Notification] = []
        for node in self.nodes:  # open in topological order; stop at the first failure
            node.ctx._reset()
            try:
                node.calculator.open(node.ctx)
                node.opened = True
            except Exception as exc:  # noqa: BLE001 - reported as GraphError
                self._fail(node, "open", None, exc)
                break
            with self.lock:
                self._deliver(node, node.ctx.pending, out)
        if self.error is not None:
            self.shutdown(timeout=5.0)
            raise self.error
        self._notify(out)
        with self.lock:
            for node in self.nodes:
                self._schedule(node, wake=False)
            if not self.nodes:
                self.finished = True  # nothing to run: done as soon as it starts
        if self.threads:
            for i in range(self.num_threads):
                t = threading.Thread(target=self._worker, name=f"graphflow-worker-{i}", daemon=True)
                t.start()
                self.workers.append(t)
            with self.lock:
                self.work_cond.notify_all()

    def feed(self, name: str, packet: Packet, timeout: float | None, run_here: bool = False) -> None:
        """A packet from the application on graph input ``name``; blocks while a ``block`` consumer is full.
        ``run_here``: this call follows the ``caller_runs`` rule even if the graph does not."""
        s = self.graph_inputs[name]
        ts = packet._timestamp._us
        out: list[Notification] = []
        with self.lock:
            self.raise_if_failed_locked()
            if s.bound >= DONE_US:
                raise RuntimeError(f"add_packet on stream '{name}' after close_input()")
            if ts < s.promised:
                s.check(ts)
            for q in s.consumers:
                if q.blocking and len(q.packets) >= q.capacity:
                    self._wait_for_space(s, timeout)
                    break
            s.last_ts = ts
            s.promised = ts + 1
            caller_runs = self.caller_runs or (run_here and self.threads)
            self._deliver(None, [(s, packet, ts)], out, wake=self.threads and not caller_runs)
            run_here = self._claim_caller_run(caller_runs)
        if out:
            self._notify(out)
        if run_here:
            self._run_in_caller()
        elif not self.threads:
            self.run_inline()

    def set_input_bound(self, name: str, bound: int) -> None:
        """The application promises no packet below ``bound`` on graph input ``name``."""
        s = self.graph_inputs[name]
        out: list[Notification] = []
        with self.lock:
            self.raise_if_failed_locked()
            if s.bound >= DONE_US:
                raise RuntimeError(f"set_input_bound on stream '{name}' after close_input()")
            if bound > s.promised:
                s.promised = bound
                self._advance(s, bound, out)
                self._wake_workers()
        self._notify(out)
        if not self.threads:
            self.run_inline()

    def close_input(self, name: str) -> None:
        s = self.graph_inputs[name]
        out: list[Notification] = []
        with self.lock:
            if s.bound < DONE_US:
                s.promised = DONE_US
                self._advance(s, DONE_US, out)
                self._wake_workers()
        self._notify(out)
        if not self.threads:
            self.run_inline()

    def input_open(self, name: str) -> bool:
        return self.graph_inputs[name].bound < DONE_US

    def request_stop(self) -> None:
        """Sources stop at their next step (Ctrl-C); everything already inside drains."""
        with self.lock:
            for node in self.nodes:
                if node.is_source and not node.closed:
                    node.stop_requested = True
                    self._schedule(node)
            self._wake_workers()
        if not self.threads:
            self.run_inline()

    def fail_with(self, err: GraphError) -> None:
        """End the run with ``err`` (e.g. a stall found by a waiter), unless it already failed."""
        with self.lock:
            if self.error is None:
                self.error = err
                self.errors.append(err)
            self._stop_locked()

    def raise_if_failed_locked(self) -> None:
        if self.error is not None:
            raise self.error

    def idle(self) -> bool:
        """Nothing ready or running, and no source that could still run (lock held)."""
        return (not self.ready and self.running == 0
                and not any(not n.closed and not n.throttled() for n in self.sources))

    def runs_again_within(self, name: str, seconds: float) -> bool:
        """Whether node ``name`` will surely finish another call soon: its readiness rule would give it an input set
        now (``_runnable``), its calls take less than ``seconds`` on average, and no full queue downstream holds it
        back. A hint for a caller deciding whether to wait for more output (the bridges' linger)."""
        node = self.by_name[name]
        if not node.inputs or not node.calls or node.busy_ns > seconds * 1e9 * node.calls:
            return False
        with self.lock:
            return self._runnable(node) and not node.throttled()

    def busy(self) -> dict[str, str]:
        """Nodes now in a call, with the timestamp of that call."""
        with self.lock:
            return {n.name: (str(_from_raw(n.ctx._ts)) if n.ctx._ts > UNSTARTED_US else "-")
                    for n in self.nodes if n.state is RUNNING}

    def wait(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        """Block until ``predicate()`` (checked with the lock held), an error, or a shutdown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.threads:
            self.run_inline()
        with self.lock:
            while not predicate():
                if self.error is not None or self.shut_down:
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    busy = [n.name for n in self.nodes if n.state is RUNNING]
                    raise GraphTimeoutError(f"{what} timed out after {timeout} s; nodes busy now: "
                                            f"{', '.join(busy) or 'none'}")
                if not self.threads:
                    self.lock.release()
                    try:
                        self.run_inline()
                    finally:
                        self.lock.acquire()
                    if not predicate() and not self.ready and not self._relieve_deadlock():
                        self._wait_changed(INLINE_POLL_S if remaining is None else min(remaining, INLINE_POLL_S))
                else:
                    self._wait_changed(FEEDER_POLL_S if remaining is None else min(remaining, FEEDER_POLL_S))

    def start_trace(self) -> None:
        with self.lock:
            self._saved_tracer = self.tracer
            self.tracer = Tracer(None)

    def stop_trace(self) -> dict[str, Any]:
        with self.lock:
            tracer, self.tracer = self.tracer, getattr(self, "_saved_tracer", None)
        if tracer is None:
            raise RuntimeError("stop_trace() without start_trace()")
        return tracer.document(_thread_names())

    def abandon(self) -> None:
        """The graph object was dropped without close(): stop and join the workers, close the nodes."""
        if not self.started or self.shut_down:
            return
        if threading.current_thread() in self.workers:  # dropped from an observer: workers just exit
            with self.lock:
                self._stop_locked()
            return
        self.shutdown(timeout=2.0)

    def shutdown(self, timeout: float) -> list[str]:
        """Stop workers, join them, close every opened node. Returns what is stuck in a call."""
        with self.lock:
            self._stop_locked()
        deadline = time.monotonic() + timeout
        me = threading.current_thread()
        for t in self.workers:
            if t is not me:
                t.join(max(0.0, deadline - time.monotonic()))
        to_close = []
        with self.lock:
            stuck = [n.name if n.notifying is None else f"observer of stream '{n.notifying}' (after node '{n.name}')"
                     for n in self.nodes if n.state is RUNNING]
            for n in reversed(self.nodes):
                if not n.opened or n.closed:
                    continue
                if n.state is RUNNING:
                    n.close_on_release = True  # its thread runs close() when the call returns
                else:
                    n.closed = True  # claimed here, under the lock: close() runs once
                    to_close.append(n)
        for node in to_close:
            self._call_close(node)
        with self.lock:
            self.shut_down = True
            channels = [p for s in self.streams.values() for p in s.pollers]
            self._signal()
        for p in channels:
            p.close()
        self.workers = [t for t in self.workers if t.is_alive()]
        return stuck

    def _wait_changed(self, timeout: float | None) -> None:
        """A caller waits for the graph to change (lock held)."""
        self.waiters += 1
        try:
            self.changed.wait(timeout)
        finally:
            self.waiters -= 1

    def _signal(self) -> None:
        """Wake the callers waiting in ``_wait_changed`` (lock held); free when nobody waits."""
        if self.waiters:
            self.changed.notify_all()

    # ---- scheduling (lock held) ------------------------------------------------------------------------------
    def _schedule(self, node: NodeRuntime, wake: bool = False) -> None:
        """Queue ``node`` for a run if it is idle; ``wake``: hand it to an idle worker now (see ``_wake_for``)."""
        if node.state is IDLE and not node.closed:
            node.state = SCHEDULED
            self.ready.append(node)
            if wake and self.idle_workers:
                self.work_cond.notify()

    @staticmethod
    def _wake_for(node: NodeRuntime, emitter: NodeRuntime | None) -> bool:
        """The wake-up rule: does ``node``, just made ready by ``emitter`` (None: the application), get an idle
        worker at once? A worker that finishes a step runs the first ready node itself (sources and heavy nodes
        take one step per turn), so only work it cannot reach soon needs another thread: a heavy node made ready
        in the middle of a light node's batch. Light work is never handed over (two threads fighting over the GIL
        for microsecond calls are slower than one); the application's packets are (unless the caller runs them)."""
        if emitter is None:
            return True
        return node.is_heavy and not emitter.is_heavy

    def _wake_workers(self) -> None:
        """After the application made nodes ready (lock held): one idle worker per ready node."""
        for _ in range(min(len(self.ready), self.idle_workers)):
            self.work_cond.notify()

    def _space_freed(self, q: InputQueue) -> None:
        """A pop took blocking queue ``q`` from full to not full: its producer may go on."""
        producer = self.streams[q.stream].producer
        if producer is None:
            self._signal()  # a caller blocked in add_packet
        else:
            p = self.by_name[producer]
            self._schedule(p, wake=p.is_heavy)  # this thread is mid-step: a source or model may go on meanwhile

    def _advance(self, s: StreamRuntime, bound: int, out: list[Notification]) -> None:
        """Move stream ``s``'s bound to ``bound`` (no-op if not higher)."""
        if bound > s.bound:
            s.bound = bound
            for q in s.consumers:
                if bound > q.bound:
                    q.bound = bound
                    self._schedule(q.node)  # the thread that moved the bound picks it (or _wake_workers)
            if s.watched:
                out.append((s, None, bound))

    def _propagate_bound(self, node: NodeRuntime, bound: int, out: list[Notification]) -> None:
        if bound > node.out_bound:
            node.out_bound = bound
            for s in node.out_streams:
                self._advance(s, bound, out)

    def _deliver(self, node: NodeRuntime | None, pending: list[Any], out: list[Notification],
                 wake: bool | None = None) -> None:
        """Push emitted packets and bounds to the consumers; collect what observers must see into ``out``.
        ``wake`` overrides the wake-up rule (``_wake_for``) for every consumer."""
        for s, packet, ts in pending:
            if packet is None:
                self._advance(s, ts, out)
                continue
            s.count += 1
            for q in s.consumers:
                q.push(packet, ts)
                n = q.node
                if n.state is IDLE:
                    self._schedule(n, self._wake_for(n, node) if wake is None else wake)
            if ts >= s.bound:
                s.bound = ts + 1
            if s.watched:
                out.append((s, packet, ts))
        pending.clear()

    def _notify(self, out: list[Notification], node: NodeRuntime | None = None) -> None:
        """Hand packets and bounds to graph observers and pollers (lock NOT held). While a callback runs, ``node``
        (whose thread delivers) records the stream, so a callback that blocks is named as such, not as the node."""
        if not out:
            return
        local = self._local
        outer = getattr(local, "busy", False)
        local.busy = True
        try:
            for s, packet, ts in out:
                if node is not None:
                    node.notifying = s.name
                if packet is None:
                    if s.bound_observers:
                        t = _from_raw(ts)
                        for cb in s.bound_observers:
                            self._call_observer(cb, t, s, t)
                    if ts >= DONE_US:
                        for p in s.pollers:
                            p.close()
                    continue
                for p in s.pollers:
                    p.push(packet)
                for cb in s.observers:
                    self._call_observer(cb, packet, s, packet.timestamp)
        finally:
            local.busy = outer
            if node is not None:
                node.notifying = None
            out.clear()

    def _call_observer(self, cb: Callable[[Any], None], arg: Any, s: StreamRuntime, ts: Timestamp) -> None:
        try:
            cb(arg)
        except Exception as exc:  # noqa: BLE001
            self._fail(None, f"observer of stream '{s.name}'", ts._us, exc)

    # ---- running nodes ---------------------------------------------------------------------------------------
    def _run(self, node: NodeRuntime) -> None:
        """Run ``node`` (state RUNNING; lock not held on entry or exit) for one turn: one input set for a source
        or a heavy node, up to BATCH for a light one. The lock is taken once per input set: delivering one call's
        outputs and taking the next input set happen in the same critical section."""
        out: list[Notification] = []
        lock = self.lock
        lock.acquire()
        try:
            self._step_loop(node, 1 if node.is_source or node.is_heavy else BATCH, out)
        finally:
            lock.release()
            if out:
                self._notify(out, node)

    def _step_loop(self, node: NodeRuntime, batch: int, out: list[Notification]) -> None:
        """Up to ``batch`` steps of ``node`` (lock held on entry and exit; also when a Ctrl-C goes through, see
        ``_interrupted``: the node is released on the way)."""
        step = node.step
        try:
            for _ in range(batch):
                if step(out) is not RAN:  # type: ignore[misc]
                    return
                if out:
                    self.lock.release()  # observers run outside the lock, in order, before the next call
                    try:
                        self._notify(out, node)
                    finally:
                        self.lock.acquire()
        except BaseException:
            node.state = IDLE
            raise
        if self.stopping:
            self._release_stopped(node)
            return
        node.state = IDLE
        if node.has_turn():  # type: ignore[misc]
            self._schedule(node, wake=False)  # more work remains: go to the back of the line

    def _make_step(self, node: NodeRuntime) -> Callable[[list[Notification]], object]:
        """The only code that calls ``process``: one input set of ``node`` (lock held on entry and exit), built
        once per node so the hot path reads its constants from the closure. Returns RAN, or ENDED when the node
        may not go on now (not ready, closed, failed or the run is stopping; its state is then settled)."""
        calc = node.calculator
        ctx = node.ctx
        pending = ctx.pending
        lock = self.lock
        perf = time.perf_counter_ns
        sync = node.offset is not None and node.policy == "default" and not node.is_source
        offset = node.offset or 0
        readiness = node.readiness
        record = node.record_call
        deliver = self._deliver
        propagate = self._propagate_bound
        is_source = node.is_source
        # a node with one output needs no bound round after a call whose packet already moved that stream's bound
        single = node.out_streams[0] if self.specialize and len(node.out_streams) == 1 else None
        link = node.link  # see _link_chains
        schedule = self._schedule
        hand_over = self._hand_over_rest

        # the hand-off to the link (see the end of step): the link's one queue, and the one blocking queue its take()
        # tests for room (a link feeding several blocking queues goes through its take() instead)
        hand = HAND_OFF and link is not None and single is not None and len(link.block_queues) <= 1
        link_packets = link.inputs[0].packets if link is not None else None
        link_bq = link.block_queues[0] if hand and link.block_queues else None  # type: ignore[union-attr]
        link_hand = link.readiness.hand if hand else None  # type: ignore[union-attr]
        settled = readiness.settled_bound  # type: ignore[union-attr]
        has_work = readiness.has_work  # type: ignore[union-attr]
        if offset == 0:
            due_bound = settled  # "the bound its outputs may move to", with nothing to add
        else:
            def due_bound() -> int:
                """A synchronised node with no input set to run: the bound its outputs may move to."""
                return settled() + offset

        if self.specialize and isinstance(readiness, SingleInputReadiness):
            has_turn = readiness.turn_test(node, offset if sync else None)  # the rule below, read off one queue
        elif sync:
            def has_turn() -> bool:
                """Whether a step now would do anything: run, close, or move its outputs' bound."""
                return node.stop_requested or has_work() or due_bound() > node.out_bound
        else:
            def has_turn() -> bool:
                """Whether a step now would do anything: run or close."""
                return node.stop_requested or has_work()

        node.has_turn = has_turn

        def step(out: list[Notification], handed: bool = False) -> object:
            """``handed``: the producer this node is linked to has put the input set into the context (lock held)."""
            if handed:
                ts = ctx._ts
            else:
                if self.stopping:
                    self._release_stopped(node)
                    return ENDED
                status = node.take()  # type: ignore[misc]
                if status is NOT_READY:
                    if sync:
                        propagate(node, due_bound(), out)
                    node.state = IDLE
                    return ENDED
                if status is DONE:
                    hand_over()  # close() may take long too (a model releasing its runtime): the rest goes on meanwhile
                    lock.release()
                    try:
                        self._close_node(node)
                    finally:
                        lock.acquire()
                    return ENDED
                ts = ctx._ts
                if node.is_heavy:
                    hand_over()
            lock.release()
            start = perf()
            try:
                calc.process(ctx)
            except StopSource:
                node.stop_requested = True
            except Exception as exc:  # noqa: BLE001
                pending.clear()
                lock.acquire()
                node.state = IDLE
                self._fail(node, "process", None if is_source else ts, exc)
                return ENDED
            except BaseException as exc:  # KeyboardInterrupt (Ctrl-C), SystemExit
                pending.clear()
                lock.acquire()
                node.state = IDLE
                if self._interrupted(node, "process", None if is_source else ts, exc):
                    raise
                return ENDED
            end = perf()
            record(end - start)
            tracer = self.tracer
            if tracer is not None:
                tracer.span(node.name, None if is_source else ts, start, end,
                            [(q.stream, ctx._inputs[q.key]) for q in node.inputs if q.key in ctx._inputs])
                for st, packet, _t in pending:
                    if packet is not None:
                        tracer.flow_start(st.name, packet, end)
            lock.acquire()
            # an idle light link takes its step right here (claimed before delivery, so nobody else queues it)
            chained = link is not None and link.state is IDLE and not link.is_heavy and not link.closed
            handed = None
            if chained:
                link.state = RUNNING  # type: ignore[union-attr]
                if (hand and len(pending) == 1 and not link_packets and not link.stop_requested  # type: ignore[union-attr]
                        and not self.stopping and (link_bq is None or len(link_bq.packets) < link_bq.capacity)):
                    handed = pending[0][1]  # None when the one entry is a bound
            if handed is not None:
                # The packet goes straight into the link's context. This is _deliver -> InputQueue.push -> the link's
                # take() (its stop and throttle tests above, SingleInputReadiness.hand for the queue and context)
                # specialised to one packet for an idle link whose queue is empty, so it leaves every counter as
                # they would (a capacity-1 block queue's space_freed would only reschedule this running node).
                # Before the bound round below, which may move the link's queue bound on past the packet.
                # tests/engine/test_engine_chains.py compares the two forms.
                s_out, _p, pts = pending[0]
                pending.clear()
                s_out.count += 1
                link_hand(handed)  # type: ignore[misc]
                if pts >= s_out.bound:
                    s_out.bound = pts + 1
                if s_out.watched:
                    out.append((s_out, handed, pts))
            elif pending:
                deliver(node, pending, out)
            if sync:
                # the node is done with ts: its outputs will carry nothing below ts + 1 + offset
                bound = ts + 1 + offset
                if bound > node.out_bound:
                    if single is not None and single.bound >= bound:
                        node.out_bound = bound  # the packet just delivered already moved the one output's bound
                    else:
                        propagate(node, bound, out)
            if chained:
                if link.step(out, handed is not None) is RAN:  # type: ignore[union-attr, misc]
                    link.state = IDLE  # type: ignore[union-attr]
                    # still its own rule: a StopSource in that call, a packet at the last timestamp, or a bound
                    # that this node moved past the packet (an emit below its input's timestamp) gives another turn
                    if link.has_turn():  # type: ignore[union-attr]
                        schedule(link)  # type: ignore[arg-type]
            return RAN

        return step

    def _release_stopped(self, node: NodeRuntime) -> None:
        """The run is stopping: give the node up (lock held); if shutdown gave up waiting for this node's call,
        its close() runs now, in this thread."""
        node.state = IDLE
        if node.close_on_release and not node.closed:
            node.closed = True
            self.lock.release()
            try:
                self._call_close(node)
            finally:
                self.lock.acquire()

    def _call_close(self, node: NodeRuntime) -> None:
        """``close()`` of a node whose run is being abandoned (lock not held); nothing it emits is delivered."""
        ctx = node.ctx
        ctx.pending.clear()
        ctx._reset()
        try:
            node.calculator.close(ctx)
        except Exception as exc:  # noqa: BLE001
            self._fail(node, "close", None, exc)
        ctx.pending.clear()

    def _close_node(self, node: NodeRuntime) -> None:
        """The node has finished (inputs done, or StopSource): close() once, deliver what it emits, then close
        every output and count whatever is still queued on its inputs as dropped."""
        with self.lock:
            if node.closed:
                return
            node.closed = True
        ctx = node.ctx
        ctx._reset()
        interrupt: BaseException | None = None
        try:
            if node.opened:
                node.calculator.close(ctx)
        except Exception as exc:  # noqa: BLE001
            self._fail(node, "close", None, exc)
        except BaseException as exc:  # Ctrl-C in the application's thread: finish closing first, then let it go on
            if self._interrupted(node, "close", None, exc):
                interrupt = exc
        out: list[Notification] = []
        with self.lock:
            node.state = IDLE
            if self.error is None:
                self._deliver(node, ctx.pending, out)
            ctx.pending.clear()
            for q in node.inputs:
                was_full = q.full()
                q.close()
                if was_full:
                    self._space_freed(q)
            for s in node.out_streams:
                s.promised = DONE_US
                self._advance(s, DONE_US, out)
            if all(n.closed for n in self.nodes) and not self.finished:
                self.finished = True
                self._signal()
            self._signal()
        self._notify(out)
        if interrupt is not None:
            raise interrupt

    # ---- errors --------------------------------------------------------------------------------------------------
    def _interrupted(self, node: NodeRuntime, phase: str, ts: int | None, exc: BaseException) -> bool:
        """A ``KeyboardInterrupt`` (Ctrl-C) or ``SystemExit`` ended ``node``'s call (lock held for ``process``, not
        for ``close``). Returns whether it goes on to the caller.

        In the application's thread (``caller_runs``, the inline executor) it does, unchanged, as from any Python
        call: the node is released, the input packets of the interrupted call count as dropped, and the graph stays
        usable, so ``stop()`` drains what is inside and ``close()``/``cancel()`` end the run. In a worker thread
        nobody would see it, so it fails the run like any other error of the node."""
        if not getattr(self._local, "busy", False):
            self._fail(node, phase, ts, exc)
            return False
        if phase == "process":
            inputs = node.ctx._inputs
            for q in node.inputs:
                if q.key in inputs:
                    q.drops += 1
        return True

    def _stop_locked(self) -> None:
        self.stopping = True
        self.work_cond.notify_all()
        self._signal()

    def _fail(self, node: NodeRuntime | None, phase: str, ts: int | None, exc: BaseException) -> None:
        channels = []
        with self.lock:
            self.errors.append(exc)
            if ts is None and node is not None and node.is_source and phase == "process":
                # a source has no input timestamp: name the last one it emitted
                last = max((s.last_ts for s in node.out_streams), default=UNSTARTED_US)
                ts = last if last > UNSTARTED_US else None
            if self.error is None:
                tstr = str(_from_raw(ts)) if ts is not None else "-"
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
            self._stop_locked()
            channels = [p for s in self.streams.values() for p in s.pollers]
        for p in channels:
            p.close()

    # ---- executors -----------------------------------------------------------------------------------------------
    def _pick(self) -> NodeRuntime | None:
        """The next node for a worker (lock held), or None to keep waiting.

        Python calculators hold the GIL, so two threads running microsecond-long Python calls at once only fight
        over it (2-3x slower than one). A second thread therefore takes a light node only while no other light
        node runs; heavy nodes it always takes."""
        if not self.ready:
            return None
        if self.running_light == 0:
            return self.ready.popleft()
        for i, n in enumerate(self.ready):
            if n.is_heavy:
                del self.ready[i]
                return n
        return None

    def _enter(self, node: NodeRuntime) -> bool:
        """Mark ``node`` as running in this thread (lock held); returns whether it counts as light."""
        light = not node.is_heavy
        node.state = RUNNING
        self.running += 1
        self.running_light += light
        return light

    def _leave(self, light: bool) -> None:
        self.running -= 1
        self.running_light -= light
        if self.running == 0 and not self.ready:
            # waiters (wait_until_idle, stall checks) re-check; with work still ready the graph is not idle (this
            # thread takes it next), and waking them would only make them contend for the lock and the GIL
            self._signal()
        if self.idle_workers and len(self.ready) > 1 and not self.ready[0].is_heavy:
            self.work_cond.notify()  # this thread takes the first ready node: another one takes the next
        # (a heavy first node is taken by this thread too, and hands the rest over as its call starts: see
        # _hand_over_rest)

    def _hand_over_rest(self) -> None:
        """A heavy node's call, or any node's close(), is about to start in this thread (lock held): wake an idle
        worker for whatever else is ready. Waking it here rather than when the node was picked means the woken
        worker does not fight this one for the lock and the GIL on the way into the call; a heavy call mostly runs
        without the GIL."""
        if self.idle_workers and self.ready:
            self.work_cond.notify()

    def _worker(self) -> None:
        with self.lock:
            while True:
                if self.stopping or self.finished:
                    self.work_cond.notify_all()
                    return
                node = self._pick()
                if node is None:
                    if self.running == 0 and self._relieve_deadlock():
                        continue
                    self.idle_workers += 1
                    self.work_cond.wait(WORKER_IDLE_WAIT_S)
                    self.idle_workers -= 1
                    continue
                light = self._enter(node)
                self.lock.release()
                try:
                    self._run(node)
                finally:
                    self.lock.acquire()
                    self._leave(light)

    def _claim_caller_run(self, caller_runs: bool) -> bool:
        """Whether the caller's thread runs the work it just made ready (lock held; claims the slot if so)."""
        if (not caller_runs or self.running or not self.ready or self.stopping
                or getattr(self._local, "busy", False) or not _caller_may_run(self.ready[0])):
            if caller_runs:
                self._wake_workers()
            return False
        self.running += 1  # the caller counts as a thread running light work: no worker takes light nodes now
        self.running_light += 1
        return True

    def _run_in_caller(self) -> None:
        """Run light ready nodes in the caller's thread, up to CALLER_BUDGET input sets; hand the rest over."""
        local = self._local
        local.busy = True
        budget = CALLER_BUDGET
        lock = self.lock
        try:
            lock.acquire()
            try:
                while budget > 0 and self.ready and not self.stopping:
                    node = self.ready[0]
                    if not _caller_may_run(node):
                        break
                    self.ready.popleft()
                    node.state = RUNNING
                    out: list[Notification] = []
                    before = node.calls
                    try:
                        self._step_loop(node, min(BATCH, budget), out)
                    finally:
                        if out:
                            lock.release()
                            try:
                                self._notify(out, node)
                            finally:
                                lock.acquire()
                    budget -= max(1, node.calls - before)
            finally:
                self.running -= 1
                self.running_light -= 1
                if self.ready and self.idle_workers:
                    self.work_cond.notify()
                if self.running == 0:
                    self._signal()
                lock.release()
        finally:
            local.busy = False

    def run_inline(self) -> None:
        """Inline executor: run ready nodes in this thread until nothing is ready."""
        local = self._local
        if getattr(local, "busy", False):  # called from an observer callback: the outer loop will continue
            return
        local.busy = True
        try:
            while True:
                with self.lock:
                    if self.error is not None or self.stopping or not self.ready:
                        return
                    node = self.ready.popleft()
                    light = self._enter(node)
                try:
                    self._run(node)
                finally:
                    with self.lock:
                        self._leave(light)
        finally:
            local.busy = False

    # ---- back-pressure ---------------------------------------------------------------------------------------------
    def _wait_for_space(self, s: StreamRuntime, timeout: float | None) -> None:
        """The caller's add_packet waits for room in a full ``block`` consumer of graph input ``s`` (lock held)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.blocked_feeders[s.name] += 1
        try:
            while any(q.full() for q in s.consumers):
                self.raise_if_failed_locked()
                if self.relief_for_feeder:
                    self.relief_for_feeder = False
                    return  # a deadlock relief: this packet may overflow the queue (counted there)
                if not self.threads:
                    self.lock.release()
                    try:
                        self.run_inline()
                    finally:
                        self.lock.acquire()
                    if not any(q.full() for q in s.consumers):
                        break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    full = [q for q in s.consumers if q.full()]
                    others = [n for n, st in self.graph_inputs.items() if n != s.name and st.bound < DONE_US
                              and not self.blocked_feeders[n]]
                    hint = (f"; the node may be waiting for a packet on graph input {', '.join(others)} first"
                            if others else "")
                    raise GraphTimeoutError(
                        f"add_packet('{s.name}'): queue of node '{full[0].node.name}' input '{full[0].tag}' stayed "
                        f"full ({full[0].capacity} packets) for {timeout} s{hint}; the graph is slower than the "
                        "input — raise queue_size, use queue_policy drop_oldest/latest_only, or a FlowLimiter")
                if self.running == 0 and not self.ready and self._relieve_deadlock():
                    continue
                poll = FEEDER_POLL_S if self.threads else INLINE_POLL_S
                self._wait_changed(poll if remaining is None else min(poll, remaining))
        finally:
            self.blocked_feeders[s.name] -= 1

    def _relieve_deadlock(self) -> bool:
        """A true back-pressure deadlock: nothing runs or is ready, nobody outside can still feed the graph (every
        open graph input has a caller blocked on it), yet a node holds work behind a full queue. Let exactly one
        input set through, counted as an overflow on the queue it fills. Returns whether it did (lock held)."""
        if self.ready or self.running or self.stopping or self.relief_for_feeder:
            return False
        blocked = [name for name in self.graph_inputs if self._feeder_blocked(name)]
        for name, s in self.graph_inputs.items():
            if s.bound < DONE_US and name not in blocked:
                return False  # the application may still feed that input: it is not a deadlock
        for node in self.nodes:
            if node.state is IDLE and not node.relief and node.throttled() and self._runnable(node):
                self._record_relief(node.name)
                node.relief = 1
                self._schedule(node, wake=True)
                return True
        if blocked:
            self._record_relief("add_packet")
            self.relief_for_feeder = True
            self._signal()
            return True
        return False

    def _feeder_blocked(self, name: str) -> bool:
        """A caller waits in add_packet on graph input ``name`` and a ``block`` consumer of it is full."""
        return bool(self.blocked_feeders[name]) and any(q.full() for q in self.graph_inputs[name].consumers)

    def _record_relief(self, who: str) -> None:
        self.deadlock_reliefs += 1
        log.warning("graphflow: back-pressure deadlock around %s; letting one input set through (raise queue_size "
                    "on its downstream inputs)", who if who == "add_packet" else f"node '{who}'")


def _caller_may_run(node: NodeRuntime) -> bool:
    """Whether ``caller_runs`` may run ``node`` in the application's thread: light nodes only (a heavy call would
    hold up ``add_packet``), and no sources (a source would run there again and again: it keeps its worker)."""
    return not node.is_heavy and not node.is_source


def _thread_names() -> dict[int, str]:
    return {t.ident: t.name for t in threading.enumerate() if t.ident is not None}
