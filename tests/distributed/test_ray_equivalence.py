"""The same graph under the threads executor and under Ray (groups as actors) gives the same packets."""

from __future__ import annotations

import pytest

from graphflow import Graph
from graphflow.distributed import ray_graph

CHAIN = """
input_streams: [x]
output_streams: [z]
groups: {a: {}, b: {}}
nodes:
  - {name: p1, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y1}, group: a}
  - {name: p2, calculator: PassThrough, inputs: {IN: y1}, outputs: {OUT: y2}, group: b}
  - {name: p3, calculator: PassThrough, inputs: {IN: y2}, outputs: {OUT: y3}, group: a}
  - {name: p4, calculator: PassThrough, inputs: {IN: y3}, outputs: {OUT: z}}
"""

# the join's inputs come from two groups, each with gaps at different timestamps
JOIN = """
input_streams: [x]
output_streams: [pairs]
groups: {evens: {}, threes: {}}
nodes:
  - {name: keep2, calculator: RayTestKeep, inputs: {IN: x}, outputs: {OUT: a}, group: evens,
     options: {every: 2, keep: [0]}}
  - {name: keep3, calculator: RayTestKeep, inputs: {IN: x}, outputs: {OUT: b}, group: threes,
     options: {every: 3, keep: [1, 2]}}
  - {name: join, calculator: RayTestPairs, inputs: {A: a, B: b}, outputs: {OUT: pairs}}
"""

# a tracking loop: the running sum comes back over a back edge from another group
LOOP = """
input_streams: [x]
output_streams: [sums]
groups: {loop: {}, body: {}}
nodes:
  - {name: prev, calculator: PreviousLoopback, group: loop,
     inputs: {MAIN: x, LOOP: {stream: sums, back_edge: true}}, outputs: {PREV_LOOP: prev_sum}}
  - {name: add, calculator: RayTestAdd, group: body, inputs: {IN: x, PREV: prev_sum}, outputs: {OUT: sums}}
"""

FLOW = """
input_streams: [x]
output_streams: [done]
groups: {work: {}}
nodes:
  - {name: limiter, calculator: FlowLimiter, inputs: {IN: x, FINISHED: {stream: done, back_edge: true}},
     outputs: {OUT: admitted}}
  - {name: work, calculator: RayTestSlow, group: work, inputs: {IN: admitted}, outputs: {OUT: done},
     options: {delay: 0.001}}
"""


def run(graph, stream: str, feed: list[tuple[int, object]], lockstep: bool = False) -> list[tuple[int, object]]:
    """Feed (ts, payload) into 'x', return what ``stream`` carried as (ts, payload)."""
    import threading

    out: list[tuple[int, object]] = []
    got = threading.Semaphore(0)

    def on_packet(p):
        out.append((int(p.timestamp), p.payload))
        got.release()

    graph.observe(stream, on_packet)
    graph.start()
    try:
        for ts, payload in feed:
            graph.add_packet("x", payload, ts)
            if lockstep:
                assert got.acquire(timeout=20), f"no output for timestamp {ts}"
        graph.wait_until_done(timeout=40)
    finally:
        graph.cancel()
    return out


@pytest.mark.parametrize("yaml, stream, feed, lockstep", [
    (CHAIN, "z", [(t, t * 7) for t in range(300)], False),
    (JOIN, "pairs", [(t, t) for t in range(60)], False),
    (LOOP, "sums", [(t * 10, t) for t in range(40)], False),
    (FLOW, "done", [(t, t) for t in range(30)], True),
], ids=["chain", "join_with_gaps", "previous_loopback", "flow_limiter"])
def test_same_packets_as_threads(clean, yaml, stream, feed, lockstep):
    expected = run(Graph.from_yaml(yaml), stream, feed, lockstep)
    got = run(ray_graph(yaml), stream, feed, lockstep)
    assert got == expected
    assert len(expected) > 0
