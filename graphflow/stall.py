"""Detecting a graph that can never finish, and saying why, instead of hanging.

A graph whose inputs are all closed finishes when every node has closed. If at some moment no node is running or
ready, no source can still produce, and no node is held back by a full queue (the scheduler's back-pressure
relief handles those), then nothing can ever change again: the graph is *stalled*. The usual cause is a loop whose
node waits for a back-edge input that is only produced downstream of itself (e.g. a node with
``process_timestamp_bounds`` that never raises ``StopSource`` once its main input has ended).

``StallDetector.check`` is called with the scheduler lock held from the graph's wait predicates; it reports a stall
only after seeing the same quiet state for ``confirm_s`` seconds, so a state between two worker steps never counts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import GraphError
from .runtime import IDLE
from .timestamp import DONE_US, UNSTARTED_US, _from_raw

if TYPE_CHECKING:
    from .scheduler import Scheduler


class StallDetector:
    def __init__(self, confirm_s: float = 0.2) -> None:
        self.confirm_s = confirm_s
        self._since: float | None = None

    def check(self, sched: Scheduler) -> GraphError | None:
        """A ``GraphError`` naming the first waiting node once the graph is confirmed stalled, else None."""
        if not self._quiet(sched):
            self._since = None
            return None
        now = time.monotonic()
        if self._since is None:
            self._since = now
            return None
        if now - self._since < self.confirm_s:
            return None
        return describe_stall(sched)

    @staticmethod
    def _quiet(sched: Scheduler) -> bool:
        """Idle (``Scheduler.idle``: nothing ready or running, no source that could run), no graph input open, and
        no open node held back by a full queue or with a source step still due (a stop request not yet acted on)."""
        if sched.finished or sched.error is not None or sched.shut_down or not sched.idle():
            return False
        if any(sched.input_open(name) for name in sched.graph_inputs):
            return False  # the application may still feed it
        for node in sched.nodes:
            if node.closed:
                continue
            if node.state is not IDLE or node.throttled() or (node.is_source and not node.stop_requested):
                return False
        return any(not node.closed for node in sched.nodes)  # everything closed meanwhile (cancel): not a stall


def describe_stall(sched: Scheduler) -> GraphError | None:
    """The error for a stalled graph: the first open node (in topological order) and the inputs it waits on;
    None when no node is open any more (another thread closed or cancelled the graph meanwhile)."""
    waiting = [n for n in sched.nodes if not n.closed]
    if not waiting:
        return None
    node = waiting[0]
    open_inputs = [q for q in node.inputs if q.bound < DONE_US]
    parts = []
    for q in open_inputs:
        producer = sched.streams[q.stream].producer
        edge = "back edge " if q.back_edge else ""
        parts.append(f"{q.tag} ({edge}stream '{q.stream}' from node '{producer}')")
    ts = max((sched.streams[q.stream].last_ts for q in node.inputs), default=UNSTARTED_US)  # last input packet
    tstr = str(_from_raw(ts)) if ts > UNSTARTED_US else "-"
    calc = node.info.spec.calculator
    others = ", ".join(f"'{n.name}'" for n in waiting[1:])
    hint = ("a loop node that sees timestamp bounds must finish when its main input ends: raise StopSource then "
            "(see PreviousLoopback)"
            if any(q.back_edge for q in open_inputs) else "check that every stream it reads is closed upstream")
    msg = (f"node '{node.name}' ({calc}) can never finish (stalled after timestamp {tstr}): all graph inputs are "
           f"closed and no node can run, but it still waits on input {', '.join(parts) or '(none)'}"
           f"{'; also waiting: ' + others if others else ''} -> {hint}")
    return GraphError(msg, node=node.name, calculator=calc, timestamp=ts if ts > UNSTARTED_US else None,
                      phase="stalled")
