"""Property (hypothesis): any tree of relay nodes with random queue policies, sizes and per-node delays, fed from the
application or from a source node, under either executor, finishes within its timeout, joins its threads, and
accounts for every packet from ``stats()`` alone (received = processed + dropped + queued; nothing queued at the
end); every stream's timestamps strictly increase and a lossless path delivers everything in order."""

from __future__ import annotations

import time
from typing import Any

from conftest import wait_no_graphflow_threads
from faults_accounting import check_accounting
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphflow import Graph, GraphError

POLICIES = ["block", "drop_oldest", "latest_only"]


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[dict[str, Any], int, bool]:
    n = draw(st.integers(1, 7))
    from_source = draw(st.booleans())
    packets = draw(st.integers(1, 200))
    nodes: list[dict[str, Any]] = []
    streams = ["s0"]
    if from_source:
        nodes.append({"name": "source", "calculator": "FaultSource", "outputs": {"OUT": "s0"},
                      "options": {"count": packets, "label": "source"}})
    for i in range(n):
        upstream = draw(st.sampled_from(streams))
        policy = draw(st.sampled_from(POLICIES))
        nodes.append({
            "name": f"n{i}", "calculator": "FaultRelay",
            "inputs": {"IN": {"stream": upstream, "queue_policy": policy, "queue_size": draw(st.integers(1, 4))}},
            "outputs": {"OUT": f"s{i + 1}"},
            "options": {"label": f"n{i}", "delay": draw(st.sampled_from([0.0, 0.0, 0.0005]))},
        })
        streams.append(f"s{i + 1}")
    graph = {"output_streams": streams[1:], "nodes": nodes}
    if not from_source:
        graph["input_streams"] = ["s0"]
    return graph, packets, from_source


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.sampled_from(["threads", "inline"]))
def test_random_relay_trees_finish_and_account_for_every_packet(case, executor):
    spec, packets, from_source = case
    graph = Graph.from_yaml(spec, executor=executor)
    seen: dict[str, list[int]] = {s: [] for s in spec["output_streams"]}
    for stream in seen:
        graph.observe(stream, lambda p, s=stream: seen[s].append(int(p.timestamp)))
    t0 = time.monotonic()
    graph.start()
    if not from_source:
        for ts in range(packets):
            graph.add_packet("s0", ts, ts, timeout=10.0)
    graph.wait_until_done(timeout=20.0)
    assert time.monotonic() - t0 < 20.0
    assert wait_no_graphflow_threads() == []
    stats = graph.stats()
    table = check_accounting(stats)
    assert all(row["depth"] == 0 for row in table.values())  # a finished graph holds nothing back
    assert stats["streams"]["s0"]["packets"] == packets
    lossless = {"s0"}
    for node in spec["nodes"][1 if from_source else 0:]:
        q = node["inputs"]["IN"]
        if q["stream"] in lossless and q["queue_policy"] == "block":
            lossless.add(node["outputs"]["OUT"])
    for stream, stamps in seen.items():
        assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False)), stream
        if stream in lossless:
            assert stamps == list(range(packets)), stream
        elif stamps:
            assert stamps[-1] == packets - 1, stream  # drop policies always keep the newest packet


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.sampled_from(["threads", "inline"]), st.data())
def test_random_relay_trees_with_one_failing_node(case, executor, data):
    spec, packets, from_source = case
    relays = [n for n in spec["nodes"] if n["calculator"] == "FaultRelay"]
    victim = data.draw(st.sampled_from(relays))
    at = data.draw(st.integers(0, packets))
    victim["options"].update({"fail_in": "process", "at": at})
    graph = Graph.from_yaml(spec, executor=executor)
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
    assert wait_no_graphflow_threads() == []
    stats = graph.stats()
    calls = stats["nodes"][victim["name"]]["process_calls"]
    if error is None:  # drops upstream kept the victim from ever reaching its packet `at`
        assert calls <= at
        check_accounting(stats)
    else:
        assert (error.node, error.phase) == (victim["name"], "process") and calls == at
        assert isinstance(error.timestamp, int) and 0 <= error.timestamp < packets
        check_accounting(stats, failed_in_process=victim["name"])
