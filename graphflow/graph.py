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
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import stats as _stats
from .config import GraphSpec, load_graph
from .errors import ConfigError, GraphError, GraphTimeoutError
from .packet import Packet
from .poller import OutputPoller, PollerChannel
from .runtime import make_packet
from .scheduler import Scheduler
from .stall import StallDetector
from .timestamp import Timestamp
from .trace import Tracer
from .validate import ValidatedGraph, validate


class Graph:
    """A run of a validated graph (see the module docstring).

    ``executor``: "threads" (default) or "inline" (deterministic, in the caller's thread). ``lossless``: every
    ``drop_oldest``/``latest_only`` queue blocks instead (for deterministic replays). ``caller_runs`` (threads, on
    by default): ``add_packet`` may run light, microsecond-long nodes (not sources) in the caller's thread while no
    worker is busy. That saves two thread hand-offs per packet in a lock-step control loop (add a frame, read its
    result: 3-10x lower latency); packets fed back to back flow as fast as through the workers at a chain of 10
    (``benchmarks/engine_overhead.py`` reports both). ``False`` keeps every node on the workers: ``add_packet``
    then returns at once, even if a light node happens to block.
    A graph dropped without ``close()`` is shut down when it is collected (its threads end).
    """

    def __init__(
        self,
        config: GraphSpec | ValidatedGraph,
        *,
        executor: str = "threads",
        num_threads: int | None = None,
        trace: str | Path | None = None,
        add_packet_timeout: float | None = 30.0,
        lossless: bool = False,
        caller_runs: bool = True,
    ) -> None:
        self.validated = config if isinstance(config, ValidatedGraph) else validate(config)
        self.spec = self.validated.spec
        self.tracer = Tracer(trace) if trace else None
        self.lossless = lossless
        self._sched = Scheduler(self.validated, executor=executor, num_threads=num_threads, tracer=self.tracer,
                                lossless=lossless, caller_runs=caller_runs)
        self.executor = executor
        self.add_packet_timeout = add_packet_timeout
        self._poll_channels: list[PollerChannel] = []  # the pollers' channels (not the pollers: see poller.py)
        self._state = "new"  # new -> running -> closed
        self._closing = threading.Lock()
        self._finalizer = weakref.finalize(self, Scheduler.abandon, self._sched)

    @classmethod
    def from_yaml(cls, source: str | Path | dict[str, Any], *, executor: str | None = None,
                  num_threads: int | None = None, trace: str | Path | None = None,
                  allow_imports: tuple[str, ...] | list[str] = (), add_packet_timeout: float | None = 30.0,
                  lossless: bool = False, caller_runs: bool = True, **options: Any) -> Any:
        """Load, expand and validate a graph (path, YAML text or dict); ``options`` set its declared options.

        ``executor``: "threads", "inline" or "ray" (default: the graph file's ``executor:``, else "threads"). With
        "ray" the result is a ``graphflow.distributed.RayGraph``, which has this class's API."""
        spec = load_graph(source, options, allow_imports)
        if executor is None:
            executor = spec.executor.type if spec.executor is not None else "threads"
        if executor == "ray":  # lives outside the engine core; imports ray only when asked for
            from .distributed import ray_graph

            return ray_graph(spec, trace=trace, add_packet_timeout=add_packet_timeout, lossless=lossless)
        return cls(spec, executor=executor, num_threads=num_threads, trace=trace,
                   add_packet_timeout=add_packet_timeout, lossless=lossless, caller_runs=caller_runs)

    def __repr__(self) -> str:
        return f"<Graph {Path(self.spec.source).name} nodes={len(self.validated.nodes)} state={self._state}>"

    # ---- wiring (before start) -----------------------------------------------------------------------------------
    def _check_stream(self, stream: str, verb: str) -> None:
        if self._state != "new":
            raise RuntimeError(f"{self!r}: {verb}() must be called before start()")
        if self._sched.stream(stream) is None:
            known = ", ".join(sorted(self._sched.streams))
            raise KeyError(f"{verb}: no stream named '{stream}' in {self.spec.source} (streams: {known})")

    def stream_names(self) -> list[str]:
        """Every stream of the graph (graph inputs, node outputs), for ``observe`` and ``poller``."""
        return sorted(self._sched.streams)

    def runs_again_within(self, node: str, seconds: float) -> bool:
        """Whether ``node`` has input waiting and its calls take less than ``seconds`` on average: its next output
        is due soon (a hint; see ``Scheduler.runs_again_within``)."""
        return self._sched.runs_again_within(node, seconds)

    def is_idle(self) -> bool:
        """Whether no node has work now (nothing ready or running, no source that could run): a hint."""
        sched = self._sched
        with sched.lock:
            return sched.idle()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until no node has work; whether it got there (False on a timeout, a failure
        or a stop). A hint that never raises (``wait_until_idle`` is the application's)."""
        sched = self._sched
        try:
            sched.wait(sched.idle, timeout, "wait_idle")
        except GraphTimeoutError:
            return False
        return sched.error is None and not sched.shut_down

    def observe(self, stream: str, callback: Callable[[Packet], None], *,
                on_bound: Callable[[Timestamp], None] | None = None) -> None:
        """Call ``callback(packet)`` for every packet on ``stream`` (any stream of the graph), from a worker thread;
        keep it short. ``on_bound(ts)`` is called, in order with the packets, whenever the stream's timestamp bound
        moves past what its last packet implied (no packet below ``ts`` will come), and with ``Timestamp.DONE``
        when the stream closes."""
        self._check_stream(stream, "observe")
        self._sched.watch(stream, observer=callback, on_bound=on_bound)

    def poller(self, stream: str, max_queue: int = 0) -> OutputPoller:
        """An iterator over ``stream``'s packets (see ``OutputPoller``)."""
        self._check_stream(stream, "poller")
        p = OutputPoller(self, stream, max_queue)
        self._sched.watch(stream, poller=p._channel)
        self._poll_channels.append(p._channel)
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

    def _input(self, stream: str) -> None:
        if stream not in self._sched.graph_inputs:
            raise KeyError(f"'{stream}' is not an input stream of {self.spec.source} "
                           f"(input_streams: {', '.join(self._sched.graph_inputs) or 'none'})")

    def add_packet(self, stream: str, payload: Any, timestamp: int | Timestamp | None = None,
                   timeout: float | None = -1.0, run_here: bool = False) -> None:
        """Feed ``payload`` at ``timestamp`` (int microseconds) into graph input ``stream``.

        A ``Packet`` may be passed as payload with ``timestamp=None``. When a consumer's ``block`` queue is full,
        waits up to ``timeout`` seconds (default: the graph's ``add_packet_timeout``), then raises
        ``GraphTimeoutError``. Raises the graph's ``GraphError`` if a node has failed. ``run_here``: this packet
        follows the ``caller_runs`` rule (its light consumers may run in this thread while no worker is busy)
        even if the graph was made without it.
        """
        self._check_running("add_packet")
        self._input(stream)
        if isinstance(payload, Packet) and timestamp is None:
            packet = payload
        else:
            if timestamp is None:
                raise TypeError("add_packet needs a timestamp (int microseconds)")
            packet = make_packet(payload, timestamp if isinstance(timestamp, Timestamp) else Timestamp(timestamp))
        if timeout is not None and timeout < 0:
            timeout = self.add_packet_timeout
        if self.tracer is not None:
            self.tracer.flow_start(stream, packet, time.perf_counter_ns())
        try:
            self._sched.feed(stream, packet, timeout, run_here)
        except RuntimeError as exc:
            if isinstance(exc, GraphError):
                raise
            raise RuntimeError(f"{self!r}: {exc}") from None
        if self._sched.error is not None and self.executor == "inline":
            self._raise_if_failed()

    def set_input_bound(self, stream: str, timestamp: int | Timestamp) -> None:
        """Promise that no packet below ``timestamp`` will be added to graph input ``stream`` (timestamp-synchronised
        nodes downstream may then go on without waiting for it)."""
        self._check_running("set_input_bound")
        self._input(stream)
        self._sched.set_input_bound(stream, int(timestamp))

    def close_input(self, stream: str) -> None:
        """No more packets on graph input ``stream``."""
        self._check_running("close_input")
        self._input(stream)
        self._sched.close_input(stream)

    def close_all_inputs(self) -> None:
        for name in self._sched.graph_inputs:
            if self._sched.input_open(name):
                self._sched.close_input(name)

    def _pump(self) -> None:
        """Let the inline executor make progress from a caller's blocking call. With worker threads the caller
        never runs graph work while it waits: a node that blocks must not make the caller's timeout unenforceable."""
        if self.executor == "inline" and self._state == "running":
            self._sched.run_inline()

    def _raise_if_failed(self) -> None:
        if self._sched.error is not None:
            self._finish(timeout=5.0)
            raise self._sched.error

    def wait_until_idle(self, timeout: float | None = 30.0) -> None:
        """Block until no node has work (sources may keep a graph busy). Raises the graph's error if any."""
        self._check_running("wait_until_idle")
        sched = self._sched
        sched.wait(lambda: sched.idle() or sched.finished, timeout, "wait_until_idle")
        self._raise_if_failed()

    def wait_until_done(self, timeout: float | None = None) -> None:
        """Close all graph inputs, then block until every node has closed; joins the workers. Returns at once if
        another thread closes or cancels the graph meanwhile."""
        if self._state == "closed":
            self._raise_if_failed()
            return
        self._check_running("wait_until_done")
        self.close_all_inputs()
        self._sched.wait(self._done_or_stalled(), timeout, "wait_until_done")
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
            busy = self._sched.busy()  # timestamps before the join moves on
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
            if err is not None:
                sched.fail_with(err)
                return True
            return False

        return check

    def _finish(self, timeout: float) -> list[str]:
        with self._closing:
            if self._state == "closed":
                return []
            stuck = self._sched.shutdown(timeout)
            self._state = "closed"
            self._finalizer.detach()
            if self.tracer is not None:
                names = {t.ident: t.name for t in threading.enumerate() if t.ident is not None}
                self.tracer.write(names)
            return stuck

    def stop(self, timeout: float = 10.0) -> None:
        """End the run early but cleanly (Ctrl-C): sources stop at their next call, graph inputs close, the
        packets already inside drain, every node's ``close`` runs; then as ``close(timeout)``."""
        if self._state == "running":
            self._sched.request_stop()
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

    def start_trace(self) -> None:
        """Start capturing a Chrome/Perfetto trace of the running graph in memory (see ``stop_trace``)."""
        self._sched.start_trace()

    def stop_trace(self) -> dict[str, Any]:
        """Stop the capture begun by ``start_trace``; returns the trace document (JSON-serialisable)."""
        return self._sched.stop_trace()

    # ---- observability -------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return _stats.collect(self._sched, self._poll_channels)

    def stats_table(self) -> str:
        return _stats.table(self.stats())

    @property
    def failed(self) -> bool:
        return self._sched.error is not None

    @property
    def error(self) -> GraphError | None:
        return self._sched.error
