"""``caller_runs`` (on by default): which thread runs what when the application adds a packet.

Light nodes fed by ``add_packet`` run in the caller's thread while no worker is busy (a lock-step control loop then
needs no thread hand-off); heavy nodes and sources always run on the workers; ``caller_runs=False`` keeps every
node on the workers. Each node's first calls count as heavy (``HEAVY_PROBE_CALLS``), so the tests look at the calls
after those.
"""

from __future__ import annotations

import threading

import pytest

from graphflow import Graph
from graphflow.runtime import HEAVY_PROBE_CALLS

PACKETS = HEAVY_PROBE_CALLS + 20
MAIN = threading.current_thread().name


def _chain(delay: float = 0.0) -> str:
    return f"""
input_streams: [in]
output_streams: [out]
nodes:
  - {{name: a, calculator: PassThrough, inputs: {{IN: in}}, outputs: {{OUT: s}}}}
  - {{name: b, calculator: TestThreadName, inputs: {{IN: s}}, outputs: {{OUT: out}}, options: {{delay: {delay}}}}}
"""


def _lock_step(graph: Graph, n: int = PACKETS) -> list[tuple[int, str]]:
    """Add one packet, read its result, n times; returns (payload, thread of b's call) per packet."""
    poller = graph.poller("out")
    graph.start()
    seen = []
    for i in range(n):
        graph.add_packet("in", i, i)
        packet = poller.next(timeout=10)
        assert packet is not None
        seen.append(packet.payload)
    graph.close()
    return seen


@pytest.mark.parametrize("executor_threads", [1, 2])
def test_light_nodes_run_in_the_callers_thread_by_default(executor_threads):
    seen = _lock_step(Graph.from_yaml(_chain(), num_threads=executor_threads))
    assert [p for p, _ in seen] == list(range(PACKETS))
    after_probe = {name for _, name in seen[HEAVY_PROBE_CALLS + 2:]}
    assert after_probe == {MAIN}, after_probe


def test_caller_runs_false_keeps_every_node_on_the_workers():
    seen = _lock_step(Graph.from_yaml(_chain(), caller_runs=False))
    assert [p for p, _ in seen] == list(range(PACKETS))
    assert all(name.startswith("graphflow-worker") for _, name in seen), {name for _, name in seen}


def test_a_heavy_node_never_runs_in_the_callers_thread():
    seen = _lock_step(Graph.from_yaml(_chain(delay=0.002)))  # 2 ms calls: heavy (see runtime.HEAVY_NS)
    assert all(name.startswith("graphflow-worker") for _, name in seen), {name for _, name in seen}


def test_a_light_source_keeps_its_worker_while_the_caller_feeds_the_graph():
    """A fast source is light after its probe calls. Here it waits behind a full one-packet queue of a join that
    the caller's packets drive; the caller's run of the join frees that queue and so makes the source ready. The
    caller must leave the source to a worker (run there, it would run again on every packet)."""
    graph = Graph.from_yaml("""
input_streams: [in]
output_streams: [out]
nodes:
  - {name: count, calculator: TestCountingSource, outputs: {OUT: c}, options: {count: 200}}
  - {name: join, calculator: TestPairs, inputs: {A: {stream: c, queue_size: 1}, B: in}, outputs: {OUT: out}}
""")
    source_threads: list[str] = []
    graph.observe("c", lambda p: source_threads.append(threading.current_thread().name))
    poller = graph.poller("out")
    graph.start()
    for i in range(PACKETS):
        graph.add_packet("in", i, i)
        packet = poller.next(timeout=10)
        assert packet is not None and packet.payload == (i, i)
    graph.close_input("in")
    graph.wait_until_done(timeout=20)
    assert len(source_threads) == 200
    assert MAIN not in source_threads, source_threads
