"""Several machines, simulated with ``ray.cluster_utils.Cluster``: a head and two nodes with custom resources;
the groups are pinned to different nodes, so frames really cross object stores."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from ray.cluster_utils import Cluster
from ray_support import ray_log_tail, reap, release_leftovers, session_processes, start_ray

from graphflow import Graph
from graphflow.distributed import ray_graph

PINNED = """
input_streams: [frames]
output_streams: [out]
groups:
  camera: {num_cpus: 0, resources: {camera_host: 1}}
  models: {num_cpus: 0, resources: {model_host: 1}}
nodes:
  - {name: grab, calculator: PassThrough, inputs: {IN: frames}, outputs: {OUT: grabbed}, group: camera}
  - {name: keep, calculator: RayTestKeep, inputs: {IN: grabbed}, outputs: {OUT: kept}, group: models,
     options: {every: 3, keep: [0, 1]}}
  - {name: join, calculator: RayTestPairs, inputs: {A: grabbed, B: kept}, outputs: {OUT: out}}
"""


STORE = 100 * 2**20  # per node: the test moves 12 frames of 0.9 MB


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    c = None
    try:
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                          "object_store_memory": STORE})
        c.add_node(num_cpus=1, resources={"camera_host": 1}, object_store_memory=STORE)
        c.add_node(num_cpus=1, resources={"model_host": 1}, object_store_memory=STORE)
        start_ray(address=c.address, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # noqa: BLE001 - one message with Ray's logs, and nothing left running
        if c is not None:
            c.shutdown()
        pytest.fail(f"simulated cluster did not start: {type(exc).__name__}: {exc}\n{ray_log_tail()}",
                    pytrace=False)
    yield c
    left = release_leftovers()
    procs = session_processes([c.head_node, *c.worker_nodes])
    ray.shutdown()
    c.shutdown()
    reap(procs)
    assert not left, f"left behind by the module's tests: {left}"


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(n)]


def collect(graph, images) -> list[tuple[int, object]]:
    out = []
    graph.observe("out", lambda p: out.append((int(p.timestamp), p.payload)))
    graph.start()
    try:
        for t, image in enumerate(images):
            graph.add_packet("frames", image, t * 33_000)
        graph.wait_until_done(timeout=60)
    finally:
        graph.cancel()
    return out


def test_groups_on_different_nodes_give_the_same_packets(cluster, clean_cluster):
    images = frames(12)
    expected = collect(Graph.from_yaml(PINNED), images)
    graph = ray_graph(PINNED)
    got = collect(graph, images)
    assert [t for t, _ in got] == [t for t, _ in expected]
    for (_, (a, b)), (_, (ea, eb)) in zip(got, expected, strict=True):
        assert np.array_equal(a, ea) and (b is None) == (eb is None)
        assert b is None or np.array_equal(b, eb)
    groups = graph.stats()["groups"]
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
    assert "camera_host" in nodes[groups["camera"]["node_id"]]
    assert "model_host" in nodes[groups["models"]["node_id"]]
    assert groups["camera"]["node_id"] != groups["models"]["node_id"]
    bridges = graph.stats()["bridges"]
    assert bridges["grabbed->models"]["bytes"] == 12 * 480 * 640 * 3  # the frames crossed between the nodes
