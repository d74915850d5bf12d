"""Fault injection: a node raising in open/process/close, a dying source, a sink 100x slower than its source under
each queue policy, a node blocked forever, and back-edge loops without an initial packet.

For each: the error names node and timestamp, ``close()`` runs exactly where it must (every opened node, never a
node whose open failed), every graphflow thread is joined, and the packets add up from ``stats()`` alone.

What "no threads left behind" means for a node blocked forever: Python cannot kill a thread, so ``close(timeout)``
returns (raising ``GraphTimeoutError`` that names the stuck node and its timestamp), every *other* worker is joined
and every other node closed; the stuck worker is a daemon that exits as soon as the blocked call returns.
"""

from __future__ import annotations

import threading
import time

import faults_calcs
import pytest
from conftest import wait_no_graphflow_threads
from faults_accounting import check_accounting
from faults_calcs import events_of

from graphflow import ConfigError, Graph, GraphError, GraphTimeoutError

EXECUTORS = ["threads", "inline"]

CHAIN = """
input_streams: [in]
output_streams: [out]
nodes:
  - {name: first, calculator: FaultRelay, inputs: {IN: in}, outputs: {OUT: a}, options: {label: first}}
  - {name: second, calculator: FaultRelay, inputs: {IN: a}, outputs: {OUT: b},
     options: {label: second, fail_in: FAIL, at: 5}}
  - {name: third, calculator: FaultRelay, inputs: {IN: b}, outputs: {OUT: out}, options: {label: third}}
"""


def feed(graph: Graph, n: int, step: int = 10) -> int:
    """add_packet 0..n-1 at i*step until the graph reports its error; returns how many went in."""
    fed = 0
    try:
        for i in range(n):
            graph.add_packet("in", i, i * step)
            fed += 1
    except GraphError:
        pass
    return fed


@pytest.mark.parametrize("executor", EXECUTORS)
def test_raise_in_open_closes_the_opened_nodes_only(executor):
    graph = Graph.from_yaml(CHAIN.replace("FAIL", "open"), executor=executor)
    with pytest.raises(GraphError) as info:
        graph.start()
    err = info.value
    assert (err.node, err.phase, err.timestamp) == ("second", "open", None)
    assert "node 'second' (FaultRelay) failed in open" in str(err)
    assert isinstance(err.__cause__, RuntimeError)
    assert events_of("first") == ["open", "close"]  # opened, so closed
    assert events_of("second") == ["open"]  # open failed: close must not run
    assert events_of("third") == []  # never opened
    graph.close()
    assert wait_no_graphflow_threads() == []


@pytest.mark.parametrize("executor", EXECUTORS)
def test_raise_in_process_at_packet_k(executor):
    graph = Graph.from_yaml(CHAIN.replace("FAIL", "process"), executor=executor)
    out: list[int] = []
    graph.observe("out", lambda p: out.append(p.payload))
    graph.start()
    fed = feed(graph, 20)
    with pytest.raises(GraphError) as info:
        graph.wait_until_done(timeout=5)
    err = info.value
    assert (err.node, err.phase, err.timestamp) == ("second", "process", 50)
    assert "failed in process at timestamp 50us" in str(err)
    assert "injected failure at packet 5" in str(err.__cause__)
    graph.close()  # idempotent after the failure
    for label in ("first", "second", "third"):
        assert events_of(label) == ["open", "close"], label
    assert wait_no_graphflow_threads() == []
    stats = graph.stats()
    assert stats["streams"]["in"]["packets"] in (fed, fed + 1)  # inline: the packet that ran into the error is in
    table = check_accounting(stats, failed_in_process="second")
    assert table["second"]["consumed"] == 6  # packets 0..4 forwarded, packet 5 in flight at the error
    assert out == list(range(stats["nodes"]["third"]["process_calls"]))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_raise_in_close_after_a_full_drain(executor):
    graph = Graph.from_yaml(CHAIN.replace("FAIL", "close"), executor=executor)
    graph.start()
    assert feed(graph, 20) == 20
    with pytest.raises(GraphError) as info:
        graph.wait_until_done(timeout=5)
    err = info.value
    assert (err.node, err.phase) == ("second", "close")
    assert "node 'second' (FaultRelay) failed in close" in str(err)
    for label in ("first", "second", "third"):
        assert events_of(label) == ["open", "close"], label
    assert wait_no_graphflow_threads() == []
    table = check_accounting(graph.stats())
    assert table["first"] == table["second"] == {"received": 20, "consumed": 20, "drops": 0, "depth": 0}
    # the graph stops at the error: what 'third' had not processed yet stays queued and counted
    assert table["third"]["consumed"] + table["third"]["depth"] == 20


SOURCE_CHAIN = """
nodes:
  - {name: source, calculator: FaultSource, outputs: {OUT: a}, options: {count: 50, fail_at: 7, step: 10}}
  - {name: relay, calculator: FaultRelay, inputs: {IN: a}, outputs: {OUT: b}, options: {label: relay}}
"""


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_dying_source_is_reported_and_everything_closes(executor):
    graph = Graph.from_yaml(SOURCE_CHAIN, executor=executor)
    with pytest.raises(GraphError) as info:
        graph.run(timeout=5)
    err = info.value
    assert (err.node, err.phase) == ("source", "process")
    assert "source died before packet 7" in str(err)
    assert events_of("source") == ["open", "close"] and events_of("relay") == ["open", "close"]
    assert wait_no_graphflow_threads() == []
    stats = graph.stats()
    assert stats["streams"]["a"]["packets"] == 7
    check_accounting(stats)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_dying_source_names_the_last_timestamp_it_emitted(executor):
    """A source has no input timestamp; the error must still say where in the stream it died."""
    graph = Graph.from_yaml(SOURCE_CHAIN, executor=executor)
    with pytest.raises(GraphError) as info:
        graph.run(timeout=5)
    assert info.value.timestamp == 60, str(info.value)  # packets 0..6 went out at 0..60 us
    assert "60us" in str(info.value)


SLOW_SINK = """
nodes:
  - {name: source, calculator: FaultSource, outputs: {OUT: a}, options: {count: 60, delay: 0.0001}}
  - {name: sink, calculator: FaultRelay, outputs: {OUT: b},
     inputs: {IN: {stream: a, queue_size: 4, queue_policy: POLICY}}, options: {delay: 0.01, label: sink}}
"""


@pytest.mark.parametrize("policy", ["block", "drop_oldest", "latest_only"])
def test_sink_100x_slower_than_its_source(policy):
    graph = Graph.from_yaml(SLOW_SINK.replace("POLICY", policy))
    got = []
    graph.observe("b", lambda p: got.append(p.payload))
    stats = graph.run(timeout=30)
    assert wait_no_graphflow_threads() == []
    table = check_accounting(stats)
    sink = stats["nodes"]["sink"]["inputs"]["IN"]
    assert stats["streams"]["a"]["packets"] == 60 and table["sink"]["depth"] == 0
    assert sink["high_water"] <= 4 and sink["overflows"] == 0
    assert len(got) == stats["nodes"]["sink"]["process_calls"] == 60 - sink["drops"]
    assert got == sorted(got) and got[-1] == 59  # the newest packet always gets through
    if policy == "block":
        assert sink["drops"] == 0 and got == list(range(60))  # back-pressure held the source back
    else:
        assert sink["drops"] > 30  # most were dropped, and every drop was counted
        assert stats["drops_total"] == sink["drops"]


STUCK = """
input_streams: [in]
nodes:
  - {name: first, calculator: FaultRelay, inputs: {IN: in}, outputs: {OUT: a}, options: {label: first}}
  - {name: stuck, calculator: FaultBlocker, inputs: {IN: a}, outputs: {OUT: b}, options: {at: 2, label: stuck}}
  - {name: last, calculator: FaultRelay, inputs: {IN: b}, outputs: {OUT: c}, options: {label: last}}
"""


def start_stuck_graph() -> Graph:
    graph = Graph.from_yaml(STUCK)
    graph.start()
    for i in range(10):
        graph.add_packet("in", i, i * 10)
    deadline = time.monotonic() + 5
    while "blocked" not in events_of("stuck") and time.monotonic() < deadline:
        time.sleep(0.005)
    assert "blocked" in events_of("stuck")
    return graph


def test_close_with_a_node_blocked_forever_returns_and_names_it():
    graph = start_stuck_graph()
    t0 = time.monotonic()
    with pytest.raises(GraphTimeoutError) as info:
        graph.close(timeout=0.5)
    assert time.monotonic() - t0 < 2.0  # the timeout, plus at most the same again to join the others
    msg = str(info.value)
    assert "stuck in a call: stuck" in msg and "process at timestamp 20us" in msg
    assert events_of("first") == ["open", "close"] and events_of("last") == ["open", "close"]
    left = [t for t in threading.enumerate() if t.name.startswith("graphflow")]
    assert len(left) == 1 and left[0].daemon  # only the stuck worker, and it cannot block interpreter exit
    graph.close()  # a second close is a no-op
    faults_calcs.BLOCKERS["stuck"].set()
    assert wait_no_graphflow_threads() == []  # it exits as soon as the blocked call returns
    stats = graph.stats()
    check_accounting(stats)
    assert stats["nodes"]["first"]["process_calls"] == 10


def test_a_node_released_after_close_gave_up_still_gets_its_close():
    graph = start_stuck_graph()
    with pytest.raises(GraphTimeoutError):
        graph.close(timeout=0.2)
    assert events_of("stuck") == ["open", "blocked"]
    faults_calcs.BLOCKERS["stuck"].set()
    assert wait_no_graphflow_threads() == []
    assert events_of("stuck") == ["open", "blocked", "released", "close"]  # open succeeded: close must run once


SAME_TS_LOOP = """
input_streams: [in]
nodes:
  - {name: acc, calculator: FaultAccumulate, input_policy: immediate,
     inputs: {IN: in, FEEDBACK: {stream: sum, back_edge: true}}, outputs: {SUM: sum}}
"""


@pytest.mark.parametrize("loop", ["accumulate", "gate"])
def test_a_back_edge_into_a_default_policy_node_is_refused_at_validation(loop):
    """Inline used to fail at timestamp 0 while threads silently discarded loop packets: now neither runs."""
    text = (SAME_TS_LOOP.replace("input_policy: immediate,", "") if loop == "accumulate"
            else GATE_LOOP.replace("input_policy: POLICY,", ""))
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(text)
    message = str(info.value)
    assert "<string>:5" in message and "back edge" in message  # the line of the back-edge input
    assert "PreviousLoopback" in message and "input_policy: immediate" in message


@pytest.mark.parametrize("executor", EXECUTORS)
def test_back_edge_fed_at_the_same_timestamp_is_an_error_not_a_hang(executor):
    graph = Graph.from_yaml(SAME_TS_LOOP, executor=executor)
    graph.start()
    feed(graph, 20)
    with pytest.raises(GraphError) as info:
        graph.wait_until_done(timeout=5)
    assert info.value.node == "acc" and "timestamp 0us" in str(info.value)
    assert "strictly increase" in str(info.value)
    graph.close()
    assert wait_no_graphflow_threads() == []


GATE_LOOP = """
input_streams: [in]
nodes:
  - {name: gate, calculator: FaultGate, input_policy: POLICY,
     inputs: {IN: in, FEEDBACK: {stream: fb, back_edge: true}}, outputs: {OUT: s}}
  - {name: relay, calculator: FaultRelay, inputs: {IN: s}, outputs: {OUT: fb}, options: {label: relay}}
"""


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("policy", ["immediate"])
def test_loop_waiting_for_a_packet_that_never_comes_finishes_or_says_why(policy, executor):
    """The gate emits only once its feedback arrived, and nothing ever primes the loop."""
    graph = Graph.from_yaml(GATE_LOOP.replace("POLICY", policy), executor=executor)
    graph.start()
    assert feed(graph, 20) == 20
    outcome: list[BaseException | None] = []

    def wait() -> None:
        try:
            graph.wait_until_done(timeout=None)  # no timeout: a silent deadlock would hang here forever
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(5.0)
    if waiter.is_alive():
        if executor == "threads":
            graph.close(timeout=1.0)
        pytest.fail("wait_until_done(timeout=None) hung on a loop that can never make progress")
    if outcome[0] is None:  # finished cleanly
        graph.close(timeout=2.0)
    else:  # reported: the message names the waiting node and the input it waits on
        assert isinstance(outcome[0], GraphError), repr(outcome[0])
        assert outcome[0].node == "gate" and "FEEDBACK" in str(outcome[0])
    stats = graph.stats()
    assert stats["nodes"]["gate"]["counters"] == {"waiting_for_feedback": 20}  # every skip was counted
    assert stats["streams"]["s"]["packets"] == 0
    assert wait_no_graphflow_threads() == []


def test_close_returns_even_when_a_node_blocks_while_close_is_draining():
    """close(timeout) must return whichever thread the blocking call lands on (worker or the caller's)."""
    # one worker, busy in 'first' when 'stuck' becomes ready: the thread waiting in close() is free to take it
    slow_first = STUCK.replace("at: 2", "at: 0").replace("{label: first}", "{label: first, delay: 0.005}")
    for trial in range(3):
        faults_calcs.BLOCKERS.clear()
        graph = Graph.from_yaml(slow_first, num_threads=1)
        graph.start()
        for i in range(10):
            graph.add_packet("in", i, i * 10)
        outcome: list[BaseException | None] = []

        def close(g: Graph = graph, out: list[BaseException | None] = outcome) -> None:
            try:
                g.close(timeout=0.5)
                out.append(None)
            except BaseException as exc:  # noqa: BLE001 - inspected below
                out.append(exc)

        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(3.0)
        returned = not closer.is_alive()
        faults_calcs.BLOCKERS["stuck"].set()
        closer.join(2.0)
        assert returned, f"trial {trial}: close(timeout=0.5) did not return within 3 s"
        assert isinstance(outcome[0], GraphTimeoutError) and "stuck (process at timestamp 0us)" in str(outcome[0])
        assert wait_no_graphflow_threads() == []


ENDLESS = """
nodes:
  - {name: source, calculator: FaultSource, outputs: {OUT: a}, options: {count: 100000000, delay: 0.001}}
  - {name: sink, calculator: FaultLineSink, inputs: {IN: a}, options: {path: PATH}}
"""


def test_stop_ends_the_sources_and_drains_everything(tmp_path):
    lines = tmp_path / "lines.txt"
    graph = Graph.from_yaml(ENDLESS.replace("PATH", str(lines)))
    graph.start()
    time.sleep(0.1)
    graph.stop(timeout=5)
    assert wait_no_graphflow_threads() == []
    stats = graph.stats()
    emitted = stats["streams"]["a"]["packets"]
    table = check_accounting(stats)
    assert emitted > 5 and table["sink"] == {"received": emitted, "consumed": emitted, "drops": 0, "depth": 0}
    text = lines.read_text().splitlines()
    assert len(text) == emitted + 1 and text[-1] == "END"


def test_cancel_abandons_the_queue_but_still_closes_every_node(tmp_path):
    lines = tmp_path / "lines.txt"
    graph = Graph.from_yaml(ENDLESS.replace("PATH", str(lines)).replace("delay: 0.001", "delay: 0.0"))
    graph.start()
    time.sleep(0.1)
    assert graph.cancel(timeout=5) == []
    assert wait_no_graphflow_threads() == []
    check_accounting(graph.stats())  # whatever was still queued is counted as queued
    assert lines.read_text().splitlines()[-1] == "END"
    graph.close()  # after cancel: a no-op


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_loop_node_that_never_finishes_is_reported_not_a_hang(executor):
    """A bounds-aware loop node must raise StopSource when its main input ends; one that does not keeps its back
    edge open forever. wait_until_done(timeout=None) must say so instead of hanging."""
    graph = Graph.from_yaml(GATE_LOOP.replace("FaultGate", "FaultBoundsGate").replace("POLICY", "immediate"),
                            executor=executor)
    graph.start()
    assert feed(graph, 5) == 5
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            graph.wait_until_done(timeout=None)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(5.0)
    assert not waiter.is_alive(), "wait_until_done(timeout=None) hung"
    err = outcome[0]
    assert isinstance(err, GraphError) and err.node == "gate" and err.phase == "stalled"
    assert "can never finish (stalled after timestamp 40us)" in str(err)
    assert "FEEDBACK (back edge stream 'fb' from node 'relay')" in str(err) and "StopSource" in str(err)
    assert events_of("relay") == ["open", "close"]  # everything opened was closed
    assert wait_no_graphflow_threads() == []


def test_a_blocked_observer_callback_is_named_as_such():
    """An application callback that blocks (a full queue, a lock) holds the worker that delivered to it. close()
    must return, and must say it is the observer that is stuck, not the node's process()."""
    graph = Graph.from_yaml("""
input_streams: [in]
output_streams: [out]
nodes:
  - {name: relay, calculator: FaultRelay, inputs: {IN: in}, outputs: {OUT: out}, options: {label: relay}}
""")
    release = threading.Event()
    graph.observe("out", lambda p: release.wait() if p.payload == 3 else None)
    graph.start()
    for i in range(10):
        graph.add_packet("in", i, i * 10)
    t0 = time.monotonic()
    with pytest.raises(GraphTimeoutError) as info:
        graph.close(timeout=0.5)
    assert time.monotonic() - t0 < 2.0
    release.set()
    assert wait_no_graphflow_threads() == []
    assert "observer of stream 'out'" in str(info.value), str(info.value)
