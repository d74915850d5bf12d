"""Failures under the Ray executor: a raising node, a killed actor (with and without restarts), slow consumers
for each queue policy, stop()/cancel(). Each ends within its timeout with one GraphError (or cleanly) and leaves
no actor or thread behind (the ``clean`` fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import ray

from graphflow import GraphError
from graphflow.distributed import live_graphs, ray_graph

THREE_GROUPS = """
input_streams: [x]
output_streams: [z]
groups: {a: {}, b: {max_restarts: $restarts}, c: {}}
options: {at: -1, log: "", restarts: 0, delay: 0.0}
nodes:
  - {name: fa, calculator: RayTestFaulty, inputs: {IN: x}, outputs: {OUT: y1}, group: a,
     options: {label: fa, log: $log}}
  - {name: fb, calculator: RayTestFaulty, inputs: {IN: y1}, outputs: {OUT: y2}, group: b,
     options: {label: fb, log: $log, at: $at}}
  - {name: slow, calculator: RayTestSlow, inputs: {IN: y2}, outputs: {OUT: y3}, group: b, options: {delay: $delay}}
  - {name: fc, calculator: RayTestFaulty, inputs: {IN: y3}, outputs: {OUT: z}, group: c,
     options: {label: fc, log: $log}}
"""


def test_a_raising_node_in_a_group_is_one_graph_error(clean, tmp_path):
    log = tmp_path / "events.txt"
    graph = ray_graph(THREE_GROUPS, at=17, log=str(log))
    graph.start()
    with pytest.raises(GraphError) as info:
        for t in range(100):
            graph.add_packet("x", t, t)
            time.sleep(0.001)
        graph.wait_until_done(timeout=30)
    err = info.value
    assert "group 'b'" in str(err) and "boom at 17" in str(err)
    assert err.node == "fb" and err.calculator == "RayTestFaulty" and int(err.timestamp) == 17
    assert "ValueError: boom at 17" in str(err.__cause__)  # the remote traceback
    graph.cancel()
    events = log.read_text().split("\n")
    for label in ("fa", "fb", "fc"):  # every opened node in every group got its close
        assert f"{label} open" in events and f"{label} close" in events, events


def test_a_node_failing_to_open_fails_start_and_leaves_nothing_running(clean, tmp_path):
    """start() raises one GraphError; the groups that did open close their nodes; no graph, thread or actor is
    left (``clean``), so a failed start cannot leak into later tests."""
    log = tmp_path / "events.txt"
    text = THREE_GROUPS.replace("options: {label: fc, log: $log}", "options: {label: fc, log: $log, fail_open: true}")
    graph = ray_graph(text, log=str(log))
    with pytest.raises(GraphError) as info:
        graph.start()
    assert "group 'c'" in str(info.value) and "fc cannot open" in str(info.value)
    assert not live_graphs()
    events = log.read_text().split("\n")
    for label in ("fa", "fb"):
        assert f"{label} open" not in events or f"{label} close" in events, events
    with pytest.raises(RuntimeError, match="can be called once"):
        graph.start()


def _feed_until(graph, stop: threading.Event, errors: list[BaseException], n: int = 100_000) -> None:
    try:
        for t in range(n):
            if stop.is_set():
                return
            graph.add_packet("x", t, t, timeout=20)
            time.sleep(0.002)
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        errors.append(exc)


def test_a_killed_actor_fails_the_graph_naming_its_group(clean):
    graph = ray_graph(THREE_GROUPS)
    got = []
    graph.observe("z", lambda p: got.append(int(p.timestamp)))
    graph.start()
    stop, errors = threading.Event(), []
    feeder = threading.Thread(target=_feed_until, args=(graph, stop, errors))
    feeder.start()
    deadline = time.monotonic() + 20
    while len(got) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    ray.kill(graph.actors["b"], no_restart=True)
    with pytest.raises(GraphError) as info:
        graph.wait_until_done(timeout=30)  # also closes the input the feeder uses: it ends with an error
    stop.set()
    feeder.join(20)
    assert not feeder.is_alive()
    assert "group 'b'" in str(info.value) and "died" in str(info.value) and "fb" in str(info.value)
    graph.cancel()


def test_a_restarted_group_lets_the_graph_go_on(clean):
    graph = ray_graph(THREE_GROUPS, restarts=1)
    got = []
    graph.observe("z", lambda p: got.append(int(p.timestamp)))
    graph.start()
    n = 300
    for t in range(n):
        graph.add_packet("x", t, t, timeout=20)
        if t == 100:
            deadline = time.monotonic() + 20
            while len(got) < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            ray.kill(graph.actors["b"], no_restart=False)  # Ray restarts it (max_restarts: 1)
        time.sleep(0.002)
    graph.wait_until_done(timeout=40)
    stats = graph.stats()
    assert stats["groups"]["b"]["restarts"] == 1
    assert got == sorted(got) and len(set(got)) == len(got)  # in order, no duplicates
    assert got[-1] == n - 1  # packets after the restart made it through
    lost = sum(b["lost"] for b in stats["bridges"].values())
    assert len(got) + lost <= n and len(got) < n  # what the dead actor held is gone (its transfers: counted)


SLOW = """
input_streams: [x]
output_streams: [z]
groups: {consumer: {}}
nodes:
  - {name: slow, calculator: RayTestSlow, group: consumer, options: {delay: 0.004},
     inputs: {IN: {stream: x, queue_size: 4, queue_policy: POLICY}}, outputs: {OUT: z}}
"""


@pytest.mark.parametrize("policy", ["block", "drop_oldest", "latest_only"])
def test_a_slow_consumer_across_a_bridge(clean, policy):
    graph = ray_graph(SLOW.replace("POLICY", policy))
    got = []
    graph.observe("z", lambda p: got.append(int(p.timestamp)))
    graph.start()
    n, high = 300, 0
    for t in range(n):
        graph.add_packet("x", t, t, timeout=30)
        if t % 25 == 0:
            edge = graph.stats()["bridges"]["x->consumer"]
            high = max(high, edge["waiting"] + edge["in_transit"])
    graph.wait_until_done(timeout=40)
    stats = graph.stats()
    edge = stats["bridges"]["x->consumer"]
    assert high <= edge["capacity"]  # memory stays bounded on the sender's side
    assert edge["policy"] == policy and edge["capacity"] == (1 if policy == "latest_only" else 4)
    queue = stats["nodes"]["slow"]["inputs"]["IN"]
    assert len(got) + edge["drops"] + queue["drops"] == n  # every packet arrived or was counted as dropped
    assert stats["drops_total"] == edge["drops"] + queue["drops"]
    if policy == "block":
        assert got == list(range(n))
    else:
        assert edge["drops"] > 0 and got == sorted(got) and got[-1] == n - 1


SOURCE = """
output_streams: [z]
groups: {camera: {}, work: {}}
nodes:
  - {name: src, calculator: RayTestSource, group: camera, options: {count: 1000000, delay: 0.002}, outputs: {OUT: y}}
  - {name: work, calculator: RayTestFaulty, group: work, inputs: {IN: y}, outputs: {OUT: z},
     options: {label: work, log: $log}}
options: {log: ""}
"""


@pytest.mark.parametrize("how", ["stop", "cancel"])
def test_stop_and_cancel_end_a_running_graph(clean, tmp_path, how):
    log = tmp_path / "events.txt"
    graph = ray_graph(SOURCE, log=str(log))
    got = []
    graph.observe("z", lambda p: got.append(int(p.timestamp)))
    graph.start()
    deadline = time.monotonic() + 20
    while len(got) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    getattr(graph, how)(10.0)
    assert time.monotonic() - t0 < 15
    assert len(got) >= 10 and got == sorted(got)
    assert "work close" in log.read_text().split("\n")


ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_a_ray_run_cleanly(clean, ray_session, tmp_path):
    """A real SIGINT to `graphflow run --executor ray` (joining this module's Ray, as a user's run joins
    RAY_ADDRESS's cluster): sources stop, every node closes, exit 130, no hang, no actor left."""
    log = tmp_path / "events.txt"
    graph = tmp_path / "g.yaml"
    graph.write_text(textwrap.dedent(f"""\
        groups: {{camera: {{}}, work: {{}}}}
        allow_imports: [ray_calcs]
        output_streams: [z]
        nodes:
          - {{name: src, calculator: "ray_calcs:Source", group: camera, outputs: {{OUT: y}},
             options: {{count: 100000000, delay: 0.002}}}}
          - {{name: work, calculator: "ray_calcs:Faulty", group: work, inputs: {{IN: y}}, outputs: {{OUT: z}},
             options: {{label: work, log: "{log}"}}}}
        """))
    env = {**os.environ, "RAY_ADDRESS": ray_session.address, "PYTHONPATH": f"{ROOT}:{Path(__file__).parent}"}
    proc = subprocess.Popen([sys.executable, "-m", "graphflow.cli", "run", str(graph), "--executor", "ray",
                             "--allow-import", "ray_calcs"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 40
        while not (log.exists() and "work open" in log.read_text()) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert log.exists() and "work open" in log.read_text(), f"the graph never started: {_stderr(proc)}"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()  # (its actors die with it: they are owned by its driver)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "work close" in log.read_text().split("\n")


def _stderr(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
    return proc.communicate()[1][-2000:]
