"""Linger on a bridge edge: a busy producer's items wait to travel together; an idle edge never waits. No Ray
runs here: the outbox and the engine's hint are plain objects, and a part's wiring is read before it starts."""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass

from graphflow import Calculator, Context, Graph, Input, Output, register_calculator
from graphflow.config import load_graph
from graphflow.distributed import DRIVER, bridge, partition
from graphflow.distributed.actor import PartRunner
from graphflow.distributed.bridge import BOUND, DONE_US, LINGER_S, MAX_BATCH, PACKET, Outbox
from graphflow.distributed.partition import Edge
from graphflow.validate import validate


def block_edge(capacity: int = 100) -> Edge:
    return Edge("s", "a", "b", "block", capacity)


def test_an_edge_without_a_busy_producer_never_lingers():
    box = Outbox(block_edge())
    box.put_packet(0, 1)
    assert [item[1:3] for item in box.take(0.0)] == [(0, PACKET)]
    box.more_coming = lambda: False
    box.put_packet(1, 2)
    assert len(box.take(0.0)) == 1 and box.held == 0


def test_a_busy_producers_items_wait_until_it_has_no_more_input():
    busy = [True]
    box = Outbox(block_edge())
    box.more_coming = lambda: busy[0]
    for ts in range(3):
        box.put_packet(ts, ts)
        assert box.take(0.0) == []  # the producer's next output is due: wait for it
    busy[0] = False
    box.put_packet(3, 3)  # its last input: everything goes, in order, one transfer
    assert [(seq, ts) for seq, ts, *_ in box.take(0.0)] == [(1, 0), (2, 1), (3, 2), (4, 3)]
    assert box.held == 3 and box.batches == 1


def test_a_linger_ends_at_the_age_limit_the_batch_limit_the_last_credit_and_done(monkeypatch):
    box = Outbox(block_edge())
    box.more_coming = lambda: True
    box.put_packet(0, 0)
    assert box.take(0.0) == []
    time.sleep(LINGER_S * 1.5)
    assert len(box.take(0.0)) == 1  # the oldest waited long enough

    # the other limits, with an age limit no pause of the test process (a GC pass took 40 ms here) can reach
    monkeypatch.setattr(bridge, "LINGER_S", 60.0)

    box = Outbox(block_edge(capacity=10 * MAX_BATCH))
    box.more_coming = lambda: True
    for ts in range(MAX_BATCH - 1):
        box.put_packet(ts, ts)
    assert box.take(0.0) == []
    box.put_packet(MAX_BATCH, 0)
    assert len(box.take(0.0)) == MAX_BATCH

    box = Outbox(block_edge(capacity=3))  # holding must never use up the credit the producer needs
    box.more_coming = lambda: True
    box.put_packet(0, 0)
    box.put_packet(1, 1)
    assert box.take(0.0) == []
    box.put_packet(2, 2)
    assert len(box.take(0.0)) == 3

    box = Outbox(block_edge())
    box.more_coming = lambda: True
    box.put_packet(0, 0)
    box.put_bound(DONE_US)
    assert [item[2] for item in box.take(0.0)] == [PACKET, BOUND]


def test_collapsed_bounds_keep_the_first_ones_age():
    """Bounds that collapse into one keep the first one's age, so a producer that only moves its bound while it
    stays busy still gets its bound across within the linger limit."""
    box = Outbox(block_edge())
    box.more_coming = lambda: True
    start = time.monotonic()
    sent = []
    ts = 1
    while not sent and time.monotonic() - start < LINGER_S * 50:  # a new bound every LINGER_S / 10
        box.put_bound(ts)
        ts += 1
        sent = box.take(0.0)
        time.sleep(LINGER_S / 10)
    assert [item[2] for item in sent] == [BOUND], "the bound never left while the producer stayed busy"
    assert ts < 40, "the bound left only after many more (the age restarted with each one)"


def test_a_long_poll_waiting_on_an_empty_edge_ends_with_the_first_items_linger():
    """A long poll that started on an empty edge returns once the first item's linger ends, not at its own
    timeout (it used to sleep through the whole timeout, since a held put woke nobody)."""
    box = Outbox(block_edge())
    box.more_coming = lambda: True
    timer = threading.Timer(0.01, box.put_packet, (0, 0))
    timer.start()
    start = time.monotonic()
    batch = box.take(1.0)
    elapsed = time.monotonic() - start
    timer.join()
    assert [item[2] for item in batch] == [PACKET] and elapsed < 0.5


def test_a_long_poll_returns_when_the_linger_ends():
    busy = [True]
    box = Outbox(block_edge())
    box.more_coming = lambda: busy[0]
    got: list[list[tuple]] = []
    puller = threading.Thread(target=lambda: got.append(box.take(5.0)))
    puller.start()
    box.put_packet(0, 0)
    box.put_packet(1, 1)
    busy[0] = False
    box.put_packet(2, 2)
    puller.join(5.0)
    assert [len(batch) for batch in got] == [3]


def test_only_block_edges_fed_by_a_node_of_the_part_linger():
    spec = load_graph(textwrap.dedent("""\
        input_streams: [x]
        output_streams: [y, z]
        groups: {a: {}}
        nodes:
          - {name: n1, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: m}}
          - {name: n2, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: k}}
          - {name: n3, calculator: PassThrough, inputs: {IN: m}, outputs: {OUT: y}, group: a}
          - {name: n4, calculator: PassThrough, group: a, outputs: {OUT: z},
             inputs: {IN: {stream: k, queue_policy: latest_only}}}
          - {name: n5, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: w}, group: a}
        """))
    driver = PartRunner(partition(validate(spec))[DRIVER])  # (a group's runner would set this process's switch
    try:  # interval)
        boxes = driver.outboxes
        assert boxes["m->a"].more_coming is not None  # block, fed by n1 of the driver's part
        assert boxes["k->a"].edge.dropping and boxes["k->a"].more_coming is None
        assert boxes["x->a"].more_coming is None  # a graph input: the application's add_packet feeds it
    finally:
        driver.graph.cancel()


@register_calculator("LingerGate")
class Gate(Calculator):
    """Passes its input on; the call at ``hold_at`` waits until ``release`` is set."""

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        hold_at: int = 1

    entered = threading.Event()
    release = threading.Event()

    def process(self, ctx: Context) -> None:
        if int(ctx.timestamp) == self.options.hold_at:
            Gate.entered.set()
            Gate.release.wait(10.0)
        ctx.emit("OUT", ctx.get("IN"))


def test_the_engine_says_when_a_node_runs_again_soon():
    graph = Graph.from_yaml({"input_streams": ["x"], "output_streams": ["y"],
                             "nodes": [{"name": "g", "calculator": "LingerGate", "inputs": {"IN": "x"},
                                        "outputs": {"OUT": "y"}}]})
    out: list[int] = []
    graph.observe("y", lambda p: out.append(p.payload))
    graph.start()
    try:
        assert not graph.runs_again_within("g", 1.0)  # no call yet: nothing known about its calls
        graph.add_packet("x", 0, 0)
        graph.wait_until_idle()
        assert not graph.runs_again_within("g", 1.0)  # nothing queued
        graph.add_packet("x", 1, 1)
        assert Gate.entered.wait(10.0)
        graph.add_packet("x", 2, 2)  # queued behind the call in progress
        assert graph.runs_again_within("g", 1.0)
        assert not graph.runs_again_within("g", 1e-9)  # its calls take longer than that
        Gate.release.set()
        graph.wait_until_idle()
        assert not graph.runs_again_within("g", 1.0)
    finally:
        Gate.release.set()
        graph.wait_until_done(timeout=10)
    assert out == [0, 1, 2]


def test_a_part_finishes_when_woken_by_its_inputs_closing():
    spec = load_graph({"input_streams": ["x"], "output_streams": ["y"],
                       "nodes": [{"name": "n", "calculator": "PassThrough", "inputs": {"IN": "x"},
                                  "outputs": {"OUT": "y"}}]})
    runner = PartRunner(partition(validate(spec))[DRIVER])
    out: list[int] = []
    runner.graph.observe("y", lambda p: out.append(p.payload))
    runner.start({}, peers={})
    try:
        runner.graph.add_packet("x", 5, 0)
        runner.graph.close_input("x")
        assert not runner.finished.is_set()  # the application has not said its inputs are closed
        runner.close_inputs()  # sets `changed`: the finish loop goes on without waiting out its slice
        assert runner.wait_done(10.0) == {"state": "done", "error": None}
    finally:
        runner.cancel()
    assert out == [5]
