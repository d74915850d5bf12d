"""Linger on a bridge edge: a busy producer's items wait to travel together; an idle edge never waits. No Ray
runs here: the outbox and the engine's hint are plain objects, and a part's wiring is read before it starts."""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass

from graphflow import Calculator, Context, Graph, Input, Output, register_calculator
from graphflow.config import load_graph
from graphflow.distributed import DRIVER, partition
from graphflow.distributed.actor import PartRunner
from graphflow.distributed.bridge import BOUND, DONE_US, LINGER_S, MAX_BATCH, PACKET, Outbox
from graphflow.distributed.partition import Edge
from graphflow.validate import validate


def block_edge(capacity: int = 100) -> Edge:
    return Edge("s", "a", "b", "block", capacity)


def busy_box(ahead: list[int], capacity: int = 100, busy_for_s: float = 1.0) -> Outbox:
    """An outbox whose producer has ``ahead[0]`` outputs due, busy for ``busy_for_s`` already (full linger)."""
    box = Outbox(block_edge(capacity))
    box.backlog = lambda: ahead[0]
    box.busy_since = time.time_ns() - int(busy_for_s * 1e9)
    return box


def test_an_edge_without_a_busy_producer_never_lingers():
    box = Outbox(block_edge())
    box.put_packet(0, 1)
    assert [item[1:3] for item in box.take(0.0)] == [(0, PACKET)]
    box.backlog = lambda: 0
    box.put_packet(1, 2)
    assert len(box.take(0.0)) == 1 and box.held == 0


def test_a_busy_producers_items_wait_until_no_more_are_due_than_wait():
    ahead = [100]
    box = busy_box(ahead)
    for ts in range(3):
        box.put_packet(ts, ts)
        assert box.take(0.0) == []  # more outputs are due: wait for them
    ahead[0] = 3  # three more inputs queued, three items waiting: go, in order, one transfer
    box.put_packet(3, 3)
    assert [(seq, ts) for seq, ts, *_ in box.take(0.0)] == [(1, 0), (2, 1), (3, 2), (4, 3)]
    assert box.held == 3 and box.batches == 1
    ahead[0] = 0  # no more input: the busy spell ends, the next item goes alone
    box.put_packet(4, 4)
    assert len(box.take(0.0)) == 1 and box.busy_since is None


def test_the_first_item_of_a_busy_spell_goes_at_once_and_the_linger_grows():
    box = Outbox(block_edge())
    box.backlog = lambda: 100
    box.put_packet(0, 0)
    assert len(box.take(0.0)) == 1  # the spell starts: nothing to wait for yet
    box.busy_since = time.time_ns() - int(4 * LINGER_S * 1e9)  # a long spell: the full linger
    box.put_packet(1, 1)
    assert box.take(0.0) == []


def test_a_linger_ends_at_the_age_limit_the_batch_limit_the_last_credit_and_done():
    box = busy_box([100])
    box.put_packet(0, 0)
    assert box.take(0.0) == []
    time.sleep(LINGER_S * 1.5)
    assert len(box.take(0.0)) == 1  # the oldest waited long enough

    box = busy_box([10 * MAX_BATCH], capacity=10 * MAX_BATCH)
    for ts in range(MAX_BATCH - 1):
        box.put_packet(ts, ts)
    assert box.take(0.0) == []
    box.put_packet(MAX_BATCH, 0)
    assert len(box.take(0.0)) == MAX_BATCH

    box = busy_box([100], capacity=3)  # holding must never use up the credit the producer needs
    box.put_packet(0, 0)
    box.put_packet(1, 1)
    assert box.take(0.0) == []
    box.put_packet(2, 2)
    assert len(box.take(0.0)) == 3

    box = busy_box([100])
    box.put_packet(0, 0)
    box.put_bound(DONE_US)
    assert [item[2] for item in box.take(0.0)] == [PACKET, BOUND]


def test_a_long_poll_returns_when_the_linger_ends():
    ahead = [100]
    box = busy_box(ahead)
    got: list[list[tuple]] = []
    puller = threading.Thread(target=lambda: got.append(box.take(5.0)))
    puller.start()
    box.put_packet(0, 0)
    box.put_packet(1, 1)
    ahead[0] = 0
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
        assert boxes["m->a"].backlog is not None  # block, fed by n1 of the driver's part
        assert boxes["k->a"].edge.dropping and boxes["k->a"].backlog is None
        assert boxes["x->a"].backlog is None  # a graph input: the application's add_packet feeds it
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


def test_the_engine_says_how_many_outputs_of_a_node_are_due_soon():
    graph = Graph.from_yaml({"input_streams": ["x"], "output_streams": ["y"],
                             "nodes": [{"name": "g", "calculator": "LingerGate", "inputs": {"IN": "x"},
                                        "outputs": {"OUT": "y"}}]})
    out: list[int] = []
    graph.observe("y", lambda p: out.append(p.payload))
    graph.start()
    try:
        assert graph.backlog_within("g", 1.0) == 0  # no call yet: nothing known about its calls
        graph.add_packet("x", 0, 0)
        graph.wait_until_idle()
        assert graph.backlog_within("g", 1.0) == 0  # nothing queued
        graph.add_packet("x", 1, 1)
        assert Gate.entered.wait(10.0)
        graph.add_packet("x", 2, 2)  # queued behind the call in progress
        graph.add_packet("x", 3, 3)
        assert graph.backlog_within("g", 1.0) == 2
        assert graph.backlog_within("g", 1e-9) == 0  # its calls take longer than that
        Gate.release.set()
        graph.wait_until_idle()
        assert graph.backlog_within("g", 1.0) == 0
    finally:
        Gate.release.set()
        graph.wait_until_done(timeout=10)
    assert out == [0, 1, 2, 3]


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
