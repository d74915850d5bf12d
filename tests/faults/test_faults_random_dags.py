"""Property (hypothesis): random graphs with every kind of node the scheduler treats differently.

Generated: single-input relays (the specialised readiness), two-input default-policy joins fed from streams with
gaps (a filter drops every k-th packet), immediate-policy joins, tracking loops through PreviousLoopback, FlowLimiter
loops, mixed queue policies and sizes, slow nodes and (in the second property) one failing node; fed by the
application or by a source node; run under both executors (threads with and without ``caller_runs``), with the
specialised and the general rules.

For each graph: it finishes within its timeout (or fails with one GraphError naming the failing node), every
thread is joined, and every packet is accounted for on every input: each consumer received what its stream
carried, and a single-input node's received = processed + dropped + still queued (nothing is queued at the end).
A graph without drop policies or flow limiters produces the same outputs (timestamps and payloads) in every mode
and both rule forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from conftest import wait_no_graphflow_threads
from faults_accounting import check_accounting
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphflow.scheduler as scheduler_module
from graphflow import Calculator, Context, Graph, GraphError, Input, Output, register_calculator

POLICIES = ["block", "block", "drop_oldest", "latest_only"]


@register_calculator("DagJoin")
class DagJoin(Calculator):
    """A + B (an empty input counts as 0); the default or the immediate policy, as the graph says. Under the
    immediate policy the second input's packet at a timestamp already emitted is counted as ``late``.

    Inputs:  A - int; B - int
    Outputs: OUT - int
    Counters: late
    """

    A = Input(int)
    B = Input(int)
    OUT = Output(int)

    def open(self, ctx: Context) -> None:
        self.last = -1

    def process(self, ctx: Context) -> None:
        if not (ctx.has("A") or ctx.has("B")):
            return
        if int(ctx.timestamp) <= self.last:
            ctx.count("late")
            return
        self.last = int(ctx.timestamp)
        ctx.emit("OUT", ctx.get("A", 0) + ctx.get("B", 0))


@register_calculator("DagFilter")
class DagFilter(Calculator):
    """Forwards IN except every ``k``-th timestamp (a stream with gaps, closed by bounds).

    Inputs:  IN - int
    Outputs: OUT - int
    """

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        k: int = 3

    def process(self, ctx: Context) -> None:
        if int(ctx.timestamp) % self.options.k:
            ctx.emit("OUT", ctx.get("IN"))


@register_calculator("DagLoopSum")
class DagLoopSum(Calculator):
    """IN + the loop value of the previous timestamp (PREV, from a PreviousLoopback), 0 when empty.

    Inputs:  IN - int; PREV - int
    Outputs: OUT - int
    """

    IN = Input(int)
    PREV = Input(int)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        if ctx.has("IN"):
            ctx.emit("OUT", (ctx.get("IN") + ctx.get("PREV", 0)) % 1000)


def _queue(draw: st.DrawFn, stream: str, lossless: bool) -> dict[str, Any]:
    policy = "block" if lossless else draw(st.sampled_from(POLICIES))
    return {"stream": stream, "queue_policy": policy, "queue_size": draw(st.integers(1, 4))}


@st.composite
def random_dags(draw: st.DrawFn, lossless: bool = False) -> tuple[dict[str, Any], int, bool]:
    from_source = draw(st.booleans())
    packets = draw(st.integers(1, 60))
    nodes: list[dict[str, Any]] = []
    streams = ["s0"]
    if from_source:
        nodes.append({"name": "source", "calculator": "FaultSource", "outputs": {"OUT": "s0"},
                      "options": {"count": packets, "label": "source"}})
    for i in range(draw(st.integers(1, 6))):
        out = f"s{i + 1}"
        # Outputs that must be identical everywhere leave out the nodes whose outputs depend on arrival order by
        # definition: an immediate join fires with whatever has arrived (its inputs may come one by one or together),
        # and a FlowLimiter admits by what has finished.
        kinds = ["relay", "filter", "join", "loop"] + ([] if lossless else ["ijoin", "limiter"])
        kind = draw(st.sampled_from(kinds))
        up = draw(st.sampled_from(streams))
        delay = draw(st.sampled_from([0.0, 0.0, 0.0, 0.0005]))
        if kind == "relay":
            nodes.append({"name": f"n{i}", "calculator": "FaultRelay", "inputs": {"IN": _queue(draw, up, lossless)},
                          "outputs": {"OUT": out}, "options": {"label": f"n{i}", "delay": delay}})
        elif kind == "filter":
            nodes.append({"name": f"n{i}", "calculator": "DagFilter", "inputs": {"IN": _queue(draw, up, lossless)},
                          "outputs": {"OUT": out}, "options": {"k": draw(st.integers(2, 4))}})
        elif kind in ("join", "ijoin"):
            other = draw(st.sampled_from(streams))
            node = {"name": f"n{i}", "calculator": "DagJoin",
                    "inputs": {"A": _queue(draw, up, lossless), "B": _queue(draw, other, lossless)},
                    "outputs": {"OUT": out}}
            if kind == "ijoin":
                node["input_policy"] = "immediate"
            nodes.append(node)
        elif kind == "loop":  # IN + previous sum, through a PreviousLoopback on the node's own output
            nodes.append({"name": f"n{i}_prev", "calculator": "PreviousLoopback",
                          "inputs": {"MAIN": up, "LOOP": {"stream": out, "back_edge": True}},
                          "outputs": {"PREV_LOOP": f"s{i + 1}_prev"}})
            nodes.append({"name": f"n{i}", "calculator": "DagLoopSum",
                          "inputs": {"IN": _queue(draw, up, lossless), "PREV": f"s{i + 1}_prev"},
                          "outputs": {"OUT": out}})
        else:  # a FlowLimiter admitting frames while the relay behind it finishes them
            nodes.append({"name": f"n{i}_limit", "calculator": "FlowLimiter",
                          "inputs": {"IN": up, "FINISHED": {"stream": out, "back_edge": True}},
                          "outputs": {"OUT": f"s{i + 1}_admitted"},
                          "options": {"max_in_flight": draw(st.integers(1, 2))}})
            nodes.append({"name": f"n{i}", "calculator": "FaultRelay", "inputs": {"IN": f"s{i + 1}_admitted"},
                          "outputs": {"OUT": out}, "options": {"label": f"n{i}", "delay": delay}})
        streams.append(out)
    graph: dict[str, Any] = {"output_streams": streams[1:], "nodes": nodes}
    if not from_source:
        graph["input_streams"] = ["s0"]
    return graph, packets, from_source


# how a graph is run: the executor, and for threads whether add_packet may run light nodes in the caller's thread
MODES = {"threads": {"executor": "threads"}, "threads-workers-only": {"executor": "threads", "caller_runs": False},
         "inline": {"executor": "inline"}}


def _run(spec: dict[str, Any], packets: int, from_source: bool, mode: str) -> tuple[Graph, dict[str, list]]:
    graph = Graph.from_yaml(spec, **MODES[mode])
    seen: dict[str, list[tuple[int, Any]]] = {s: [] for s in spec["output_streams"]}
    for stream in seen:
        graph.observe(stream, lambda p, s=stream: seen[s].append((int(p.timestamp), p.payload)))
    graph.start()
    if not from_source:
        for ts in range(packets):
            graph.add_packet("s0", ts, ts, timeout=10.0)
    graph.wait_until_done(timeout=20.0)
    return graph, seen


def _check_finished(graph: Graph, seen: dict[str, list[tuple[int, Any]]]) -> None:
    assert wait_no_graphflow_threads() == []
    table = check_accounting(graph.stats())
    assert all(row["depth"] == 0 for row in table.values())
    for stream, stamps in seen.items():
        ts = [t for t, _ in stamps]
        assert all(b > a for a, b in zip(ts, ts[1:], strict=False)), stream


RULE_FORMS = [(True, True), (True, False), (False, False)]  # (SPECIALIZE, HAND_OFF)


@pytest.fixture(params=RULE_FORMS, ids=["specialised", "no-hand-off", "general"])
def specialize(request, monkeypatch):
    """Run the test with the scheduler's specialised rule forms and links, once with the hand-off of a packet into
    its link's context (``HAND_OFF``) and once without, and with the general forms. Returns ``SPECIALIZE``."""
    monkeypatch.setattr(scheduler_module, "SPECIALIZE", request.param[0])
    monkeypatch.setattr(scheduler_module, "HAND_OFF", request.param[1])
    return request.param[0]


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(random_dags(), st.sampled_from(sorted(MODES)))
def test_random_dags_finish_and_account_for_every_packet(specialize, case, mode):
    spec, packets, from_source = case
    graph, seen = _run(spec, packets, from_source, mode)
    _check_finished(graph, seen)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(lossless=True))
def test_lossless_random_dags_give_the_same_outputs_on_every_executor_and_rule_form(case):
    spec, packets, from_source = case
    results = []
    for mode in MODES:
        for specialise, hand_off in RULE_FORMS:
            saved = scheduler_module.SPECIALIZE, scheduler_module.HAND_OFF
            scheduler_module.SPECIALIZE, scheduler_module.HAND_OFF = specialise, hand_off
            try:
                graph, seen = _run(spec, packets, from_source, mode)
            finally:
                scheduler_module.SPECIALIZE, scheduler_module.HAND_OFF = saved
            _check_finished(graph, seen)
            results.append(seen)
    assert all(r == results[0] for r in results[1:])


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_dags(), st.sampled_from(sorted(MODES)), st.data())
def test_random_dags_with_one_failing_node_fail_once_and_join(case, mode, data):
    spec, packets, from_source = case
    relays = [n for n in spec["nodes"] if n["calculator"] == "FaultRelay"]
    if not relays:
        return
    victim = data.draw(st.sampled_from(relays))
    victim["options"].update({"fail_in": "process", "at": data.draw(st.integers(0, packets))})
    graph = Graph.from_yaml(spec, **MODES[mode])
    graph.start()
    error = None
    try:
        if not from_source:
            for ts in range(packets):
                graph.add_packet("s0", ts, ts, timeout=10.0)
        graph.wait_until_done(timeout=20.0)
    except GraphError as exc:
        error = exc
    if error is None:
        graph.close(timeout=5.0)
    else:
        assert (error.node, error.phase) == (victim["name"], "process")
    assert wait_no_graphflow_threads() == []
    check_accounting(graph.stats(), failed_in_process=victim["name"] if error else None)
