"""The same graph under the threads executor and under Ray (groups as actors) gives the same packets: small graphs
with joins and loops across group boundaries, and graphs/hand_tracking.yaml on the shared video with palm detection
and the landmark model in different groups (two actors, each with its model)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from ray_support import AWKWARD_PAYLOADS

from graphflow import Graph
from graphflow.config import load_graph
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


def test_payload_types_survive_the_bridges(clean):
    """Through group -> group pushes, push replies and long polls: a numpy scalar, a bytearray or an int subclass
    arrives as itself (marshal, the bridges' cheapest writer, would make bytes of the first two)."""
    kinds = AWKWARD_PAYLOADS
    feed = [(t, kinds[t % len(kinds)]) for t in range(20 * len(kinds))]
    got = run(ray_graph(CHAIN), "z", feed)
    assert [(ts, type(p), p) for ts, p in got] == [(ts, type(p), p) for ts, p in feed]


def test_bounds_cross_the_bridge_so_a_join_fires_before_the_end(clean):
    """With gaps on both inputs (bound-only messages), the join fires for each timestamp while the input is
    still open, as it does in one process, instead of waiting for the streams to close."""

    graph = ray_graph(JOIN)
    seen, fired = [], threading.Event()

    def on_packet(p):
        seen.append(int(p.timestamp))
        if int(p.timestamp) >= 19:
            fired.set()

    graph.observe("pairs", on_packet)
    graph.start()
    try:
        for t in range(21):
            graph.add_packet("x", t, t)
        assert fired.wait(20), f"join stopped at {seen[-1:] or 'nothing'} while the input was open"
        # every timestamp where either side has a packet, in order (at t % 6 == 3 neither has one)
        assert seen == [t for t in range(21) if t % 6 != 3][:len(seen)]
        bounds = graph.stats()["bridges"]
        assert bounds["a-><driver>"]["bounds"] > 0 and bounds["b-><driver>"]["bounds"] > 0
        graph.wait_until_done(timeout=30)
    finally:
        graph.cancel()


HOP = """
input_streams: [x]
output_streams: [y]
groups: {far: {}}
nodes:
  - {name: echo, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}, group: far}
"""


def test_a_lock_step_round_trip_is_one_call(clean):
    """Lock-step traffic (add a packet, wait for its output) through a group: each push's reply carries the
    output back (piggyback), so the long poll brings nothing but DONE (and perhaps a few of the first outputs,
    while the engine still probes whether PassThrough is light enough to run in the push's thread)."""
    graph = ray_graph(HOP)
    done = threading.Semaphore(0)
    graph.observe("y", lambda p: done.release())
    graph.start()
    n = 60
    try:
        for t in range(n):
            graph.add_packet("x", t, t)
            assert done.acquire(timeout=20)
        graph.wait_until_done(timeout=30)
        y = graph.stats()["bridges"]["y-><driver>"]
    finally:
        graph.cancel()
    assert y["received"] == n and y["seq_gaps"] == 0 and y["duplicates"] == 0
    assert y["piggybacked"] >= n - 8, y  # taken for push replies in the group...
    assert y["piggybacked_batches"] >= n - 8 and y["pulled_batches"] <= 9, y  # ...and so received in the driver
    assert y["piggybacked_batches"] + y["pulled_batches"] == y["batches"]


ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT.parent / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
FRAMES = 12


def grouped_spec():
    data = yaml.safe_load((ROOT / "graphs" / "hand_tracking.yaml").read_text())
    data["groups"] = {"palms": {}, "landmarks": {}}
    for node in data["nodes"]:
        if "subgraph" in node:
            node["subgraph"] = str(ROOT / "graphs" / node["subgraph"])
        if node.get("name") == "palm_detection":
            node["group"] = "palms"
        if node.get("name") == "hand_landmark":
            node["group"] = "landmarks"
    return load_graph(data, {"max_num_hands": 1, "model_complexity": 0})


def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < FRAMES:
        ok, bgr = cap.read()
        assert ok, f"cannot read {VIDEO}"
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def run_hands(graph, images) -> list[tuple[int, object]]:
    out, got = [], threading.Semaphore(0)

    def on_hands(p):
        out.append((int(p.timestamp), p.payload))
        got.release()

    graph.observe("hands", on_hands)
    graph.start()
    try:
        for k, image in enumerate(images):  # lock-step: no queue ever drops a frame, under either executor
            graph.add_packet("image", image, k * 33_333)
            assert got.acquire(timeout=60), f"no hands for frame {k}"
        graph.wait_until_done(timeout=60)
    finally:
        graph.cancel()
    return out


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.allclose(a, b, atol=1e-5)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return abs(a - b) <= 1e-5
    return a == b


def test_hand_tracking_split_in_groups_gives_the_same_hands(clean):
    spec = grouped_spec()
    assert {n.group for n in spec.nodes if n.name.startswith("palm_detection/")} == {"palms"}
    images = frames()
    expected = run_hands(Graph(spec), images)
    got = run_hands(ray_graph(grouped_spec()), images)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert sum(len(h) for _, h in expected) >= FRAMES // 2  # the video shows a hand: there is something to compare
    for (t, a), (_, b) in zip(got, expected, strict=True):
        assert same(a, b), f"hands differ at {t}"


def test_trace_has_a_process_track_per_actor(clean, tmp_path):
    import json

    path = tmp_path / "trace.json"
    run(ray_graph(CHAIN, trace=path), "z", [(t, t) for t in range(50)])
    events = json.loads(path.read_text())["traceEvents"]
    names = {e["args"]["name"]: e["pid"] for e in events if e.get("name") == "process_name"}
    assert set(names) == {"driver", "group a", "group b"} and len(set(names.values())) == 3
    pids_with_work = {e["pid"] for e in events if e.get("ph") != "M"}
    assert names["group a"] in pids_with_work and names["group b"] in pids_with_work
