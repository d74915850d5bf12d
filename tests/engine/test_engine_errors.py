"""A node raising in open/process/close surfaces as one GraphError; close() runs where it must; threads joined."""

import threading
import time

import engine_calcs
import pytest

from graphflow import Graph, GraphError

CHAIN = """
input_streams: [in]
output_streams: [out]
nodes:
  - name: first
    calculator: TestFaulty
    inputs: {IN: in}
    outputs: {OUT: mid}
    options: {label: first}
  - name: second
    calculator: TestFaulty
    inputs: {IN: mid}
    outputs: {OUT: out}
    options: {label: second, fail_in: FAIL, at: 3}
"""


def graphflow_threads():
    return [t for t in threading.enumerate() if t.name.startswith("graphflow")]


@pytest.fixture(autouse=True)
def clear_events():
    engine_calcs.EVENTS.clear()
    yield


@pytest.mark.parametrize("executor", ["threads", "inline"])
def test_raise_in_process(executor, no_thread_leak):
    g = Graph.from_yaml(CHAIN.replace("FAIL", "process"), executor=executor)
    g.start()
    t0 = time.monotonic()
    with pytest.raises(GraphError) as info:
        for ts in range(10):
            g.add_packet("in", ts, ts)
        g.wait_until_done(timeout=5)
    err = info.value
    assert err.node == "second" and err.calculator == "TestFaulty" and err.phase == "process"
    assert err.timestamp == 3
    assert isinstance(err.__cause__, ValueError) and "boom at packet 3" in str(err.__cause__)
    assert "node 'second' (TestFaulty) failed in process at timestamp 3us" in str(err)
    g.close()  # idempotent after the failure
    assert time.monotonic() - t0 < 2.0
    assert ("first", "close") in engine_calcs.EVENTS and ("second", "close") in engine_calcs.EVENTS
    assert not graphflow_threads()


def test_raise_in_open_closes_the_opened_and_skips_the_failed(no_thread_leak):
    g = Graph.from_yaml(CHAIN.replace("FAIL", "open"))
    with pytest.raises(GraphError) as info:
        g.start()
    assert info.value.node == "second" and info.value.phase == "open"
    assert ("first", "close") in engine_calcs.EVENTS  # opened, so closed
    assert ("second", "close") not in engine_calcs.EVENTS  # open failed: no close
    g.close()
    assert not graphflow_threads()


def test_raise_in_close(no_thread_leak):
    g = Graph.from_yaml(CHAIN.replace("FAIL", "close"))
    g.start()
    for ts in range(5):
        g.add_packet("in", ts, ts)
    with pytest.raises(GraphError) as info:
        g.wait_until_done(timeout=5)
    assert info.value.node == "second" and info.value.phase == "close"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert not graphflow_threads()


def test_error_surfaces_from_add_packet_and_context_manager(no_thread_leak):
    with pytest.raises(GraphError):
        with Graph.from_yaml(CHAIN.replace("FAIL", "process"), executor="inline") as g:
            g.start()
            for ts in range(10):
                g.add_packet("in", ts, ts)
    assert not graphflow_threads()


def test_observer_exception_is_a_graph_error(no_thread_leak):
    g = Graph.from_yaml(CHAIN.replace("FAIL", "none"))

    def bad(packet):
        raise KeyError("observer bug")

    g.observe("out", bad)
    g.start()
    g.add_packet("in", 1, 1)
    with pytest.raises(GraphError, match="observer of stream 'out'"):
        g.wait_until_done(timeout=5)


def test_lifecycle_guards():
    g = Graph.from_yaml(CHAIN.replace("FAIL", "none"))
    with pytest.raises(RuntimeError, match=r"needs a started graph"):
        g.add_packet("in", 1, 1)
    g.start()
    with pytest.raises(RuntimeError, match="can be called once"):
        g.start()
    with pytest.raises(RuntimeError, match="before start"):
        g.poller("out")
    with pytest.raises(KeyError, match="not an input stream"):
        g.add_packet("nope", 1, 1)
    g.close()
    with pytest.raises(RuntimeError, match="after close"):
        g.add_packet("in", 1, 2)
