"""``optional_input_streams``: subgraph inputs a parent may leave unconnected (then left out, as on their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graphflow import Calculator, ConfigError, Context, Graph, Input, Output, register_calculator


@register_calculator("TestSeenInputs")
class SeenInputs(Calculator):
    """Emits, at each timestamp it runs for, the tags that carried a packet (sorted).

    Inputs: IN - int; AFTER - Any (optional); Outputs: OUT - list[str]
    """

    IN = Input(int, optional=True)
    AFTER = Input(Any, optional=True)
    OUT = Output(list)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", sorted(tag for tag in ("IN", "AFTER") if ctx.has(tag)))


@register_calculator("TestNeedsAfter")
class NeedsAfter(Calculator):
    """Like TestSeenInputs, but AFTER is required.

    Inputs: IN - int; AFTER - Any; Outputs: OUT - list[str]
    """

    IN = Input(int)
    AFTER = Input(Any)
    OUT = Output(list)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ["IN"])


INNER = """input_streams: [x]
optional_input_streams: [wait_for]
output_streams: [y]
nodes:
  - name: seen
    calculator: {calc}
    inputs: {{IN: x, AFTER: wait_for}}
    outputs: {{OUT: y}}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run(graph: Graph, feeds: list[tuple[str, Any, int]]) -> list[tuple[int, list[str]]]:
    poller = graph.poller("y")
    with graph:
        graph.start()
        for stream, value, ts in feeds:
            graph.add_packet(stream, value, ts)
        graph.wait_until_done(timeout=10)
    return [(int(p.timestamp), p.payload) for p in poller]


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_a_connected_optional_input_is_waited_for(tmp_path, executor):
    write(tmp_path / "inner.yaml", INNER.format(calc="TestSeenInputs"))
    outer = write(tmp_path / "outer.yaml", "input_streams: [x, w]\noutput_streams: [y]\nnodes:\n"
                  "  - {subgraph: inner.yaml, inputs: {x: x, wait_for: w}, outputs: {y: y}}\n")
    graph = Graph.from_yaml(outer, executor=executor)
    assert [i.stream for i in graph.spec.node("inner/seen").inputs] == ["x", "w"]
    # w has a packet at 1 only, and its bound tells the node that 2 carries nothing there
    assert run(graph, [("x", 1, 1), ("w", "done", 1), ("x", 2, 2), ("w", "late", 3)]) == [
        (1, ["AFTER", "IN"]), (2, ["IN"]), (3, ["AFTER"])]


def test_an_unconnected_optional_input_is_left_out(tmp_path):
    write(tmp_path / "inner.yaml", INNER.format(calc="TestSeenInputs"))
    outer = write(tmp_path / "outer.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
                  "  - {subgraph: inner.yaml, inputs: {x: x}, outputs: {y: y}}\n")
    graph = Graph.from_yaml(outer, executor="inline")
    assert [i.tag for i in graph.spec.node("inner/seen").inputs] == ["IN"]
    assert run(graph, [("x", 1, 1), ("x", 2, 2)]) == [(1, ["IN"]), (2, ["IN"])]


def test_on_its_own_the_graph_does_not_wait_for_an_optional_input(tmp_path):
    """Run directly, nothing could feed the optional stream: a packet comes out before the inputs close."""
    inner = write(tmp_path / "inner.yaml", INNER.format(calc="TestSeenInputs"))
    graph = Graph.from_yaml(inner, executor="threads")
    assert graph.spec.input_streams[0][0] == "x" and len(graph.spec.input_streams) == 1
    poller = graph.poller("y")
    with graph:
        graph.start()
        graph.add_packet("x", 7, 5)
        packet = poller.next(timeout=5)
        assert packet is not None and packet.payload == ["IN"] and int(packet.timestamp) == 5
        graph.wait_until_done(timeout=10)


def test_leaving_out_a_required_port_is_a_validation_error(tmp_path):
    write(tmp_path / "inner.yaml", INNER.format(calc="TestNeedsAfter"))
    outer = write(tmp_path / "outer.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
                  "  - {subgraph: inner.yaml, inputs: {x: x}, outputs: {y: y}}\n")
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(outer)
    assert "inner/seen" in str(info.value) and "AFTER" in str(info.value)


def test_a_stream_listed_as_both_kinds_is_refused_with_its_line(tmp_path):
    path = write(tmp_path / "g.yaml", "input_streams: [x]\noptional_input_streams: [x]\noutput_streams: [y]\n"
                 "nodes:\n  - {calculator: TestSeenInputs, inputs: {IN: x}, outputs: {OUT: y}}\n")
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(path)
    assert str(info.value).startswith(f"{path}:2: ") and "both input_streams and optional_input_streams" in str(
        info.value)


def test_a_node_that_would_lose_its_only_input_is_refused(tmp_path):
    """Left out, a node with no input left would run as a source, again and again."""
    inner = write(tmp_path / "inner.yaml", "input_streams: [x]\noptional_input_streams: [w]\noutput_streams: [y, z]\n"
                  "nodes:\n  - {calculator: TestSeenInputs, inputs: {IN: x}, outputs: {OUT: y}}\n"
                  "  - name: only\n    calculator: TestSeenInputs\n    inputs: {AFTER: w}\n    outputs: {OUT: z}\n")
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(inner)
    message = str(info.value)
    assert message.startswith(f"{inner}:6: node 'only'") and "only the optional input stream 'w'" in message


def test_an_optional_stream_cannot_feed_a_required_subgraph_input(tmp_path):
    write(tmp_path / "inner.yaml", INNER.format(calc="TestSeenInputs"))
    mid = write(tmp_path / "mid.yaml", "input_streams: [a]\noptional_input_streams: [o]\noutput_streams: [y]\n"
                "nodes:\n  - {name: inner, subgraph: inner.yaml, inputs: {x: o, wait_for: a}, outputs: {y: y}}\n")
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(mid)
    assert str(info.value).startswith(f"{mid}:5: ") and "feeds subgraph input 'x'" in str(info.value)


def test_an_optional_stream_produced_inside_the_graph_is_refused(tmp_path):
    path = write(tmp_path / "g.yaml", "input_streams: [x]\noptional_input_streams: [w]\noutput_streams: [w]\n"
                 "nodes:\n  - {calculator: TestSeenInputs, inputs: {IN: x}, outputs: {OUT: w}}\n")
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(path)
    assert str(info.value).startswith(f"{path}:2: ") and "also produced by node" in str(info.value)
