"""The Ray executor: what a bridge costs, and what groups buy.

Measured in one session, each next to its baseline:

- per-hop latency p50/p99 (lock-step: add one packet, wait for it) for an int, a 640x480x3 and a 1280x720x3 uint8
  payload: driver -> one group (PassThrough) -> driver, i.e. two bridge hops, against a bare Ray actor method
  round trip (``echo.remote(x)``, two hops as well; also to an actor recording no Ray task events, as the
  bridge's own calls do not; the three take turns in blocks of 25) and a Ray Compiled Graph
  round trip through the same kind of actor; on one node and (``--cluster``) with the group on another simulated
  node (``ray.cluster_utils.Cluster``);
- packets/s of an int stream across the same bridge (fed as fast as the credit allows);
- the reason to use it: a two-stage pipeline of GIL-holding Python work (``Burn``), the threads executor in one
  process against the two stages in two groups.

The calculator is defined here, in ``__main__``: it also shows that a script's own calculators run inside groups.

    flock /tmp/bench.lock python benchmarks/ray_executor.py --json benchmarks/results/ray_executor_DATE.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from graphflow import Calculator, Context, Graph, Input, Output, register_calculator  # noqa: E402
from graphflow.distributed import ray_graph  # noqa: E402

PAYLOADS = {"int": lambda: 7, "640x480x3": lambda: np.zeros((480, 640, 3), np.uint8),
            "1280x720x3": lambda: np.zeros((720, 1280, 3), np.uint8)}
HOP = """
input_streams: [x]
output_streams: [y]
groups: {far: {num_cpus: 0, resources: RESOURCES}}
nodes:
  - {name: echo, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}, group: far}
"""
PIPELINE = """
input_streams: [x]
output_streams: [y]
groups: {first: {num_cpus: 0}, second: {num_cpus: 0}}
nodes:
  - {name: stage1, calculator: BenchBurn, inputs: {IN: x}, outputs: {OUT: mid}, group: first,
     options: {iterations: ITER}}
  - {name: stage2, calculator: BenchBurn, inputs: {IN: mid}, outputs: {OUT: y}, group: second,
     options: {iterations: ITER}}
"""


@register_calculator("BenchBurn")
class Burn(Calculator):
    """GIL-holding Python work: ``iterations`` rounds of integer arithmetic on the input."""

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        iterations: int = 20000

    def process(self, ctx: Context) -> None:
        acc = ctx.get("IN")
        for k in range(self.options.iterations):
            acc = (acc * 31 + k) % 1_000_003
        ctx.emit("OUT", acc)


@ray.remote(num_cpus=0)
class Echo:
    def echo(self, x: object) -> object:
        return x


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def summary(us: list[float]) -> dict:
    return {"p50_us": round(pct(us, 0.5), 1), "p99_us": round(pct(us, 0.99), 1), "n": len(us)}


INTERLEAVE_BLOCK = 25  # calls per turn: the bridge and the bare actor calls take turns, so drift hits them all


def bare_calls(actor: Any, payload: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(actor.echo.remote(payload))
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def round_trips(payload: object, n: int, resources: dict) -> dict[str, list[float]]:
    """``n`` lock-step round trips through a bridge (driver -> PassThrough in a group -> driver), ``n`` bare actor
    calls (``echo.remote(x)``) and ``n`` to an actor that records no Ray task events (as the bridge's ``push`` and
    ``pull`` do not), taking turns in blocks of ``INTERLEAVE_BLOCK``: on a shared 2-core machine the actor call
    alone moves by 10 % between runs minutes apart, and the first calls of a block are slower than the rest
    (``docs/notes/2026-12-03-s9-issue-15.md``), so the order rotates and every side is sampled the same way across
    the same minutes.
    Returns us per side (``bridge``, ``actor``, ``actor_no_task_events``), without the first tenth of each."""
    actors: dict[str, Any] = {}
    graph = None
    times: dict[str, list[float]] = {}
    t = 0
    try:
        actors = {"actor": Echo.options(resources=resources).remote(),
                  "actor_no_task_events": Echo.options(resources=resources, enable_task_events=False).remote()}
        ray.get([a.echo.remote(0) for a in actors.values()])
        graph = ray_graph(HOP.replace("RESOURCES", json.dumps(resources)))
        done = threading.Semaphore(0)
        graph.observe("y", lambda p: done.release())
        graph.start()

        def hops(block: int) -> list[float]:
            nonlocal t
            out = []
            for _ in range(block):
                t0 = time.perf_counter()
                graph.add_packet("x", payload, t)
                if not done.acquire(timeout=30):
                    raise RuntimeError("a packet did not come back")
                out.append((time.perf_counter() - t0) * 1e6)
                t += 1
            return out

        sides = {"bridge": hops, **{k: lambda block, a=a: bare_calls(a, payload, block) for k, a in actors.items()}}
        times = {name: [] for name in sides}
        order = list(sides)
        while len(times["bridge"]) < n:
            block = min(INTERLEAVE_BLOCK, n - len(times["bridge"]))
            for name in order:
                times[name] += sides[name](block)
            order = order[1:] + order[:1]  # each side follows each other in turn (a block's start is slower)
        graph.wait_until_done(timeout=60)
    finally:
        if graph is not None:
            graph.cancel()
        for actor in actors.values():
            ray.kill(actor)
    return {k: v[max(1, n // 10):] for k, v in times.items()}


def compiled_round_trip(payload: object, n: int, resources: dict) -> list[float] | str:
    from ray.dag import InputNode

    actor = Echo.options(resources=resources).remote()
    ray.get(actor.echo.remote(0))
    try:
        with InputNode() as inp:
            dag = actor.echo.bind(inp)
        size = getattr(payload, "nbytes", 64) + 4096
        compiled = dag.experimental_compile(_buffer_size_bytes=max(1_000_000, size))
    except Exception as exc:  # noqa: BLE001 - reported in the JSON instead of a figure
        ray.kill(actor)
        return f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            ray.get(compiled.execute(payload))
            out.append((time.perf_counter() - t0) * 1e6)
    finally:
        compiled.teardown()
        ray.kill(actor)
    return out[max(1, n // 10):]


def latency_table(n: int, resources: dict) -> dict:
    result = {}
    for name, make in PAYLOADS.items():
        payload = make()
        us = round_trips(payload, n, resources)
        bridge, bare, quiet = summary(us["bridge"]), summary(us["actor"]), summary(us["actor_no_task_events"])
        compiled = compiled_round_trip(payload, n, resources)
        row = {"bridge_round_trip": bridge, "actor_call_round_trip": bare,
               "actor_call_no_task_events_round_trip": quiet,
               "compiled_graph_round_trip": compiled if isinstance(compiled, str) else summary(compiled),
               "bridge_over_actor_p50": round(bridge["p50_us"] / bare["p50_us"], 3),
               "bridge_over_actor_no_task_events_p50": round(bridge["p50_us"] / quiet["p50_us"], 3)}
        if not isinstance(compiled, str):
            row["bridge_over_compiled_p50"] = round(bridge["p50_us"] / row["compiled_graph_round_trip"]["p50_us"],
                                                    3)
        result[name] = row
        print(f"  {name}: bridge p50 {bridge['p50_us']} us, actor call p50 {bare['p50_us']} us "
              f"({quiet['p50_us']} us without task events)", file=sys.stderr)
    return result


def stream_rate(m: int) -> dict:
    graph = ray_graph(HOP.replace("RESOURCES", "{}"))
    got = []
    graph.observe("y", lambda p: got.append(1))
    graph.start()
    t0 = time.perf_counter()
    for t in range(m):
        graph.add_packet("x", t, t)
    graph.wait_until_done(timeout=120)
    wall = time.perf_counter() - t0
    edge = graph.stats()["bridges"]["x->far"]
    assert len(got) == m
    return {"packets": m, "wall_s": round(wall, 3), "packets_per_s": round(m / wall), "batches_into_group":
            edge["batches"], "packets_per_batch": round(m / max(1, edge["batches"]), 1)}


def _cpu_s(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.NoSuchProcess:
            out[name] = float("nan")
    return out


def _ray_processes() -> dict[str, int]:
    """Ray's own processes on this node (gcs, raylet, agents, idle workers), by name and pid."""
    node = ray._private.worker._global_node
    out = {}
    for kind, popen in node.live_processes():
        out[f"{kind}:{popen.pid}"] = popen.pid
        try:
            for child in psutil.Process(popen.pid).children(recursive=True):
                out[f"{kind}/{child.name()}:{child.pid}"] = child.pid
        except psutil.NoSuchProcess:
            continue
    return out


def _busy_s() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)


STEADY_FROM = 10  # the steady state starts at the output of frame frames // STEADY_FROM


def pipeline(frames: int, iterations: int, runs: int) -> dict:
    """Wall time, and where the CPU went: per process (driver, each stage's actor, Ray's own processes) and
    everything else on the machine (other users of a shared box) during the run. Also the steady state: the time
    per frame between the output of frame ``frames // STEADY_FROM`` and the last, which leaves out the pipeline's
    fill (the second stage waits for the first's first output, and over a bridge for its first batch: up to the
    bridge's linger, 40 ms) and drain; a camera pipeline spends nearly all its life there."""
    text = PIPELINE.replace("ITER", str(iterations))

    def run(make, grouped: bool) -> tuple[float, list[int], dict]:
        graph = make()
        out, at = [], []

        def seen(p) -> None:
            at.append(time.perf_counter())
            out.append(p.payload)

        graph.observe("y", seen)
        graph.start()
        pids = {"driver": os.getpid()}
        if grouped:
            pids.update({f"group {g}": info["pid"] for g, info in graph.stats()["groups"].items()})
            actors = set(pids.values())
            pids.update({k: pid for k, pid in _ray_processes().items() if pid not in actors})
        before, busy0 = _cpu_s(pids), _busy_s()
        t0 = time.perf_counter()
        for t in range(frames):
            graph.add_packet("x", t, t)
        graph.wait_until_done(timeout=600)
        wall = time.perf_counter() - t0
        after, busy = _cpu_s(pids), _busy_s() - busy0
        graph.cancel()
        used = {k: after[k] - before[k] for k in pids}
        ours = sum(v for v in used.values() if v == v)
        first = frames // STEADY_FROM
        steady_ms = (at[-1] - at[first]) / (frames - 1 - first) * 1e3
        cpu = {"wall_s": round(wall, 3), "steady_ms_per_frame": round(steady_ms, 3),
               "machine_busy_cores": round(busy / wall, 2),
               "ours_cores": round(ours / wall, 2), "others_cores": round(max(0.0, busy - ours) / wall, 2),
               "driver_cores": round(used["driver"] / wall, 2)}
        for k, v in used.items():
            if k.startswith("group "):
                cpu[f"{k}_cores"] = round(v / wall, 2)
        ray_own = sum(v for k, v in used.items() if ":" in k and v == v)
        if grouped:
            cpu["ray_processes_cores"] = round(ray_own / wall, 2)
        return wall, out, cpu

    threads, groups, cpu_threads, cpu_groups, ceiling = [], [], [], [], []
    for _ in range(runs):  # interleaved, so both see the same load on a shared machine
        wall, ref, cpu = run(lambda: Graph.from_yaml(text), False)
        threads.append(wall)
        cpu_threads.append(cpu)
        wall, got, cpu = run(lambda: ray_graph(text), True)
        groups.append(wall)
        cpu_groups.append(cpu)
        assert got == ref, "the two executors disagree"
        ceiling.append(two_process_ceiling(frames, iterations))
    t, g = statistics.median(threads), statistics.median(groups)
    steady_t, steady_g = (statistics.median(c["steady_ms_per_frame"] for c in runs_cpu)
                          for runs_cpu in (cpu_threads, cpu_groups))
    stage_ms = t / frames / 2 * 1e3
    return {"frames": frames, "iterations_per_stage": iterations, "stage_ms_approx": round(stage_ms, 2),
            "threads_wall_s": [round(x, 3) for x in threads], "ray_groups_wall_s": [round(x, 3) for x in groups],
            "threads_median_s": round(t, 3), "ray_groups_median_s": round(g, 3),
            "speedup_ray_over_threads": round(t / g, 3),
            "steady_state_speedup_ray_over_threads": round(steady_t / steady_g, 3),
            "steady_state_from_frame": frames // STEADY_FROM, "identical_outputs": True,
            "cpu_threads_runs": cpu_threads, "cpu_ray_groups_runs": cpu_groups,
            "machine_ceiling_two_plain_processes_runs": ceiling,
            "machine_ceiling_speedup_median": round(statistics.median(c["speedup"] for c in ceiling), 3)}


def _burn_frames(args: tuple[int, int]) -> float:
    frames, iterations = args
    t0 = time.process_time()
    for f in range(frames):
        acc = f
        for k in range(iterations):
            acc = (acc * 31 + k) % 1_000_003
    return time.process_time() - t0


def two_process_ceiling(frames: int, iterations: int) -> dict:
    """What this machine gives two GIL-bound processes right now (other users included): one stage's work in
    one process, then each stage's work in its own plain process at once (multiprocessing, no Ray, no
    graphflow). ``speedup`` is the most any two-process executor could reach against one thread."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    _burn_frames((frames, iterations))
    one = time.perf_counter() - t0
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_burn_frames, [(2, iterations)] * 2)  # both processes up
        t0 = time.perf_counter()
        cpu = pool.map(_burn_frames, [(frames, iterations)] * 2)
        two = time.perf_counter() - t0
    return {"one_stage_one_process_s": round(one, 3), "two_stages_two_processes_s": round(two, 3),
            "cpu_s_each": [round(c, 3) for c in cpu], "speedup": round(2 * one / two, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hops", type=int, default=300, help="lock-step round trips per payload")
    ap.add_argument("--stream", type=int, default=20000, help="int packets for the throughput run")
    ap.add_argument("--frames", type=int, default=1000, help="frames per pipeline run (a short run is mostly fill)")
    ap.add_argument("--iterations", type=int, default=40000, help="Burn rounds per stage and frame")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cluster", action="store_true", help="also measure across simulated nodes")
    ap.add_argument("--only", default="latency,stream,pipeline",
                    help="comma-separated parts to run: latency, stream, pipeline (and --cluster)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    parts = set(args.only.split(","))

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=512 * 2**20)
    result = {
        "benchmark": "ray_executor", "ray": ray.__version__, "python": platform.python_version(),
        "nproc": os.cpu_count(), "cpu": _cpu_model(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "argv": sys.argv[1:],
    }
    if "latency" in parts:
        print("one node: latency", file=sys.stderr)
        result["same_node"] = latency_table(args.hops, {})
    if "stream" in parts:
        print("one node: stream", file=sys.stderr)
        result["int_stream_across_bridge"] = stream_rate(args.stream)
    if "pipeline" in parts:
        print("GIL-bound pipeline", file=sys.stderr)
        result["gil_bound_two_stage_pipeline"] = pipeline(args.frames, args.iterations, args.runs)
    ray.shutdown()
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.cluster:
        from ray.cluster_utils import Cluster

        print("simulated nodes: latency", file=sys.stderr)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1, resources={"far_host": 1})
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            result["across_nodes"] = latency_table(max(50, args.hops // 3), {"far_host": 0.01})
        finally:
            ray.shutdown()
            cluster.shutdown()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
