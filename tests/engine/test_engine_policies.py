"""Input policies, queue policies, back-pressure, flow limiting, loops."""

import threading
import time

import pytest

from graphflow import Graph

TWO_INPUTS = """
input_streams: [a, b]
output_streams: [pairs]
nodes:
  - calculator: TestPairs
    inputs: {A: a, B: b}
    outputs: {OUT: pairs}
    input_policy: POLICY
"""


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_default_policy_aligns_streams_with_gaps(executor):
    g = Graph.from_yaml(TWO_INPUTS.replace("POLICY", "default"), executor=executor)
    out = g.poller("pairs")
    g.start()
    # a: 1 2 . 4 5 ;  b: 1 . 3 4 .  (b closes after 4)
    for ts in (1, 2, 4, 5):
        g.add_packet("a", f"a{ts}", ts)
    for ts in (1, 3, 4):
        g.add_packet("b", f"b{ts}", ts)
    g.close_input("b")
    g.close_input("a")
    g.wait_until_done(timeout=5)
    got = [(int(p.timestamp), p.payload) for p in out]
    assert got == [
        (1, ("a1", "b1")),
        (2, ("a2", None)),
        (3, (None, "b3")),
        (4, ("a4", "b4")),
        (5, ("a5", None)),
    ]


def test_default_policy_waits_until_settled():
    g = Graph.from_yaml(TWO_INPUTS.replace("POLICY", "default"), executor="inline")
    out = g.poller("pairs")
    g.start()
    g.add_packet("a", "a1", 1)
    g.add_packet("a", "a2", 2)
    assert out.latest() is None  # b could still bring something at 1
    g.add_packet("b", "b2", 2)  # now 1 is settled on b (empty), and 2 has both
    assert [p.payload for p in [out.next(1), out.next(1)]] == [("a1", None), ("a2", "b2")]
    g.close()


def test_immediate_policy_runs_on_each_arrival():
    g = Graph.from_yaml(TWO_INPUTS.replace("POLICY", "immediate"), executor="inline")
    out = g.poller("pairs")
    g.start()
    g.add_packet("a", "a1", 1)
    assert out.next(1).payload == ("a1", None)  # no waiting for b
    g.add_packet("a", "a2", 2)
    assert out.next(1).payload == ("a2", None)
    g.add_packet("b", "b3", 3)
    assert out.next(1).payload == (None, "b3")
    g.close()


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_back_pressure_bounds_memory(executor):
    y = """
nodes:
  - calculator: TestCountingSource
    outputs: {OUT: numbers}
    options: {count: 60}
  - name: sink
    calculator: TestSlow
    inputs: {IN: {stream: numbers, queue_size: 4}}
    outputs: {OUT: done}
    options: {delay: 0.002}
"""
    g = Graph.from_yaml(y, executor=executor)
    stats = g.run(timeout=20)
    sink = stats["nodes"]["sink"]
    assert sink["process_calls"] == 60
    assert sink["inputs"]["IN"]["high_water"] <= 4
    assert sink["inputs"]["IN"]["drops"] == 0


def test_caller_add_packet_blocks_then_times_out():
    y = """
input_streams: [in]
nodes:
  - name: slow
    calculator: TestSlow
    inputs: {IN: {stream: in, queue_size: 2}}
    outputs: {OUT: out}
    options: {delay: 0.3}
"""
    from graphflow import GraphTimeoutError

    g = Graph.from_yaml(y, executor="threads", num_threads=1)
    g.start()
    for ts in range(3):  # one in process, two queued
        g.add_packet("in", ts, ts)
    t0 = time.monotonic()
    with pytest.raises(GraphTimeoutError, match="node 'slow' input 'IN' stayed full"):
        g.add_packet("in", 3, 3, timeout=0.05)
    assert time.monotonic() - t0 < 1.0
    g.add_packet("in", 3, 3, timeout=5)  # blocks until space, then succeeds
    assert g.stats()["nodes"]["slow"]["inputs"]["IN"]["high_water"] <= 2
    g.close()


@pytest.mark.parametrize("policy", ["drop_oldest", "latest_only"])
def test_drop_policies_count_every_drop(policy):
    y = f"""
input_streams: [in]
output_streams: [out]
nodes:
  - name: slow
    calculator: TestSlow
    inputs: {{IN: {{stream: in, queue_size: 3, queue_policy: {policy}}}}}
    outputs: {{OUT: out}}
    options: {{delay: 0.002}}
"""
    g = Graph.from_yaml(y, executor="threads", num_threads=1)
    out = g.poller("out")
    g.start()
    n = 200
    for ts in range(n):
        g.add_packet("in", ts, ts)
    g.wait_until_done(timeout=20)
    received = [p.payload for p in out]
    stats = g.stats()
    drops = stats["nodes"]["slow"]["inputs"]["IN"]["drops"]
    assert drops > 0
    assert len(received) + drops == n
    assert received == sorted(received) and received[-1] == n - 1  # the newest always survives
    assert stats["drops_total"] == drops
    assert stats["nodes"]["slow"]["inputs"]["IN"]["high_water"] <= (1 if policy == "latest_only" else 3)


def test_flow_limiter_keeps_max_in_flight():
    y = """
input_streams: [frames]
output_streams: [done]
nodes:
  - name: limiter
    calculator: FlowLimiter
    inputs: {IN: frames, FINISHED: {stream: done, back_edge: true}}
    outputs: {OUT: admitted}
    options: {max_in_flight: 2}
  - name: model
    calculator: TestSlow
    inputs: {IN: admitted}
    outputs: {OUT: done}
    options: {delay: 0.01}
"""
    g = Graph.from_yaml(y, executor="threads", num_threads=2)
    lock = threading.Lock()
    state = {"admitted": 0, "done": 0, "max_in_flight": 0}
    done_ts = []

    def on_admit(packet):
        with lock:
            state["admitted"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["admitted"] - state["done"])

    def on_done(packet):
        with lock:
            state["done"] += 1
            done_ts.append(int(packet.timestamp))

    g.observe("admitted", on_admit)
    g.observe("done", on_done)
    g.start()
    for ts in range(100):
        g.add_packet("frames", ts, ts)
        time.sleep(0.001)
    g.wait_until_done(timeout=20)
    stats = g.stats()
    dropped = stats["nodes"]["limiter"]["counters"].get("dropped_frames", 0)
    assert 1 <= state["max_in_flight"] <= 2
    assert dropped > 0
    assert state["done"] + dropped == 100
    assert stats["drops_total"] >= dropped
    assert done_ts == sorted(done_ts)


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_back_edge_running_sum(executor):
    y = """
input_streams: [x]
output_streams: [sum]
nodes:
  # last frame's sum, delivered with this frame
  - calculator: PreviousLoopback
    inputs: {MAIN: x, LOOP: {stream: sum, back_edge: true}}
    outputs: {PREV_LOOP: prev_sum}
  - calculator: TestRunningSum
    inputs: {IN: x, PREV: prev_sum}
    outputs: {SUM: sum}
"""
    g = Graph.from_yaml(y, executor=executor)
    out = g.poller("sum")
    g.start()
    values = [3, 1, 4, 1, 5, 9, 2, 6]
    for i, v in enumerate(values):
        g.add_packet("x", v, i * 10)
    g.wait_until_done(timeout=10)
    sums = [p.payload for p in out]
    expected = [sum(values[: i + 1]) for i in range(len(values))]
    assert sums == expected


@pytest.mark.parametrize("offset", [None, 0, 7])
def test_single_input_turn_test_is_the_general_has_turn_rule(offset):
    """``SingleInputReadiness.turn_test`` (the has_turn every linked node runs after its call) against the rule it
    specialises, written out here: stopping, or work (a queued packet or a closed input), or, for a synchronised
    node, a settled bound + offset past its outputs' bound; on every combination of those states."""
    from graphflow.packet import Packet
    from graphflow.timestamp import DONE_US

    g = Graph.from_yaml("input_streams: [a]\nnodes:\n  - {name: n, calculator: PassThrough, inputs: {IN: a}, "
                        "outputs: {OUT: b}}\n", executor="inline")
    node = g._sched.by_name["n"]
    readiness = node.readiness
    q = readiness.q
    fast = readiness.turn_test(node, offset)
    checked = 0
    for stop in (False, True):
        for queued in ([], [40], [40, 50]):
            for bound in (0, 30, 41, 60, DONE_US):
                for out_bound in (0, 30, 41, 47, 48, 60, DONE_US):
                    node.stop_requested = stop
                    q.packets.clear()
                    q.packets.extend(Packet(0, t) for t in queued)
                    q.bound, node.out_bound = bound, out_bound
                    work = readiness.has_work()
                    general = stop or work or (offset is not None and readiness.settled_bound() + offset > out_bound)
                    assert fast() == general, (stop, queued, bound, out_bound)
                    checked += 1
    q.packets.clear()
    node.stop_requested = False
    g.close()
    assert checked == 2 * 3 * 5 * 7
