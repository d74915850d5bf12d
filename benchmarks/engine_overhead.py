"""Engine overhead: graph input -> N PassThrough nodes -> graph output, driven from Python.

Set up like MediaPipe's anchor (../shared/anchors/mediapipe_engine_bench.py, and
../shared/reference/engine_anchors.md section 3d): M int packets with explicit timestamps fed by the caller with
``add_packet``, queues of 100 with ``block``, outputs observed by a callback; wall time from the first add until
``wait_until_done`` returns; median of ``--runs`` runs. Reported per mode (``threads``: the default, where
``add_packet`` runs light nodes in the caller's thread while no worker is busy; ``threads_workers_only``:
``caller_runs=False``; ``inline``):
packets/s, us/packet, average us/hop, marginal us/hop (N=1->10, N=1->50), lock-step round trip p50/p99 (add one
packet, wait for it on a poller), a 640x480x3 numpy payload passed by reference (must stay flat across N) and copied
at ingress, and a drop_oldest variant with its drop count.

    python benchmarks/engine_overhead.py                 # ours only
    python benchmarks/engine_overhead.py --anchor        # + MediaPipe 0.10.21 before and after ours, with ratios

Prints JSON (and writes it with --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typing import Any  # noqa: E402

from graphflow import Calculator, Context, Graph, Input, Output, Packet, register_calculator  # noqa: E402


@register_calculator("UserPassThrough")
class UserPassThrough(Calculator):
    """A pass-through written as a user would write it: read the input's payload, emit it (a new packet).

    Inputs:  IN - Any
    Outputs: OUT - Any
    """

    IN = Input(Any)
    OUT = Output(Any)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN"))


CALCULATOR = "PassThrough"  # the chain's node; main() runs the built-in one and UserPassThrough


def chain_yaml(n: int, queue_size: int = 100, policy: str = "block") -> str:
    lines = ["input_streams: [in]", "output_streams: [out]", f"queue_size: {queue_size}", f"queue_policy: {policy}",
             "nodes:"]
    prev = "in"
    for i in range(n):
        out = "out" if i == n - 1 else f"s{i}"
        lines.append(f"  - {{name: p{i}, calculator: {CALCULATOR}, inputs: {{IN: {prev}}}, outputs: {{OUT: {out}}}}}")
        prev = out
    return "\n".join(lines) + "\n"


# How the graph runs: the default threads executor (add_packet runs light nodes in the caller's thread while no
# worker is busy), the same with every node on the workers, and the inline executor.
MODES = {"threads": {"executor": "threads"}, "threads_workers_only": {"executor": "threads", "caller_runs": False},
         "inline": {"executor": "inline"}}


def throughput(n: int, m: int, mode: str, payload: object = None, copy: bool = False,
               policy: str = "block") -> dict:
    graph = Graph.from_yaml(chain_yaml(n, policy=policy), **MODES[mode])
    received = [0]

    def on_out(packet: object) -> None:
        received[0] += 1

    graph.observe("out", on_out)
    graph.start()
    add = graph.add_packet
    t0 = time.perf_counter()
    if payload is None:
        for i in range(m):
            add("in", i, i)
    elif copy:
        for i in range(m):
            add("in", np.array(payload), i)
    else:
        for i in range(m):
            add("in", payload, i)
    graph.wait_until_done(timeout=600)
    wall = time.perf_counter() - t0
    stats = graph.stats()
    drops = stats["drops_total"]
    if policy == "block":
        assert received[0] == m and drops == 0, (received[0], drops)
    return {"n": n, "m": m, "wall_s": wall, "pkts_per_s": m / wall, "us_per_pkt": wall / m * 1e6,
            "us_per_hop_avg": wall / (m * n) * 1e6, "received": received[0], "drops": drops}


def lockstep(n: int, k: int, mode: str) -> dict:
    graph = Graph.from_yaml(chain_yaml(n), **MODES[mode])
    poller = graph.poller("out")
    graph.start()
    lat = []
    for i in range(k):
        t0 = time.perf_counter()
        graph.add_packet("in", i, i)
        packet = poller.next(timeout=10)
        lat.append((time.perf_counter() - t0) * 1e6)
        assert packet is not None and packet.payload == i
    graph.close()
    lat.sort()
    warm = lat[len(lat) // 20:] if len(lat) > 100 else lat
    warm.sort()
    return {"n": n, "k": k, "p50_us": warm[len(warm) // 2], "p99_us": warm[int(len(warm) * 0.99)]}


class _FloorContext:
    """The least a context can do for ``UserPassThrough``: hand over the input, make the output packet."""

    __slots__ = ("packet", "out")

    def __init__(self) -> None:
        self.packet: Any = None
        self.out: Any = None

    def get(self, tag: str) -> Any:
        return self.packet._payload

    def emit(self, tag: str, payload: Any) -> None:
        p = object.__new__(Packet)
        p._payload = payload
        p._timestamp = self.packet._timestamp
        self.out = p


def python_floor(n: int, m: int) -> dict:
    """The Python floor of a hop, without any engine: ``m`` packets through ``n`` UserPassThrough calls, each
    with its input handed over and a new packet made (no queues, no locks, no stats, no timing). No engine
    written in Python can pass a packet along a chain faster than this on the same machine."""
    calcs = [UserPassThrough() for _ in range(n)]
    ctx = _FloorContext()
    packets = [Packet(i, i) for i in range(m)]
    t0 = time.perf_counter()
    for p in packets:
        for calc in calcs:
            ctx.packet = p
            calc.process(ctx)  # type: ignore[arg-type]
            p = ctx.out
    wall = time.perf_counter() - t0
    return {"n": n, "m": m, "wall_s": wall, "us_per_hop": wall / (m * n) * 1e6}


def median_run(fn, runs: int) -> dict:
    results = [fn() for _ in range(runs)]
    results.sort(key=lambda r: r["wall_s"])
    best = dict(results[len(results) // 2])
    best["runs_wall_s"] = [round(r["wall_s"], 4) for r in results]
    return best


def run_anchor_raw(runs: int, m: int) -> dict | None:
    """One run of MediaPipe's engine benchmark in its own venv: its raw JSON (None without the anchor script)."""
    script = ROOT.parent / "shared" / "anchors" / "mediapipe_engine_bench.py"
    venv = ROOT.parent / "shared" / "anchors" / "mp-venv.sh"
    if not script.exists():
        return None
    py = subprocess.run(["bash", str(venv)], capture_output=True, text=True, timeout=900).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mp.json"
        proc = subprocess.run([py, str(script), "--n", "1", "10", "--runs", str(runs), "--m", str(m),
                               "--json", str(out)], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            return {"error": proc.stderr[-2000:]}
        return json.loads(out.read_text())


def summarize_anchor(raws: list[dict], m: int) -> dict:
    """MediaPipe's figures over the runs before and after ours: median wall time per N, mean lock-step p50/p99."""
    summary: dict = {"env": raws[0]["env"], "runs": len(raws)}
    walls: dict[str, list[float]] = {}
    lock: dict[str, list[tuple[float, float]]] = {}
    for raw in raws:
        for r in raw["runs"]:
            if r["variant"] == "default":
                walls.setdefault(f"N={r['n']}", []).append(r["wall_s"])
        for r in raw.get("lockstep_latency", []):
            lock.setdefault(f"N={r['n']}", []).append((r["p50_us"], r["p99_us"]))
    summary["default"] = {k: {"pkts_per_s": m / statistics.median(v), "us_per_pkt": statistics.median(v) / m * 1e6,
                              "runs_wall_s": [round(x, 4) for x in v]} for k, v in walls.items()}
    summary["lockstep"] = {k: {"p50_us": statistics.fmean(p for p, _ in v), "p99_us": statistics.fmean(q for _, q in v),
                               "runs_p50_us": [round(p, 1) for p, _ in v]} for k, v in lock.items()}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--lockstep-k", type=int, default=2000)
    ap.add_argument("--image-m", type=int, default=2000)
    ap.add_argument("--anchor", action="store_true", help="also run MediaPipe 0.10.21 (its own venv) for ratios")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    report: dict = {
        "env": {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
                "loadavg_start": os.getloadavg()},
        "setup": {"m": args.m, "runs": args.runs, "queue_size": 100, "queue_policy": "block", "observer": "callback"},
        "executors": {},
    }
    anchor_raws = []
    if args.anchor:  # MediaPipe before and after ours: the box's load drifts during a run
        anchor_raws.append(run_anchor_raw(args.runs, args.m))
    frame = np.zeros((480, 640, 3), np.uint8)
    global CALCULATOR
    for executor in MODES:
        res: dict = {"throughput": {}, "lockstep": {}, "image_by_reference": {}, "image_copied": {},
                     "user_passthrough": {"throughput": {}, "lockstep": {}}}
        CALCULATOR = "UserPassThrough"
        for n in (1, 10):
            res["user_passthrough"]["throughput"][f"N={n}"] = median_run(
                lambda n=n, ex=executor: throughput(n, args.m, ex), args.runs)
            res["user_passthrough"]["lockstep"][f"N={n}"] = lockstep(n, args.lockstep_k, executor)
            print(f"[{executor}] user pass-through N={n}: "
                  f"{res['user_passthrough']['throughput'][f'N={n}']['pkts_per_s']:.0f} pkt/s", file=sys.stderr)
        CALCULATOR = "PassThrough"
        for n in args.n:
            res["throughput"][f"N={n}"] = median_run(lambda n=n, ex=executor: throughput(n, args.m, ex), args.runs)
            print(f"[{executor}] N={n}: {res['throughput'][f'N={n}']['pkts_per_s']:.0f} pkt/s", file=sys.stderr)
        t = {n: res["throughput"][f"N={n}"]["wall_s"] for n in args.n}
        lo = min(args.n)
        res["marginal_us_per_hop"] = {f"N={lo}->{n}": (t[n] - t[lo]) / (args.m * (n - lo)) * 1e6
                                      for n in args.n if n != lo}
        for n in (1, 10):
            res["lockstep"][f"N={n}"] = lockstep(n, args.lockstep_k, executor)
        for n in args.n:
            res["image_by_reference"][f"N={n}"] = median_run(
                lambda n=n, ex=executor: throughput(n, args.image_m, ex, payload=frame), args.runs)["us_per_pkt"]
            copied = median_run(lambda n=n, ex=executor: throughput(n, args.image_m, ex, payload=frame, copy=True),
                                args.runs)
            res["image_copied"][f"N={n}"] = copied["us_per_pkt"]
        drop = throughput(10, args.m, executor, policy="drop_oldest")
        res["drop_oldest_N=10"] = {"pkts_per_s": drop["pkts_per_s"], "received": drop["received"],
                                   "drops": drop["drops"], "accounted": drop["received"] + drop["drops"] == args.m}
        report["executors"][executor] = res
    floor = median_run(lambda: python_floor(10, args.m), args.runs)
    report["python_floor_N=10"] = {"us_per_hop": floor["us_per_hop"],
                                   "pkts_per_s_bound": 1e6 / (floor["us_per_hop"] * 10),
                                   "note": "no engine in Python passes a packet along 10 hops faster than this"}

    if args.anchor:
        anchor_raws.append(run_anchor_raw(args.runs, args.m))
        good = [r for r in anchor_raws if r and "error" not in r]
        anchor = (summarize_anchor(good, args.m) if good
                  else next((r for r in anchor_raws if r), None))
        report["mediapipe_0_10_21"] = anchor
        if anchor and "default" in anchor:
            ours = report["executors"]
            ratios = {}
            for ex in ours:
                for n in (1, 10):
                    key = f"N={n}"
                    if key in anchor["default"] and key in ours[ex]["throughput"]:
                        ratios[f"{ex}_throughput_{key}_x_mediapipe"] = (
                            ours[ex]["throughput"][key]["pkts_per_s"] / anchor["default"][key]["pkts_per_s"])
                    if key in anchor.get("lockstep", {}):
                        ratios[f"{ex}_lockstep_p50_{key}_over_mediapipe"] = (
                            ours[ex]["lockstep"][key]["p50_us"] / anchor["lockstep"][key]["p50_us"])
                    user = ours[ex]["user_passthrough"]
                    if key in anchor["default"]:
                        ratios[f"{ex}_user_passthrough_throughput_{key}_x_mediapipe"] = (
                            user["throughput"][key]["pkts_per_s"] / anchor["default"][key]["pkts_per_s"])
                    if key in anchor.get("lockstep", {}):
                        ratios[f"{ex}_user_passthrough_lockstep_p50_{key}_over_mediapipe"] = (
                            user["lockstep"][key]["p50_us"] / anchor["lockstep"][key]["p50_us"])
            mp10 = anchor["default"].get("N=10", {}).get("pkts_per_s")
            if mp10:
                ratios["python_floor_N=10_bound_x_mediapipe"] = report["python_floor_N=10"]["pkts_per_s_bound"] / mp10
            report["ratios"] = ratios
            report["goal"] = "throughput at N=10 >= 4x MediaPipe; lock-step p50 <= 0.5x MediaPipe"
    report["env"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
