"""Chains: a light single-input node takes its step in the thread of the node that fed it (``Scheduler._link_chains``).

Every test runs the same graph with links (``SPECIALIZE`` on) and without (off: every packet goes through the ready
queue), on both executors, and checks that the two give the same packets, the same drops and the same errors.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import graphflow.scheduler as scheduler_module
from graphflow import Calculator, Context, Graph, GraphError, Input, Output, Timestamp, register_calculator

EXECUTORS = ["threads", "inline"]



@register_calculator("ChainAddOne")
class AddOne(Calculator):
    """IN + 1 (a user-written light node).

    Inputs:  IN - int
    Outputs: OUT - int
    """

    IN = Input(int)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN") + 1)


@register_calculator("ChainLagEmit")
class LagEmit(Calculator):
    """Emits IN five microseconds before its input's timestamp (allowed: its outputs' bound still moves to the
    input's timestamp + 1 after the call, as ``timestamp_offset`` 0 promises).

    Inputs:  IN - int
    Outputs: OUT - int
    """

    IN = Input(int)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN"), ctx.timestamp.microseconds - 5)


@register_calculator("ChainLastEmit")
class LastEmit(Calculator):
    """Forwards IN; the packet whose payload is 99 goes out at ONE_OVER_POST_STREAM, the stream's last timestamp.

    Inputs:  IN - int
    Outputs: OUT - int
    """

    IN = Input(int)
    OUT = Output(int)
    timestamp_offset = None

    def process(self, ctx: Context) -> None:
        last = ctx.get("IN") == 99
        ctx.emit("OUT", ctx.get("IN"), Timestamp.ONE_OVER_POST_STREAM if last else ctx.timestamp)


def chain(n: int, middle: str = "", tail: str = "", queue_size: int = 100) -> str:
    lines = ["input_streams: [in]", "output_streams: [out]", f"queue_size: {queue_size}", "nodes:"]
    prev = "in"
    for i in range(n):
        lines.append(f"  - {{name: a{i}, calculator: ChainAddOne, inputs: {{IN: {prev}}}, outputs: {{OUT: s{i}}}}}")
        prev = f"s{i}"
        if i == n // 2 and middle:
            lines.append(f"  - {{name: mid, {middle}, inputs: {{IN: {prev}}}, outputs: {{OUT: m}}}}")
            prev = "m"
    if tail:
        lines.append(f"  - {{name: tail, {tail}, inputs: {{IN: {prev}}}, outputs: {{OUT: t}}}}")
        prev = "t"
    lines.append(f"  - {{name: last, calculator: PassThrough, inputs: {{IN: {prev}}}, outputs: {{OUT: out}}}}")
    return "\n".join(lines) + "\n"


def run(yaml: str, executor: str, m: int, observe: tuple[str, ...] = ("out",)) -> tuple[dict, dict, Any]:
    graph = Graph.from_yaml(yaml, executor=executor)
    seen: dict[str, list[tuple[int, int]]] = {s: [] for s in observe}
    for s in observe:
        graph.observe(s, lambda p, s=s: seen[s].append((p.timestamp.microseconds, p.payload)))
    graph.start()
    error = None
    try:
        for i in range(m):
            graph.add_packet("in", i, i * 10)
        graph.close_all_inputs()
        graph.wait_until_done(timeout=60)
    except GraphError as exc:
        error = exc
    stats = graph.stats()
    graph.close()
    return seen, stats, error


def test_a_chain_of_light_nodes_is_linked_only_when_specialised(specialize):
    graph = Graph.from_yaml(chain(4, middle="calculator: PassThrough"), executor="inline")
    links = {n.name: (n.link.name if n.link else None) for n in graph._sched.nodes}
    if specialize:
        assert links == {"a0": "a1", "a1": "a2", "a2": "mid", "mid": "a3", "a3": "last", "last": None}
    else:
        assert set(links.values()) == {None}
    graph.close()


def test_a_node_feeding_two_consumers_is_not_linked():
    yaml = """
input_streams: [in]
output_streams: [x, y]
nodes:
  - {name: a, calculator: ChainAddOne, inputs: {IN: in}, outputs: {OUT: s}}
  - {name: b, calculator: ChainAddOne, inputs: {IN: s}, outputs: {OUT: x}}
  - {name: c, calculator: ChainAddOne, inputs: {IN: s}, outputs: {OUT: y}}
"""
    graph = Graph.from_yaml(yaml, executor="inline")
    assert all(n.link is None for n in graph._sched.nodes)
    graph.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_linked_chain_delivers_every_packet_in_order_and_observers_of_inner_streams_see_them(executor, specialize):
    seen, stats, error = run(chain(6), executor, 500, observe=("out", "s2"))
    assert error is None
    assert seen["out"] == [(i * 10, i + 6) for i in range(500)]
    assert seen["s2"] == [(i * 10, i + 3) for i in range(500)]
    assert stats["drops_total"] == 0


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_chain_longer_than_max_chain_runs(executor, specialize):
    n = scheduler_module.MAX_CHAIN * 3 + 1
    seen, _, error = run(chain(n), executor, 50)
    assert error is None and seen["out"] == [(i * 10, i + n) for i in range(50)]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_back_pressure_holds_through_a_chain_into_a_slow_node(executor, specialize):
    """The chain's last light node feeds a slow (heavy) node through a block queue of 3: the queue never grows
    past 3, nothing overflows, and every packet arrives."""
    yaml = chain(4, tail="calculator: TestSlow, options: {delay: 0.002}, queue_size: 3")
    seen, stats, error = run(yaml, executor, 60)
    assert error is None and seen["out"] == [(i * 10, i + 4) for i in range(60)]
    tail_in = stats["nodes"]["tail"]["inputs"]["IN"]
    assert tail_in["high_water"] <= 3 and tail_in["overflows"] == 0, tail_in
    assert stats["deadlock_reliefs"] == 0


@pytest.mark.parametrize("executor", EXECUTORS)
def test_stop_source_in_a_linked_node_stops_it_and_counts_what_arrives_later(executor, specialize):
    seen, stats, error = run(chain(4, middle="calculator: TestStopAfter, options: {n: 5}"), executor, 40)
    assert error is None
    assert seen["out"] == [(i * 10, i + 4) for i in range(5)]
    mid_in = stats["nodes"]["mid"]["inputs"]["IN"]
    assert mid_in["received"] == 40 and mid_in["drops"] == 35, mid_in  # in = out + dropped


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_linked_node_that_raises_is_one_graph_error_naming_it(executor, specialize):
    _, _, error = run(chain(4, middle="calculator: TestFaulty, options: {fail_in: process, at: 6}"), executor, 40)
    assert isinstance(error, GraphError)
    assert error.node == "mid" and "boom at packet 6" in str(error)
    assert error.timestamp == 60  # packet 6 is at timestamp 6 * 10


def test_linked_and_unlinked_runs_give_the_same_stats_counts(monkeypatch):
    yaml = chain(5, middle="calculator: TestStopAfter, options: {n: 30}")
    results = []
    for flag in (True, False):
        monkeypatch.setattr(scheduler_module, "SPECIALIZE", flag)
        seen, stats, error = run(yaml, "inline", 100)
        counts = {name: (node["process_calls"], {t: (i["received"], i["drops"]) for t, i in node["inputs"].items()})
                  for name, node in stats["nodes"].items()}
        results.append((seen, counts, error))
    assert results[0] == results[1]


def _counters(stats: dict) -> dict:
    """Every counter of a run's stats (no timings): per node its calls, state and counters, per input everything
    its queue counted, per stream its packets and final bound."""
    nodes = {name: (node["process_calls"], node["state"], node["counters"],
                    node["inputs"])
             for name, node in stats["nodes"].items()}
    return {"nodes": nodes, "streams": stats["streams"], "drops_total": stats["drops_total"],
            "deadlock_reliefs": stats["deadlock_reliefs"]}


HAND_OFF_GRAPHS = {
    "plain chain, inner stream observed": (chain(6), ("out", "s2")),
    "block queues of 1": (chain(5, queue_size=1), ("out",)),
    "drop_oldest link, its stream observed": (chain(3, middle="calculator: PassThrough, queue_policy: drop_oldest"),
                                              ("out", "m")),
    "latest_only link": (chain(3, middle="calculator: ChainAddOne, queue_policy: latest_only"), ("out",)),
    "StopSource mid-chain": (chain(4, middle="calculator: TestStopAfter, options: {n: 7}"), ("out",)),
    "failing node mid-chain": (chain(4, middle="calculator: TestFaulty, options: {fail_in: process, at: 9}"),
                               ("out",)),
    "slow tail behind a block queue of 2": (chain(3, tail="calculator: TestSlow, options: {delay: 0.0005}, "
                                                  "queue_size: 2"), ("out",)),
}


LAG_THEN_PASS = """
input_streams: [in]
output_streams: [out]
nodes:
  - {name: lag, calculator: ChainLagEmit, inputs: {IN: in}, outputs: {OUT: s}}
  - {name: y, calculator: ChainAddOne, inputs: {IN: s}, outputs: {OUT: out}}
"""

LAST_THEN_PASS = """
input_streams: [in]
output_streams: [out]
nodes:
  - {name: last, calculator: ChainLastEmit, inputs: {IN: in}, outputs: {OUT: s}}
  - {name: y, calculator: ChainAddOne, inputs: {IN: s}, outputs: {OUT: out}}
"""


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_link_fed_below_its_producers_timestamp_still_moves_its_outputs_bound(executor, specialize):
    """The producer emits at ts - 5, then moves the link's input bound to ts + 1: the link must move its own
    output's bound on too (a join downstream would wait for it), after every packet, not only at the end."""
    graph = Graph.from_yaml(LAG_THEN_PASS, executor=executor)
    bounds: list[int] = []
    graph.observe("out", lambda p: None, on_bound=lambda t: bounds.append(t.microseconds))
    graph.start()
    for i in range(20):
        graph.add_packet("in", i, 100 + 100 * i)
        graph.wait_until_idle(timeout=10)
        assert graph._sched.streams["out"].bound == 100 + 100 * i + 1, (i, bounds[-3:])
    graph.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_link_fed_at_the_last_timestamp_closes(executor, specialize):
    """A packet at ONE_OVER_POST_STREAM ends the stream: the link consuming it closes at once, before the
    application closes the graph's inputs."""
    graph = Graph.from_yaml(LAST_THEN_PASS, executor=executor)
    graph.start()
    for i in range(12):
        graph.add_packet("in", 99 if i == 11 else i, 10 + i)
    graph.wait_until_idle(timeout=10)
    assert graph._sched.by_name["y"].closed
    graph.close_all_inputs()
    graph.wait_until_done(timeout=10)
    graph.close()


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_link_closed_by_stop_source_is_never_left_running(executor, specialize):
    """Packets that reach a link after its StopSource are dropped (counted) and the link is not left marked as
    running, so a cancel() does not report it as stuck in a call."""
    graph = Graph.from_yaml(chain(2, middle="calculator: TestStopAfter, options: {n: 12}"), executor=executor)
    graph.start()
    for i in range(40):
        graph.add_packet("in", i, 10 + i)
    graph.wait_until_idle(timeout=10)
    mid = graph._sched.by_name["mid"]
    assert mid.closed and mid.inputs[0].received == 40 and mid.inputs[0].drops == 28
    assert graph._sched.busy() == {}
    assert graph.cancel() == []


@pytest.mark.parametrize("case", sorted(HAND_OFF_GRAPHS))
def test_the_hand_off_into_a_link_leaves_every_counter_as_the_queue_would(case, monkeypatch):
    """The hand-off (a packet put straight into an idle link's context) is push + take specialised: on the inline
    executor (one deterministic order) every packet, error and counter, high-water marks included, is the same with
    it and without it."""
    yaml, observe = HAND_OFF_GRAPHS[case]
    results = []
    for hand_off in (True, False):
        monkeypatch.setattr(scheduler_module, "HAND_OFF", hand_off)
        graph = Graph.from_yaml(yaml, executor="inline")
        handed = [n.name for n in graph._sched.nodes if n.link is not None]
        graph.close()
        assert handed, "the graph has links to hand off to"
        seen, stats, error = run(yaml, "inline", 120, observe=observe)
        results.append((seen, _counters(stats), None if error is None else (error.node, error.timestamp)))
    assert results[0] == results[1]


def test_a_linked_chain_fed_from_two_threads_keeps_each_packet():
    """Two application threads feed two inputs of one chain's join; links never run a node twice at once."""
    yaml = """
input_streams: [a, b]
output_streams: [out]
nodes:
  - {name: x, calculator: ChainAddOne, inputs: {IN: a}, outputs: {OUT: xa}}
  - {name: y, calculator: ChainAddOne, inputs: {IN: b}, outputs: {OUT: yb}}
  - {name: j, calculator: TestAdd, inputs: {A: xa, B: yb}, outputs: {SUM: s}}
  - {name: z, calculator: ChainAddOne, inputs: {IN: s}, outputs: {OUT: out}}
"""
    graph = Graph.from_yaml(yaml, executor="threads")
    out: list[tuple[int, int]] = []
    graph.observe("out", lambda p: out.append((p.timestamp.microseconds, p.payload)))
    graph.start()

    def feed(name: str) -> None:
        for i in range(300):
            graph.add_packet(name, i, i)
        graph.close_input(name)

    threads = [threading.Thread(target=feed, args=(s,)) for s in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    graph.wait_until_done(timeout=60)
    graph.close()
    assert out == [(i, 2 * (i + 1) + 1) for i in range(300)]
