import numpy as np
import pytest

from graphflow import Graph, GraphError, Packet, Timestamp, TimestampError


def test_timestamp_is_integer_microseconds():
    assert Timestamp(5) == 5 and Timestamp(5).microseconds == 5
    assert Timestamp.from_seconds(1.5) == 1_500_000
    with pytest.raises(TypeError, match="integer microseconds"):
        Timestamp(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Timestamp(True)  # type: ignore[arg-type]


def test_specials_order_and_arithmetic():
    order = [Timestamp.UNSET, Timestamp.UNSTARTED, Timestamp.PRE_STREAM, Timestamp.MIN, Timestamp(0), Timestamp.MAX,
             Timestamp.POST_STREAM, Timestamp.ONE_OVER_POST_STREAM, Timestamp.DONE]
    assert order == sorted(order)
    assert Timestamp(10) - Timestamp(3) == 7
    assert Timestamp(10) + 5 == Timestamp(15)
    with pytest.raises(TypeError):
        Timestamp(1) + Timestamp(2)  # type: ignore[operator]
    with pytest.raises(ValueError):
        Timestamp.DONE + 1
    assert repr(Timestamp.DONE) == "Timestamp.DONE"
    assert Timestamp.PRE_STREAM.is_allowed_in_stream() and not Timestamp.DONE.is_allowed_in_stream()
    with pytest.raises(ValueError):
        Timestamp(2**63 - 1)  # DONE's raw value is not a regular timestamp


def test_packet_is_immutable_and_at_shares_payload():
    frame = np.zeros((480, 640, 3), np.uint8)
    p = Packet(frame, 10)
    q = p.at(20)
    assert q.payload is frame and q.timestamp == 20 and p.timestamp == 10
    with pytest.raises(AttributeError):
        p.payload = 3  # type: ignore[misc]


GRAPH = """
input_streams: [in]
output_streams: [out]
nodes:
  - calculator: PassThrough
    inputs: {IN: in}
    outputs: {OUT: out}
"""


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_decreasing_timestamp_from_caller_names_stream_and_values(executor):
    with Graph.from_yaml(GRAPH, executor=executor) as g:
        g.start()
        g.add_packet("in", 1, 7)
        with pytest.raises(TimestampError, match=r"stream 'in'.*timestamp 5us.*previous packet's 7us"):
            g.add_packet("in", 2, 5)
        with pytest.raises(TimestampError, match="7us"):
            g.add_packet("in", 2, 7)  # equal is not increasing either


def test_decreasing_timestamp_from_a_node_is_a_graph_error():
    y = """
input_streams: [in]
nodes:
  - name: back
    calculator: TestBackwards
    inputs: {IN: in}
    outputs: {OUT: out}
"""
    g = Graph.from_yaml(y, executor="inline")
    g.start()
    g.add_packet("in", 1, 1)  # emits at 90
    with pytest.raises(GraphError) as info:
        g.add_packet("in", 2, 2)  # emits at 80 < 90
        g.wait_until_done(timeout=5)
    assert info.value.node == "back"
    assert isinstance(info.value.__cause__, TimestampError)
    assert "stream 'out'" in str(info.value.__cause__) and "80us" in str(info.value.__cause__)
    g.close()


def test_run_calculator_runs_one_node_in_isolation():
    from graphflow.testing import run_calculator

    out = run_calculator("calculator: TestScale\noptions: {factor: 3}", inputs={"IN": [(0, 1), (5, 2)]})
    assert [(int(p.timestamp), p.payload) for p in out["OUT"]] == [(0, 3), (5, 6)]
    out = run_calculator({"calculator": "TestScale"}, inputs={"IN": [(0, 4)]}, side_packets={"FACTOR": 10})
    assert [p.payload for p in out["OUT"]] == [40]
