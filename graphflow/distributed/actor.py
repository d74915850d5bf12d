"""One part of a distributed graph, running with the in-process engine: in a group's actor, or in the driver.

``PartRunner`` owns a ``Graph`` of the part's nodes, an ``Outbox`` per bridge out (fed by observing the stream)
and an ``Inbox`` per bridge in (feeding a graph input stream). Transports:

- into an actor: the sender *pushes* (``Pusher``: ``peer.push.remote((edge, incarnation, batch, ...))``, one call in
  flight per edge, submitted by the thread that queued the item when the edge is idle and by the previous call's
  completion callback otherwise; the call returns once the receiver's engine accepted the batch, which returns
  the credit; one watch thread per edge for retries and restarted receivers);
- into the driver (which is not an actor and cannot be called): the driver *pulls* (``Puller``:
  ``peer.pull.remote((edge, ack, ack_for, timeout))``, a long poll that also returns the credit of what the driver
  has accepted since), and the reply of each driver -> group push carries what the group has ready for the
  driver (piggyback: a lock-step round trip is then one call). When the group was idle as the push came (so what
  it does next is that push's work) and the pushed stream can lead to a bridge into the driver, the push waits
  up to ``REPLY_WAIT_S`` for the group to be idle again before it takes; a busy group never makes a push wait.
  Both paths take through ``Outbox.take``; the push returns the credit of the batches its earlier replies
  brought. Such a push also runs the light work it sets off in its own thread (the engine's ``caller_runs``
  rule, for that packet), sparing the hand-off to a worker and back. In the driver, the reply of a push to a
  group with one bridge back is handled by that bridge's thread when it is idle (it waits in ``ray.get``, or
  ``ray.wait`` with several pushes; ``Puller.await_reply``), which feeds what the reply carried before the next
  push goes out, so that push returns its credit; a busy thread leaves replies to Ray's completion callback.

A call's fields travel as one tuple argument: Ray serialises each argument on its own, and five cost about
0.1 ms more per call than one on a small machine (``Push``/``Pull`` name the fields). ``push`` and ``pull`` record
no Ray task events (``enable_task_events=False``): a busy bridge makes hundreds of them a second, which Ray's
dashboard cannot usefully show and whose reporting costs the group, the driver and Ray's GCS about 20-50 us of CPU
a call (``docs/notes/2026-12-03-s9-issue-15.md``); the control calls (``start``, ``stats``, ...) keep them.

A part finishes when every bridge into it has closed (DONE) and its graph has drained; then it closes its bridges
out. The actor is ``GroupActor`` (``ray.remote(PartRunner)``), threaded so pushes, pulls and control calls
do not wait for one another.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from ..errors import GraphError, GraphTimeoutError
from ..graph import Graph
from ..timestamp import DONE_US, Timestamp
from .bridge import LINGER_S, PACKET, REPLY_WAIT_S, WAIT_SLICE_S, BridgeAborted, Inbox, Outbox
from .partition import DRIVER, Part, downstream_streams
from .wire import pack, unpack

JOIN_TIMEOUT_S = 5.0
RETRY_S = 0.1  # pause before retrying a transfer to a peer that is restarting
SWITCH_INTERVAL_S = 0.0005  # in a group's actor: bridge threads get the GIL soon even while a node computes
PEER_CHECK_S = 2.0  # a transfer unanswered this long: check whether the receiver restarted meanwhile
IDLE_SLICE_S = WAIT_SLICE_S  # an idle edge thread wakes this often (``cancel`` and arrivals wake it at once)
AWAIT_REPLY_S = 0.005  # a Puller thread waits this long for a push reply itself (then leaves it to the callback)
PULL_GIVE_UP_S = 30.0  # a long poll unanswered this long (its group hangs): ask again
LONG_POLL_MAX_S = 0.8  # an idle edge's long poll waits up to this long (each empty one twice the last)
CREDIT_HOLD_S = AWAIT_REPLY_S  # half an edge's credit owed this long, no push took it: a credit-only pull
# the messages' own fields are exact str / int / float / None (``wire.pack`` marshals them; only batches' payloads
# are the application's)
Push = tuple[str, str, list[tuple], dict[str, int], str | None]  # edge id, sender incarnation, batch, credit, for
Pull = tuple[str, int, str | None, float]  # edge id, credit, for (incarnation), timeout s


def first_ready(refs: list[Any], timeout: float) -> list[Any]:
    """Those of ``refs`` whose calls have answered, waiting up to ``timeout`` s for the first. The waiting thread
    is woken by Ray's core itself, not by a Python callback on Ray's io thread."""
    return ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=True)[0]


def get_within(ref: Any, timeout: float | None) -> Any:
    """The result of call ``ref`` (or raises what the call raised), waiting up to ``timeout`` s (None: as long as
    it takes); ``GetTimeoutError`` if it has not answered by then."""
    return ray.get(ref, timeout=timeout)


def result_of(ref: Any) -> Any:
    """The result of a call ``first_ready`` returned (or raises what the call raised)."""
    return get_within(ref, None)


def reply_within(ref: Any, timeout: float) -> Callable[[], Any] | None:
    """The reply of call ``ref`` if it answers within ``timeout`` s, as a function that returns it (or raises what
    the call raised); None if it has not answered. One ``ray.get``: about 35 us a round trip less than
    ``first_ready`` and then ``result_of`` on a 2-core machine (``docs/notes/2026-12-03-s8-issue-15.md``)."""
    try:
        value = get_within(ref, timeout)
    except GetTimeoutError:
        return None
    except Exception as exc:  # noqa: BLE001 - the call's own failure (RayActorError, ...): the caller handles it
        failure = exc

        def fail() -> Any:
            raise failure

        return fail
    return lambda: value


def engine_has_bounds() -> bool:
    """Whether the engine reports stream bounds (``observe(..., on_bound=)``) and takes them (``set_input_bound``)."""
    return "on_bound" in inspect.signature(Graph.observe).parameters and hasattr(Graph, "set_input_bound")


def error_info(exc: BaseException, part: str) -> dict[str, Any]:
    """What the driver needs to rebuild a remote ``GraphError`` (exceptions themselves may not pickle)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    ts = getattr(exc, "timestamp", None)
    return {"part": part, "message": str(exc), "type": type(exc).__name__, "node": getattr(exc, "node", ""),
            "calculator": getattr(exc, "calculator", ""), "phase": getattr(exc, "phase", ""),
            "timestamp": None if ts is None else int(ts),
            "traceback": "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))}


class PartRunner:
    def __init__(self, part: Part, lossless: bool = False) -> None:
        self.part = part
        self.is_driver = part.name == DRIVER
        if not self.is_driver:  # the actor's process is ours; the driver's belongs to the application
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.incarnation = uuid.uuid4().hex
        # caller_runs only for the pushes whose reply waits for their work (``run_here``): a streaming push must
        # not run nodes in a Ray call thread
        self.graph = Graph(part.graph, executor="threads", lossless=lossless, caller_runs=False)
        self.bounds = engine_has_bounds()
        self.outboxes = {e.id: Outbox(e) for e in part.outputs}
        set_bound = self.graph.set_input_bound if self.bounds else None  # type: ignore[attr-defined]
        bound_of = (lambda s, ts: set_bound(s, Timestamp(ts))) if set_bound else None
        # the driver's bridges in come by two paths (long poll, push replies): its inboxes reorder
        self.inboxes = {e.id: Inbox(e, self.graph, bound_of, reorder=self.is_driver) for e in part.inputs}
        self.by_stream: dict[str, list[Outbox]] = {}
        for box in self.outboxes.values():
            self.by_stream.setdefault(box.edge.stream, []).append(box)
            producer = part.graph.producers[box.edge.stream][0]
            if producer is not None and not box.edge.dropping:  # a node of this part: its busy streams linger
                box.more_coming = lambda node=producer: self.graph.runs_again_within(node, LINGER_S / 2)
        for stream, boxes in self.by_stream.items():
            self._observe(stream, boxes)
        to_driver = [b for b in self.outboxes.values() if b.edge.dst == DRIVER]
        self.replies_for: dict[str, list[Outbox]] = {}  # a push from the driver on this edge carries these back
        for e in part.inputs:
            if e.src == DRIVER:
                reach = downstream_streams(part.graph, e.stream)
                self.replies_for[e.id] = [b for b in to_driver if b.edge.stream in reach]
        self.reply_waits = self.reply_wait_timeouts = 0
        self.reply_wait_ns = 0
        self.pullers: dict[str, Puller] = {}
        self.peers: dict[str, Any] = {}
        self.started = threading.Event()
        self.finished = threading.Event()
        self.changed = threading.Event()  # wakes _finish_loop: inputs closed, a bridge in closed, an abort
        self.aborted = False
        self.inputs_closed = not self.is_driver  # the driver's own inputs close when the application says so
        self.state = "new"
        self.error: dict[str, Any] | None = None
        self.threads: list[threading.Thread] = []
        self.tracing = False
        self.trace_doc: dict[str, Any] | None = None

    def _observe(self, stream: str, boxes: list[Outbox]) -> None:
        def on_packet(packet: Any) -> None:
            ts = int(packet.timestamp)
            for box in boxes:
                box.put_packet(ts, packet.payload)

        def on_bound(ts: Any) -> None:
            for box in boxes:
                box.put_bound(int(ts))

        if self.bounds:
            self.graph.observe(stream, on_packet, on_bound=on_bound)  # type: ignore[call-arg]
        else:
            self.graph.observe(stream, on_packet)

    # ---- control (from the driver) --------------------------------------------------------------------------
    def ping(self) -> dict[str, Any]:
        # get_runtime_context() starts a local Ray when none is up: the driver's part is asked for stats (a progress
        # thread) before RayGraph.start has joined or started Ray, and a second ray.init racing the first hangs both
        node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        return {"pid": os.getpid(), "incarnation": self.incarnation, "node_id": node_id}

    def connect(self, peers: dict[str, Any]) -> None:
        self.peers = dict(peers)

    def start(self, side_packets: dict[str, Any] | None = None, trace: bool = False,
              peers: dict[str, Any] | None = None) -> dict[str, Any]:
        """Open the part's nodes and start its transports (and a trace capture). Returns ``ping()``; raises on a
        failing ``open``. ``peers`` come with the call: a threaded actor runs its calls in no particular order, so
        a separate ``connect`` may run after ``start`` has spawned transports that need them."""
        if peers is not None:
            self.connect(peers)
        try:
            self.graph.start(side_packets or {})
            if trace:
                self.graph.start_trace()
                self.tracing = True
        except Exception as exc:
            self._fail(exc)
            raise
        self.state = "running"
        if self.is_driver:  # before the pushers: a push to a group carries the credit of what came back by replies
            self.pullers = {e: Puller(self, box) for e, box in self.inboxes.items()}
        self.started.set()
        for box in self.outboxes.values():
            if box.edge.dst != DRIVER:
                pusher = Pusher(self, box)
                box.on_ready = pusher.kick
                self._spawn(f"graphflow-bridge-push-{box.edge.id}", pusher.watch)
                pusher.kick()  # anything queued before start
        for edge, puller in self.pullers.items():
            self._spawn(f"graphflow-bridge-pull-{edge}", puller.run)
        self._spawn(f"graphflow-part-{self.part.name}", self._finish_loop)
        return self.ping()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception as exc:  # noqa: BLE001 - a dead transport would hang the graph: fail the part instead
                self._fail(GraphError(f"{name} failed: {type(exc).__name__}: {exc}", node=self.part.name,
                                      phase="bridge"), cause=exc)

        t = threading.Thread(target=guarded, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def close_inputs(self) -> None:
        """(Driver) the application's inputs are closed: the part may finish once its bridges in have."""
        self.inputs_closed = True
        self.changed.set()

    def wait_done(self, timeout: float) -> dict[str, Any]:
        self.finished.wait(timeout)
        return {"state": self.state, "error": self.error}

    def stop(self, timeout: float) -> dict[str, Any]:
        """End early but cleanly: sources stop, inputs close, what is inside drains, every node's close runs."""
        if self.state == "running":
            self.inputs_closed = True  # (the driver's) so the part may finish once its graph has stopped
            for box in self.inboxes.values():
                box.close()
            self.changed.set()
            try:
                if self.part.graph.nodes:
                    self.graph.stop(timeout)
                else:
                    self.graph.cancel()  # node-less: nothing to drain (see _finish_loop)
            except Exception as exc:  # noqa: BLE001 - reported to the driver
                self._fail(exc)
            self._close_outboxes()
        return self.wait_done(timeout)

    def cancel(self, timeout: float = JOIN_TIMEOUT_S) -> list[str]:
        """Abandon the run: transports stop, every opened node gets ``close``; returns threads still alive."""
        self.aborted = True
        self.changed.set()
        for puller in self.pullers.values():
            puller.wake()
        for box in self.outboxes.values():
            box.abort()
        for box in self.inboxes.values():
            box.close()
        stuck = self.graph.cancel(timeout)
        if self.state in ("new", "running"):
            self.state = "cancelled"
        self.finished.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        return stuck + [t.name for t in self.threads if t.is_alive()]

    def trace(self) -> dict[str, Any] | None:
        """The part's trace document (``Graph.stop_trace``), with this process's pid on every event."""
        if self.tracing and self.trace_doc is None:
            try:
                self.trace_doc = self.graph.stop_trace()
            except Exception:  # noqa: BLE001 - a trace is a diagnostic; the run's result does not depend on it
                self.trace_doc = {"traceEvents": []}
        return self.trace_doc

    def stats(self) -> dict[str, Any]:
        pullers = {k: p.stats() for k, p in self.pullers.items()}
        return {"graph": self.graph.stats(), **self.ping(),
                "state": self.state, "outboxes": {k: b.stats() for k, b in self.outboxes.items()},
                "inboxes": {k: {**b.stats(), **pullers.get(k, {})} for k, b in self.inboxes.items()},
                "replies": {"waits": self.reply_waits, "wait_timeouts": self.reply_wait_timeouts,
                            "wait_us_total": round(self.reply_wait_ns / 1000)}}

    # ---- data (from peers) ----------------------------------------------------------------------------------
    @ray.method(enable_task_events=False)  # see the module docstring
    def push(self, message: Push | bytes) -> Any:
        """The Ray call: ``_push`` of the message, both ways through ``wire`` (bytes where that is cheaper)."""
        reply = self._push(unpack(message))
        return pack(reply, reply[2].values())

    def _push(self, message: Push) -> tuple[int, str, dict[str, list[tuple]]]:
        """Accept a batch into the engine; returns (items accepted or -1 if this part failed or ended, this
        actor's incarnation, the batches this reply carries back to the driver: edge id -> batch). ``message``:
        (edge id, the sender's incarnation, the batch, ``credit``: the driver accepted that many items of each of
        this part's bridges into it (batches earlier replies carried), counted for incarnation ``credit_for``)."""
        edge_id, incarnation, batch, credit, credit_for = message
        while not (self.started.is_set() or self.started.wait(WAIT_SLICE_S)):
            if self.aborted:
                return -1, self.incarnation, {}
        if credit and credit_for == self.incarnation:
            for edge, n in credit.items():
                if n:
                    self.outboxes[edge].ack(n)
        replies = self.replies_for.get(edge_id, [])
        wait = bool(replies) and self.graph.is_idle()  # idle: whatever the part does next is this push's work
        for box in replies if wait else ():
            box.claim(REPLY_WAIT_S)
        try:
            box = self.inboxes[edge_id]
            accepted = box.deliver(incarnation, batch, lambda: self.aborted or self.error is not None, run_here=wait)
            if box.closed:
                self.changed.set()
            if wait:
                self._wait_for_reply()
            return accepted, self.incarnation, {b.edge.id: taken for b in replies if (taken := b.take(0.0, True))}
        except GraphError as exc:
            if exc.phase == "bridge":
                self._fail(exc)  # an ordering violation fails the part (the graph's own errors it reports itself)
            return -1, self.incarnation, {}
        except (BridgeAborted, RuntimeError):
            return -1, self.incarnation, {}  # the part failed or was stopped: the driver hears it from wait_done
        finally:
            for b in replies if wait else ():
                b.release()

    def _wait_for_reply(self) -> None:
        """Let the push's work run (until the part is idle again, at most ``REPLY_WAIT_S``) so that its output for
        the driver travels in the reply."""
        t0 = time.perf_counter_ns()
        self.reply_waits += 1
        if not self.graph.wait_idle(REPLY_WAIT_S):
            self.reply_wait_timeouts += 1
        self.reply_wait_ns += time.perf_counter_ns() - t0

    @ray.method(enable_task_events=False)
    def pull(self, message: Pull | bytes) -> Any:
        """The Ray call: ``_pull`` of the message, both ways through ``wire``."""
        reply = self._pull(unpack(message))
        return pack(reply, (reply[1],))

    def _pull(self, message: Pull) -> tuple[str, list[tuple]]:
        """A long poll (edge id, ack, ack_for, timeout): the driver accepted ``ack`` more items of this edge
        (counted for incarnation ``ack_for``); returns (this actor's incarnation, the next batch: [] if nothing
        came within ``timeout`` s)."""
        edge_id, ack, ack_for, timeout = message
        box = self.outboxes[edge_id]
        if ack and ack_for == self.incarnation:
            box.ack(ack)
        return self.incarnation, box.take(timeout)

    # ---- transports -----------------------------------------------------------------------------------------
    @staticmethod
    def _peer_restarted(peer: Any, known: str) -> bool:
        try:
            return ray.get(peer.ping.remote(), timeout=PEER_CHECK_S)["incarnation"] != known
        except (RayActorError, GetTimeoutError):
            return False  # down or busy: keep waiting (the driver decides whether the graph fails)

    def _finish_loop(self) -> None:
        """Wait for the bridges in (and, in the driver, the application's inputs) to close, drain, close out.
        Woken by ``changed``, else every ``WAIT_SLICE_S`` (to notice a failed graph): a thread that woke every few
        ms would take the GIL from the group's nodes that often."""
        graph = self.graph
        while not self.aborted and not graph.failed:
            self.changed.clear()
            if self.inputs_closed and all(box.closed for box in self.inboxes.values()):
                break
            if not self.bounds:
                self._close_finished_streams()
            self.changed.wait(WAIT_SLICE_S if self.bounds else 0.01)
        while not self.aborted:
            try:
                if not self.part.graph.nodes:  # nothing to drain (observers run synchronously); the engine's
                    graph.cancel()  # wait_until_done never sees a node-less graph finish
                    break
                graph.wait_until_done(timeout=0.2)
                break
            except GraphTimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - reported to the driver by wait_done
                self._fail(exc)
                return
        if self.aborted:
            return
        self._close_outboxes()
        self.state = "done"
        self.finished.set()

    def _close_finished_streams(self) -> None:
        """Without ``on_bound`` (older engines) a stream's DONE is inferred: its producer has closed. Parts that
        feed each other (a -> b -> a) need it before the whole part finishes."""
        open_boxes = [b for b in self.outboxes.values() if not b.done]
        producers = {b.edge.stream: self.part.graph.producers[b.edge.stream][0] for b in open_boxes}
        if not any(producers.values()):
            return
        nodes = self.graph.stats()["nodes"]
        for box in open_boxes:
            node = producers[box.edge.stream]
            if node is not None and nodes[node]["state"] == "closed":
                box.put_bound(DONE_US)

    def _close_outboxes(self) -> None:
        for box in self.outboxes.values():
            box.put_bound(DONE_US)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while not self.aborted and time.monotonic() < deadline:  # until the receivers have the DONEs
            if all(b.aborted or (b.finished and b.unacked == 0) for b in self.outboxes.values()):
                break
            time.sleep(0.005)

    def _fail(self, exc: BaseException, cause: BaseException | None = None) -> None:
        if cause is not None:
            exc.__cause__ = cause
        if self.error is None:
            self.error = error_info(exc, self.part.name)
        self.state = "failed"
        for box in self.outboxes.values():
            box.abort()
        for box in self.inboxes.values():
            box.close()
        self.finished.set()
        self.changed.set()


@dataclass(eq=False)
class Flight:
    """A push under way: its batch, and (in the driver) what its reply may carry back."""

    ref: Any
    batch: list[tuple]
    sent_at: float  # monotonic s
    tokens: list[int]  # one per Pusher.replies: Puller.credit_and_expect
    credit: dict[str, int]  # returned with it, per bridge back...
    credit_for: str | None  # ...to this incarnation of the receiver
    resolved: bool = False  # the pullers heard how it ended


class Pusher:
    """Moves one bridge edge into an actor: ``peer.push.remote((edge, incarnation, batch, credit, credit_for))``,
    one call in flight.

    No hand-off to a transport thread on the way: when the edge is idle, the thread that queued an item (an
    engine worker's observer, or ``add_packet``'s caller) submits the call itself; the reply (a Ray completion
    callback) returns the credit and submits whatever queued up meanwhile as the next batch, so a busy edge
    batches by itself. ``watch`` (one thread per edge) only handles the slow cases: a retry after a failed
    transfer, and a receiver that restarted while a call to its dead incarnation was in flight. In the driver
    the call also returns the credit of the group's bridges back (``Puller.credit_and_expect``), and its reply carries
    their batches (handed to the ``Puller``s).
    """

    def __init__(self, runner: PartRunner, box: Outbox) -> None:
        self.runner = runner
        self.box = box
        self.peer = runner.peers[box.edge.dst]
        self.push_call = self.peer.push.remote  # (looked up once: Ray builds the method object on each lookup)
        self.lock = threading.Lock()
        self.flight: Flight | None = None
        self.receiver: str | None = None  # the receiver's incarnation, from its last answer
        self.retry_at = 0.0
        self.fed_by: float = 0.0  # the next push waits (until then, monotonic s) for the edge thread's own kick
        self.ended = threading.Event()
        # in the driver: the bridges back from the receiving group, whose batches the push replies may carry
        self.replies = [p for p in runner.pullers.values() if p.box.edge.src == box.edge.dst]

    def kick(self, after_feed: bool = False) -> None:
        """Submit the next batch if none is in flight (any thread; cheap when there is nothing to do).
        ``after_feed``: the call of the edge thread that handled the last reply and has fed its batches (``answer``);
        until it comes (at most ``WAIT_SLICE_S``) other calls leave the next push to it, so that the push carries
        those batches' credit."""
        if self.flight is not None or self.ended.is_set():
            return
        if after_feed:
            self.fed_by = 0.0  # (before the look at the items: one queued after it is submitted by its producer)
            if not self.box.items and not self.box.done:
                return  # nothing to send: the next item's producer submits it
        with self.lock:
            now = time.monotonic()
            if self.flight is not None or self.runner.aborted or now < self.retry_at or now < self.fed_by:
                return
            batch = self.box.take(0.0)
            if not batch:
                if self.box.finished or self.box.aborted:
                    self.ended.set()
                return
            credit: dict[str, int] = {}
            tokens = []
            for p in self.replies:  # the token before the call: its reply may come at once
                credit[p.box.edge.id], token = p.credit_and_expect(self.receiver)
                tokens.append(token)
            ref = self.push_call(pack((self.box.edge.id, self.runner.incarnation, batch, credit, self.receiver),
                                      (batch,)))
            flight = self.flight = Flight(ref, batch, time.monotonic(), tokens, credit, self.receiver)
        # one bridge back: its thread, if idle, waits for the reply (with more, the reply may feed another edge,
        # whose credit this push's successor could then miss)
        if not (len(self.replies) == 1 and self.replies[0].await_reply(self, flight)):
            self.answer_later(flight)

    def answer_later(self, flight: Flight) -> None:
        """``flight``'s reply is handled in Ray's completion callback."""
        flight.ref.future().add_done_callback(lambda fut: self._answered(flight, fut.result))

    def answer(self, flight: Flight, result: Callable[[], Any]) -> None:
        """Handle ``flight``'s reply, which has come (``result()`` returns or raises it; a Puller thread woken by
        Ray), all but the next push: the thread calls ``kick(after_feed=True)`` once it has fed the batches the
        reply carried, so that the next push returns their credit (otherwise only the long poll in flight, which
        waits for items the group may be unable to send for want of that very credit, or a credit-only pull
        ``CREDIT_HOLD_S`` later, once half the edge's capacity is owed, could)."""
        self._answered(flight, result, kick=False)

    def _answered(self, flight: Flight, result: Callable[[], Any], kick: bool = True) -> None:
        """The reply of ``flight`` (``result()`` returns or raises it), handled exactly once: by Ray's completion
        callback (``answer_later``) or by the Puller thread it was handed to (``answer``, ``kick`` False)."""
        try:
            accepted, receiver, carried = unpack(result())
        except Exception:  # noqa: BLE001 - RayActorError, TaskCancelledError, ...: the transfer failed
            accepted, receiver, carried = None, None, {}
        self._resolve(flight, receiver, carried)  # first (the pullers' threads wait for it); even if given up on:
        with self.lock:  # what it carries is the edge's data
            if self.flight is not flight:
                return  # given up on already (see watch)
            self.flight = None
            if accepted is None:
                self._lost(flight.batch)
                return  # watch retries: later batches go to the receiver's next incarnation, if it restarts
            if accepted < 0:  # the receiving part failed or ended: nothing more will be taken from this edge
                self.box.abort()  # (so a producer waiting for credit is released)
                self.ended.set()
                return
            self.receiver = receiver
            if not kick:
                self.fed_by = time.monotonic() + WAIT_SLICE_S  # before the ack: it wakes producers, who kick
            self.box.ack(len(flight.batch))
            if flight.batch[-1][2] != PACKET and flight.batch[-1][1] >= DONE_US:
                self.ended.set()
                return
        if kick:
            self.kick()

    def _resolve(self, flight: Flight, receiver: str | None, carried: dict[str, list[tuple]]) -> None:
        """Tell the pullers how the push ended (``receiver`` None: it failed; its credit goes to the next one)."""
        with self.lock:
            if flight.resolved:
                if not any(carried.values()):
                    return
            flight.resolved = True
        for puller, token in zip(self.replies, flight.tokens, strict=True):
            puller.arrive(token, receiver, carried.get(puller.box.edge.id, []), reply=True)
            if receiver is None:
                puller.refund(flight.credit_for, flight.credit[puller.box.edge.id])

    def _lost(self, batch: list[tuple]) -> None:
        self.box.ack(len(batch), lost=sum(1 for item in batch if item[2] == PACKET))
        self.receiver = None
        self.retry_at = time.monotonic() + RETRY_S

    def watch(self) -> None:
        checked = 0.0
        while not self.runner.aborted and not self.ended.wait(WAIT_SLICE_S):
            flight = self.flight
            if flight is None:
                self.kick()  # a retry that is due, or items queued while a reply was being handled
                continue
            now = time.monotonic()
            if now - flight.sent_at < PEER_CHECK_S or now - checked < PEER_CHECK_S or self.receiver is None:
                continue
            checked = now  # a transfer unanswered this long: did the receiver restart meanwhile?
            if not PartRunner._peer_restarted(self.peer, self.receiver):
                continue
            ray.cancel(flight.ref)  # it was addressed to an incarnation that died: Ray may never answer
            with self.lock:
                if self.flight is not flight:
                    continue
                self.flight = None
                self._lost(flight.batch)
            self._resolve(flight, None, {})


class Puller:
    """Moves one bridge edge into the driver, which cannot be called: its batches come in the replies of the
    driver's pushes to the group (``arrive(..., reply=True)``, from the ``Pusher``) and of a long poll
    (``peer.pull``) that this edge's thread keeps in flight. That thread feeds both into the ``Inbox`` (never Ray's
    reply callback, which must not wait on a full queue or run the application's observers), in seq order.

    Credit: what the driver accepted goes back with the next push to the group (``credit``) or the next long poll
    (or, when it is half the edge's capacity and neither comes, a credit-only pull: ``_poll``), tagged with the
    group's incarnation (a restarted group starts with all its credit). A batch that arrives
    early waits in the inbox until every transfer that could bring the ones before it (those under way when it
    came) has answered; then what is still missing was lost (``Inbox.settle``).
    """

    def __init__(self, runner: PartRunner, box: Inbox) -> None:
        self.runner = runner
        self.box = box
        self.lock = threading.RLock()  # (held with ``with self.lock``: a Condition's own ``with`` is Python code)
        self.cond = threading.Condition(self.lock)
        self.arrivals: deque[tuple[int, str | None, list[tuple], bool]] = deque()  # (token, incarnation, batch, reply)
        self.under_way: set[int] = set()  # tokens of transfers that may still bring this edge's batches
        self.tokens = 0
        self.settle_after: int | None = None  # an early batch waits for the transfers up to this token
        self.owed = 0  # credit not yet returned...
        self.owed_to: str | None = None  # ...to this incarnation of the group...
        self.owed_since = 0.0  # ...half the edge's capacity or more owed since (monotonic s; ``_credit_due``)
        self.pulls = self.pulled = self.carried = 0  # long polls made; batches by a pull / by a push reply
        self.awaited = 0  # push replies this thread waited for and handled itself (the rest: Ray's callback)
        self.empty_polls = 0  # long polls that waited out their timeout with nothing to bring
        self.poll: tuple[int, float, Any] | None = None  # (token, sent at, ref) of the long poll in flight
        self.poll_timeout = WAIT_SLICE_S  # the next long poll's (doubles while they come back empty)
        self.credit_call: int | None = None  # token of a credit-only pull in flight (``_return_credit``)
        self.credit_calls = 0
        self.awaiting: list[tuple[Pusher, Flight]] = []  # pushes whose replies this thread waits for...
        self.idle = False  # ...taken only while it waits for work (so it is never delivering into a full queue)
        self.retry_at = 0.0

    def _expect_locked(self) -> int:
        """A transfer that may bring batches of this edge starts; its token (``arrive`` with it exactly once)."""
        self.tokens += 1
        self.under_way.add(self.tokens)
        return self.tokens

    def arrive(self, token: int, incarnation: str | None, batch: list[tuple], reply: bool = False) -> None:
        """Transfer ``token`` answered (``incarnation`` None: it failed) with ``batch`` (maybe []); any thread."""
        with self.lock:
            self.under_way.discard(token)
            self.arrivals.append((token, incarnation, batch, reply))
            self.cond.notify()

    def credit_and_expect(self, incarnation: str | None) -> tuple[int, int]:
        """For a push to the group: take the credit owed to ``incarnation`` of it (0 if it is owed to another one),
        and a token for the push's reply (``_expect_locked``)."""
        with self.lock:
            n = 0
            if incarnation is not None and incarnation == self.owed_to:
                n, self.owed = self.owed, 0
            return n, self._expect_locked()

    def refund(self, incarnation: str | None, n: int) -> None:
        """Credit taken for a transfer that failed goes back to the next one (if still owed to the same group)."""
        if n:
            with self.lock:
                if incarnation == self.owed_to:
                    self._owe_locked(n)

    def await_reply(self, pusher: Pusher, flight: Flight) -> bool:
        """Hand ``flight`` (whose reply may carry this edge's batches) to this edge's thread if it is idle: it
        waits for the reply (``_wait_replies``) and handles it itself (``Pusher.answer``), sparing the hand-off from
        Ray's completion callback to this thread (~0.1 ms a round trip). False: it is busy (it could be delivering
        into a full queue, and the reply returns credit), the caller leaves the reply to the callback."""
        with self.lock:
            if not self.idle:
                return False
            self.awaiting.append((pusher, flight))
            self.cond.notify()
            return True

    def _wait_replies(self, awaiting: list[tuple[Pusher, Flight]]) -> list[Pusher]:
        """Wait for the replies of ``awaiting`` or the long poll's, whichever comes first (``AWAIT_REPLY_S`` at
        most: meanwhile other transfers' batches for this edge wait), and handle the replies that came; the rest go
        to Ray's completion callback. Returns the pushers to ``kick`` once their replies' batches are fed.

        One push awaited (one edge into the group, the usual case): its reply alone is waited for, with one
        ``ray.get`` (``reply_within``), and a long poll's reply that comes meanwhile waits for it too. A push reply
        is prompt (the group waits at most ``REPLY_WAIT_S`` for the work the push sets off), and this is the rule
        above with the poll's wake-up left out, for ~35 us less per round trip."""
        if len(awaiting) == 1:
            pusher, flight = awaiting[0]
            reply = reply_within(flight.ref, AWAIT_REPLY_S)
            if reply is None:
                pusher.answer_later(flight)
                return []
            self.awaited += 1
            pusher.answer(flight, reply)
            return [pusher]
        refs = [f.ref for _, f in awaiting]
        if self.poll is not None:
            refs.append(self.poll[2])
        try:
            ready = first_ready(refs, AWAIT_REPLY_S)
        except Exception:  # noqa: BLE001 - Ray going away, say: the callbacks handle every one of them
            ready = []
        answered = []
        for pusher, flight in awaiting:
            if any(flight.ref is r for r in ready):
                self.awaited += 1
                pusher.answer(flight, lambda f=flight: result_of(f.ref))
                answered.append(pusher)
            else:
                pusher.answer_later(flight)
        return answered

    def wake(self) -> None:
        with self.lock:
            self.cond.notify()

    def run(self) -> None:
        """The edge's thread: keep a long poll in flight, feed what arrives, settle early batches; at the end
        return the last credit."""
        runner, box = self.runner, self.box
        peer = runner.peers[box.edge.src]
        try:
            while not runner.aborted and not box.closed:
                self._poll(peer)
                with self.lock:
                    if not self.arrivals:  # (``awaiting`` fills only while idle, and is taken right after)
                        self.idle = True
                        self.cond.wait(self._idle_wait())
                        self.idle = False
                    awaiting, self.awaiting = self.awaiting, []
                answered = self._wait_replies(awaiting) if awaiting else []
                with self.lock:
                    arrivals = list(self.arrivals)
                    self.arrivals.clear()
                for token, incarnation, batch, reply in arrivals:
                    if self.poll is not None and token == self.poll[0]:
                        self.poll = None
                        if incarnation is None:  # failed: the group is restarting
                            self.retry_at = time.monotonic() + RETRY_S
                        empty = incarnation is not None and not batch
                        self.poll_timeout = min(LONG_POLL_MAX_S, 2 * self.poll_timeout) if empty else WAIT_SLICE_S
                    elif token == self.credit_call:
                        self.credit_call = None
                        if incarnation is None:  # failed (its credit was refunded): not again before RETRY_S
                            self.retry_at = time.monotonic() + RETRY_S
                    if batch and not runner.aborted:
                        self.carried += reply
                        self.pulled += not reply
                        self._owe(incarnation, box.deliver(incarnation, batch, lambda: runner.aborted))
                self._settle()
                for pusher in answered:
                    try:
                        pusher.kick(after_feed=True)
                    except Exception:  # noqa: BLE001 - e.g. a payload Ray cannot serialise: the pusher's watch
                        pass  # thread kicks again and fails the part with the error
        except GraphError as exc:
            if exc.phase == "bridge":
                runner._fail(exc)
            return
        except (BridgeAborted, RuntimeError):
            return
        runner.changed.set()  # the edge has closed: the part's finish loop may go on now, not at its next slice
        with self.lock:
            ack, ack_for = self.owed, self.owed_to
        if ack and not runner.aborted:
            try:
                peer.pull.remote(pack((box.edge.id, ack, ack_for, 0.0), ()))  # the last credit, unanswered
            except RayActorError:
                pass

    def _poll(self, peer: Any) -> None:
        """Send the long poll (with the credit owed) if none is in flight; give up on one unanswered too long.

        An idle edge's polls wait longer and longer (``poll_timeout``: doubled by each that comes back empty, up
        to ``LONG_POLL_MAX_S``; back to ``WAIT_SLICE_S`` when one brings items), so that an idle graph, or one
        whose items all come in push replies, makes about one call a second per edge rather than twenty. A poll's
        timeout never delays items (it returns when they come): only the credit owed, which rides the next poll or
        push. So credit does not wait for a long poll: once the driver has owed half the edge's capacity for
        ``CREDIT_HOLD_S`` (no push took it meanwhile), it goes in a credit-only pull (``_return_credit``). The
        group can be out of credit with nothing queued for a poll to take only when its items have all reached the
        driver and are owed there (or held in it: a full queue, a batch waiting for a lost one to settle)."""
        now = time.monotonic()
        if self.poll is not None:
            if now - self.poll[1] > PULL_GIVE_UP_S:
                self.arrive(self.poll[0], None, [])  # its group hangs: ask again (a late answer is still fed)
            elif self._credit_due() <= 0.0 and now >= self.retry_at:
                self._return_credit(peer)
            return
        if now < self.retry_at:
            return
        token, ref = self._pull(peer, self.poll_timeout)
        self.poll = (token, now, ref)
        self.pulls += 1

    def _credit_due(self) -> float:
        """Seconds until the credit owed should go in a credit-only pull (``inf``: not due; without a long poll in
        flight it goes with the next one, sent at once)."""
        if (self.poll is None or self.credit_call is not None or self.box.edge.dropping
                or 2 * self.owed < self.box.edge.capacity):
            return float("inf")
        return self.owed_since + CREDIT_HOLD_S - time.monotonic()

    def _idle_wait(self) -> float:
        """How long the idle thread waits for arrivals (lock held): a slice, or until credit owed falls due."""
        return min(IDLE_SLICE_S, max(0.0, self._credit_due(), self.retry_at - time.monotonic()))

    def _return_credit(self, peer: Any) -> None:
        """The credit owed, now, in a pull that waits for nothing (what it may take is fed like any batch)."""
        self.credit_calls += 1
        self.credit_call = self._pull(peer, 0.0)[0]

    def _pull(self, peer: Any, timeout: float) -> tuple[int, Any]:
        """Send a pull carrying the credit owed (waiting up to ``timeout`` s for items over there); returns its
        token and ref (its reply arrives through ``_polled``)."""
        with self.lock:
            ack, ack_for = self.owed, self.owed_to
            self.owed = 0
            token = self._expect_locked()
        ref = peer.pull.remote(pack((self.box.edge.id, ack, ack_for, timeout), ()))
        ref.future().add_done_callback(lambda fut: self._polled(fut, token, ack, ack_for, timeout > 0))
        return token, ref

    def _polled(self, fut: Any, token: int, ack: int, ack_for: str | None, long: bool) -> None:
        """A pull's reply (Ray's callback thread: hand it over, never wait here). ``long``: a long poll."""
        try:
            incarnation, batch = unpack(fut.result())
        except Exception:  # noqa: BLE001 - RayActorError, a group restarting: the thread asks again after RETRY_S
            self.refund(ack_for, ack)
            incarnation, batch = None, []
        if long and incarnation is not None and not batch:
            self.empty_polls += 1
        self.arrive(token, incarnation, batch)

    def _owe(self, incarnation: str | None, credit: int) -> None:
        with self.lock:
            if incarnation != self.owed_to:  # a restarted group: the old one's credit is gone with it
                self.owed, self.owed_to = 0, incarnation
            self._owe_locked(credit)

    def _owe_locked(self, credit: int) -> None:
        capacity = self.box.edge.capacity
        if 2 * self.owed < capacity <= 2 * (self.owed + credit):
            self.owed_since = time.monotonic()  # the credit pull's hold starts (``_credit_due``)
        self.owed += credit

    def _settle(self) -> None:
        """Settle the early batches once no transfer under way when they came can still bring the ones before."""
        box = self.box
        if not box.waiting_early:
            self.settle_after = None
            return
        with self.lock:
            if self.settle_after is None:
                self.settle_after = self.tokens
            if any(t <= self.settle_after for t in self.under_way):
                return
            self.settle_after = None
        self._owe(box.incarnation, box.settle(lambda: self.runner.aborted))

    def stats(self) -> dict[str, Any]:
        return {"pulls": self.pulls, "pulled_batches": self.pulled, "piggybacked_batches": self.carried,
                "replies_awaited": self.awaited, "empty_polls": self.empty_polls, "credit_calls": self.credit_calls,
                "long_poll_timeout_s": self.poll_timeout}


GroupActor = ray.remote(PartRunner)
