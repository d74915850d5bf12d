"""The application-facing graph: build from YAML, start, feed, observe, wait, close.

    with Graph.from_yaml("graphs/hand_tracking.yaml", max_num_hands=1) as graph:
        poller = graph.poller("hands")
        graph.start()
        graph.add_packet("image", frame, timestamp=0)
        hands = poller.next(timeout=1.0).payload

Guarantees: every blocking call takes a timeout; a node's exception surfaces from ``wait_*``/``close`` (and from
``add_packet``) as one ``GraphError`` naming node, calculator and timestamp, with the original exception chained;
``close()`` joins every worker thread and closes every opened node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import stats as _stats
from .config import GraphSpec, load_graph
from .errors import ConfigError, GraphError, GraphTimeoutError
from .packet import Packet
from .poller import OutputPoller
from .runtime import make_packet
from .scheduler import Scheduler
from .stall import StallDetector
from .timestamp import Timestamp, _from_raw
from .trace import Tracer
from .validate import ValidatedGraph, validate


class Graph:
    def __init__(
        self,
        config: GraphSpec | ValidatedGraph,
        *,
        executor: str = "threads",
        num_threads: int | None = None,
        trace: str | Path | None = None,
        add_packet_timeout: float | None = 30.0,
    ) -> None:
        self.validated = config if isinstance(config, ValidatedGraph) else validate(config)
        self.spec = self.validated.spec
        self.tracer = Tracer(trace) if trace else None
        self._sched = Scheduler(self.validated, executor=executor, num_threads=num_threads, tracer=self.tracer)
        self.add_packet_timeout = add_packet_timeout
        self._pollers: list[OutputPoller] = []
        self._state = "new"  # new -> running -> closed
        self._closing = threading.Lock()

    @classmethod
    def from_yaml(cls, source: str | Path | dict[str, Any], *, executor: str = "threads",
                  num_threads: int | None = None, trace: str | Path | None = None,
                  allow_imports: tuple[str, ...] | list[str] = (), add_packet_timeout: float | None = 30.0,
                  **options: Any) -> Graph:
        """Load, expand and validate a graph (path, YAML text or dict); ``options`` set its declared options."""
        spec = load_graph(source, options, allow_imports)
        return cls(spec, executor=executor, num_threads=num_threads, trace=trace,
                   add_packet_timeout=add_packet_timeout)

    def __repr__(self) -> str:
        return f"<Graph {Path(self.spec.source).name} nodes={len(self._sched.nodes)} state={self._state}>"

    # ---- wiring (before start) -----------------------------------------------------------------------------------
    def _output_stream(self, stream: str, verb: str) -> Any:
        if self._state != "new":
            raise RuntimeError(f"{self!r}: {verb}() must be called before start()")
        s = self._sched.streams.get(stream)
        if s is None:
            known = ", ".join(sorted(self._sched.streams))
            raise KeyError(f"{verb}: no stream named '{stream}' in {self.spec.source} (streams: {known})")
        return s

    def observe(self, stream: str, callback: Callable[[Packet], None]) -> None:
        """Call ``callback(packet)`` for every packet on ``stream`` (from a worker thread; keep it short)."""
        self._output_stream(stream, "observe").observers.append(callback)

    def poller(self, stream: str, max_queue: int = 0) -> OutputPoller:
        """An iterator over ``stream``'s packets (see ``OutputPoller``)."""
        s = self._output_stream(stream, "poller")
        p = OutputPoller(self, stream, max_queue)
        s.pollers.append(p)
        self._pollers.append(p)
        return p

    # ---- running -------------------------------------------------------------------------------------------------
    def start(self, side_packets: dict[str, Any] | None = None) -> Graph:
        if self._state != "new":
            raise RuntimeError(f"{self!r}: start() can be called once; build a new Graph to run again")
        side_packets = dict(side_packets or {})
        declared = [n for n, _ in self.spec.input_side_packets]
        missing = [n for n in declared if n not in side_packets]
        if missing:
            raise ConfigError(f"side packet '{missing[0]}' is missing at start", location=self.spec.source,
                              hint=f"pass start(side_packets={{'{missing[0]}': ...}}) "
                                   f"(or --side {missing[0]}=VALUE on the command line)")
        unknown = [n for n in side_packets if n not in declared]
        if unknown:
            raise ConfigError(f"side packet '{unknown[0]}' is not declared by the graph", location=self.spec.source,
                              hint=f"declared side packets: {', '.join(declared) or 'none'}")
        self._state = "running"
        try:
            self._sched.start(side_packets)  # on a failing open(), it closes what opened and joins
        except BaseException:
            self._state = "closed"
            raise
        return self

    def _check_running(self, verb: str) -> None:
        if self._state != "running":
            raise RuntimeError(f"{self!r}: {verb}() needs a started graph (call start() first)"
                               if self._state == "new" else f"{self!r}: {verb}() after close()")

    def add_packet(self, stream: str, payload: Any, timestamp: int | Timestamp | None = None,
                   timeout: float | None = -1.0) -> None:
        """Feed ``payload`` at ``timestamp`` (int microseconds) into graph input ``stream``.

        A ``Packet`` may be passed as payload with ``timestamp=None``. When a consumer's ``block`` queue is full,
        waits up to ``timeout`` seconds (default: the graph's ``add_packet_timeout``), then raises
        ``GraphTimeoutError``. Raises the graph's ``GraphError`` if a node has failed.
        """
        self._check_running("add_packet")
        sched = self._sched
        s = sched.graph_inputs.get(stream)
        if s is None:
            raise KeyError(f"'{stream}' is not an input stream of {self.spec.source} "
                           f"(input_streams: {', '.join(sched.graph_inputs) or 'none'})")
        if isinstance(payload, Packet) and timestamp is None:
            packet = payload
        else:
            if timestamp is None:
                raise TypeError("add_packet needs a timestamp (int microseconds)")
            ts_obj = timestamp if isinstance(timestamp, Timestamp) else Timestamp(timestamp)
            packet = make_packet(payload, ts_obj)
        ts = packet._timestamp._us
        if timeout is not None and timeout < 0:
            timeout = self.add_packet_timeout
        with sched.cond:
            if sched.error is not None:
                self._raise_locked()
            if s.bound >= 2**63 - 1:
                raise RuntimeError(f"{self!r}: add_packet on stream '{stream}' after close_input()")
            s.check(ts)
            if any(q.full() for q in s.consumers):
                self._wait_for_space(s, timeout)
            s.last_ts = ts
            observed = sched._deliver(None, [(s, packet, ts)])
        if self.tracer is not None:
            self.tracer.flow_start(stream, packet, time.perf_counter_ns())
        if observed:
            sched._notify(observed)
        if sched.executor == "inline":
            sched.run_inline()
            if sched.error is not None:
                self._raise_if_failed()

    def _wait_for_space(self, s: Any, timeout: float | None) -> None:
        sched = self._sched
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(q.full() for q in s.consumers):
            if sched.error is not None:
                self._raise_locked()
            if sched.executor == "inline":
                sched.cond.release()
                try:
                    sched.run_inline()
                finally:
                    sched.cond.acquire()
                if sched.idle() and any(q.full() for q in s.consumers):
                    sched.deadlock_reliefs += 1  # a consumer waits on another input: let this one through
                    return
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                full = [q for q in s.consumers if q.full()]
                raise GraphTimeoutError(
                    f"add_packet('{s.name}'): queue of node '{full[0].node.name}' input '{full[0].tag}' stayed full "
                    f"({full[0].capacity} packets) for {timeout} s; the graph is slower than the input — raise "
                    "queue_size, use queue_policy drop_oldest/latest_only, or a FlowLimiter")
            sched.cond.wait(0.05 if remaining is None else min(0.05, remaining))
            if sched.idle() and any(q.full() for q in s.consumers):
                sched.deadlock_reliefs += 1
                return

    def close_input(self, stream: str) -> None:
        """No more packets on graph input ``stream``."""
        self._check_running("close_input")
        sched = self._sched
        s = sched.graph_inputs.get(stream)
        if s is None:
            raise KeyError(f"'{stream}' is not an input stream of {self.spec.source}")
        with sched.cond:
            sched._advance_stream(s, 2**63 - 1)
        if sched.executor == "inline":
            sched.run_inline()

    def close_all_inputs(self) -> None:
        for name in self._sched.graph_inputs:
            if self._sched.graph_inputs[name].bound < 2**63 - 1:
                self.close_input(name)

    def _pump(self) -> None:
        """Let the inline executor make progress from a caller's blocking call. With worker threads the caller
        never runs graph work itself: a node that blocks must not make the caller's timeout unenforceable."""
        if self._sched.executor == "inline" and self._state == "running":
            self._sched.run_inline()

    def _raise_locked(self) -> None:
        err = self._sched.error
        assert err is not None
        raise err

    def _raise_if_failed(self) -> None:
        if self._sched.error is not None:
            self._finish(timeout=5.0)
            raise self._sched.error

    def wait_until_idle(self, timeout: float | None = 30.0) -> None:
        """Block until no node has work (sources may keep a graph busy). Raises the graph's error if any."""
        self._check_running("wait_until_idle")
        sched = self._sched
        sched.wait(lambda: (sched.idle() and not any(n.state == 1 for n in sched.nodes)) or sched.finished,
                   timeout, "wait_until_idle")
        self._raise_if_failed()

    def wait_until_done(self, timeout: float | None = None) -> None:
        """Close all graph inputs, then block until every node has closed; joins the workers."""
        if self._state == "closed":
            self._raise_if_failed()
            return
        self._check_running("wait_until_done")
        self.close_all_inputs()
        sched = self._sched
        sched.wait(self._done_or_stalled(), timeout, "wait_until_done")
        self._raise_if_failed()
        self._finish(timeout=5.0)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the run: close inputs, wait up to ``timeout`` s for the graph to drain, then stop and join
        everything. Raises the graph's ``GraphError`` if a node failed (or the graph can never finish: see
        ``stall.py``), ``GraphTimeoutError`` naming the stuck nodes and their timestamps if some call never returned.

        A call that never returns cannot be interrupted in Python. Then ``close`` still returns within about twice
        ``timeout``: every other worker is joined and every other opened node closed; the stuck worker is a daemon
        thread (it cannot keep the interpreter alive) that exits, after running its node's ``close``, as soon as
        the blocked call returns."""
        if self._state == "new":
            self._state = "closed"
            return
        if self._state == "closed":
            return
        try:
            self.close_all_inputs()
            self._sched.wait(self._done_or_stalled(), timeout, "close")
        except GraphTimeoutError:
            busy = {n.name: (str(_from_raw(n.ctx._ts)) if n.ctx._ts > -(2**63) + 1 else "-")
                    for n in self._sched.nodes if n.state == n.RUNNING}  # timestamps before the join moves on
            stuck = self._finish(timeout=min(2.0, timeout))
            # a node name gets its timestamp; anything else shutdown() reports (e.g. an observer) is shown as is
            where = [f"{name} (process at timestamp {busy[name]})" if name in busy else name for name in stuck]
            raise GraphTimeoutError(
                f"{self!r}: close() timed out after {timeout} s; stuck in a call: {', '.join(where) or 'none'} "
                "(their threads cannot be killed: they were left as daemons and exit when the call returns)") from None
        self._finish(timeout=5.0)
        if self._sched.error is not None:
            raise self._sched.error

    def _done_or_stalled(self) -> Callable[[], bool]:
        """Wait predicate (scheduler lock held): the graph finished, or it can never finish (then it fails with a
        ``GraphError`` saying which node waits on what, instead of hanging)."""
        sched = self._sched
        detector = StallDetector()

        def check() -> bool:
            if sched.finished:
                return True
            err = detector.check(sched)
            if err is not None and sched.error is None:
                sched.error = err
                sched.errors.append(err)
                sched.stopping = True
                sched.cond.notify_all()
                return True
            return False

        return check

    def _finish(self, timeout: float) -> list[str]:
        with self._closing:
            if self._state == "closed":
                return []
            stuck = self._sched.shutdown(timeout)
            self._state = "closed"
            if self.tracer is not None:
                names = {t.ident: t.name for t in threading.enumerate() if t.ident is not None}
                self.tracer.write(names)
            return stuck

    def stop(self, timeout: float = 10.0) -> None:
        """End the run early but cleanly (Ctrl-C): sources stop at their next call, graph inputs close, the
        packets already inside drain, every node's ``close`` runs; then as ``close(timeout)``."""
        if self._state == "running":
            sched = self._sched
            with sched.cond:
                for node in sched.nodes:
                    if node.is_source and not node.closed:
                        node.source_stopped = True
                        sched._schedule(node)
        self.close(timeout)

    def cancel(self, timeout: float = 5.0) -> list[str]:
        """Abandon the run now, without draining: stop and join the workers, run ``close`` of every opened node
        that is not stuck in a call. Returns the names of nodes stuck in a call (see ``close``)."""
        if self._state == "new":
            self._state = "closed"
            return []
        return self._finish(timeout)

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.close(timeout=5.0)
            except (GraphError, GraphTimeoutError):
                pass  # the exception already propagating is the one to report

    def run(self, side_packets: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Start a self-contained graph (sources inside), run it to completion, return stats."""
        self.start(side_packets)
        self.wait_until_done(timeout)
        return self.stats()

    # ---- observability -------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._sched.lock:
            return _stats.collect(self._sched, self._pollers)

    def stats_table(self) -> str:
        return _stats.table(self.stats())

    @property
    def failed(self) -> bool:
        return self._sched.error is not None

    @property
    def error(self) -> GraphError | None:
        return self._sched.error
