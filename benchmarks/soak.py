"""Soak: long runs that must keep their throughput and their memory.

1. ``engine``: a 10-node graph with mixed queue and input policies (block, drop_oldest, latest_only; default and
   immediate; a FlowLimiter and a PreviousLoopback with back edges) runs ``--packets`` packets (default 1,000,000)
   from a source node. Sampled every ``--every`` seconds: source packets/s in that window and resident memory
   (VmRSS). At the end, every packet is accounted for from ``stats()`` alone (received = processed + dropped +
   queued for each single-input node) and the RSS growth after warm-up is reported.
2. ``hands``: ``graphs/hand_tracking.yaml`` on the shared test video, looped, for ``--hand-seconds`` (default 600):
   frames/s and RSS over time, the same way.

    nice python benchmarks/soak.py                       # both (about 15 minutes on 2 cores)
    nice python benchmarks/soak.py --only engine --packets 200000
    nice python benchmarks/soak.py --only hands --hand-seconds 120

Prints JSON (and writes it with --json PATH). Not part of the CI suite; no timing assertions anywhere.
"""

from __future__ import annotations

import argparse
import gc
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphflow import Calculator, Context, Graph, Input, Output, StopSource, register_calculator  # noqa: E402

VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
HAND_GRAPH = ROOT / "graphs" / "hand_tracking.yaml"


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


@register_calculator("SoakSource")
class SoakSource(Calculator):
    """Emits 0..count-1 at timestamps 0..count-1 us.

    Outputs: OUT - int
    Options: count
    """

    OUT = Output(int)
    timestamp_offset = None

    @dataclass
    class Options:
        count: int = 1_000_000

    def open(self, ctx: Context) -> None:
        self.i = 0

    def process(self, ctx: Context) -> None:
        if self.i >= self.options.count:
            raise StopSource
        ctx.emit("OUT", self.i, self.i)
        self.i += 1


@register_calculator("SoakAffine")
class SoakAffine(Calculator):
    """OUT = IN * scale + offset (a stand-in for per-packet work).

    Inputs: IN - int;  Outputs: OUT - int;  Options: scale, offset
    """

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        scale: int = 1
        offset: int = 0

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN") * self.options.scale + self.options.offset)


@register_calculator("SoakSum")
class SoakSum(Calculator):
    """Sum of whichever inputs carry a packet at this timestamp (emits nothing when all are empty).

    Inputs: IN - int (one or more streams);  Outputs: OUT - int
    """

    IN = Input(int, multiple=True)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        values = [v for v in ctx.get("IN") if v is not None]
        if values:
            ctx.emit("OUT", sum(values))


@register_calculator("SoakMerge")
class SoakMerge(Calculator):
    """Immediate-policy merge: forwards whichever input arrives, if it is newer than the last packet forwarded;
    older ones are counted as ``late`` (the two inputs run at different speeds).

    Inputs: IN - int (one or more streams);  Outputs: OUT - int;  Counters: late
    """

    IN = Input(int, multiple=True)
    OUT = Output(int)
    input_policy = "immediate"
    timestamp_offset = None

    def open(self, ctx: Context) -> None:
        self.last = -1

    def process(self, ctx: Context) -> None:
        values = [v for v in ctx.get("IN") if v is not None]
        if not values:
            return
        ts = int(ctx.timestamp)
        if ts <= self.last:
            ctx.count("late", len(values))
            return
        self.last = ts
        ctx.emit("OUT", sum(values))


@register_calculator("SoakSink")
class SoakSink(Calculator):
    """Counts and checksums what arrives on IN and PREV; emits one packet per IN packet (for the back edges).

    Inputs: IN - int; PREV - int (optional);  Outputs: DONE - int;  Counters: sunk, prev_seen
    """

    IN = Input(int)
    PREV = Input(int, optional=True)
    DONE = Output(int)

    def open(self, ctx: Context) -> None:
        self.checksum = 0

    def process(self, ctx: Context) -> None:
        value = ctx.get("IN")
        if ctx.has("PREV"):
            ctx.count("prev_seen")
        if value is not None:
            self.checksum = (self.checksum * 31 + value) % 1_000_000_007
            ctx.count("sunk")
            ctx.emit("DONE", value)


ENGINE_GRAPH = """
# Ten nodes, every queue and input policy the engine has, two back edges; see the module docstring.
nodes:
  # The clock: COUNT packets as fast as the graph accepts them.
  - {name: source, calculator: SoakSource, outputs: {OUT: numbers}, options: {count: COUNT}}
  # Admits up to 8 packets in flight; the rest are dropped and counted (back edge from the sink).
  - name: limiter
    calculator: FlowLimiter
    inputs: {IN: numbers, FINISHED: {stream: done, back_edge: true}}
    outputs: {OUT: admitted}
    options: {max_in_flight: 8}
  # Lossless branch: bounded blocking queue (back-pressure).
  - {name: scale, calculator: SoakAffine, inputs: {IN: {stream: numbers, queue_size: 16, queue_policy: block}},
     outputs: {OUT: scaled}, options: {scale: 3}}
  # A second lossless stage.
  - {name: shift, calculator: SoakAffine, inputs: {IN: scaled}, outputs: {OUT: shifted}, options: {offset: 7}}
  # Lossy branch: the oldest packet goes when 4 wait.
  - {name: lossy, calculator: SoakAffine, inputs: {IN: {stream: numbers, queue_size: 4, queue_policy: drop_oldest}},
     outputs: {OUT: lossy_out}, options: {scale: 2}}
  # Newest-only branch.
  - {name: newest, calculator: SoakAffine, inputs: {IN: {stream: admitted, queue_policy: latest_only}},
     outputs: {OUT: newest_out}}
  # Timestamp-synchronised join of the lossless and lossy branches (lossy timestamps arrive empty).
  - {name: join, calculator: SoakSum, inputs: {IN: [shifted, lossy_out]}, outputs: {OUT: joined}}
  # Immediate-policy merge: whatever arrives first.
  - {name: merge, calculator: SoakMerge, inputs: {IN: [joined, newest_out]}, outputs: {OUT: merged}}
  # Last timestamp's sink output, fed back (tracking-loop shape).
  - name: loop
    calculator: PreviousLoopback
    inputs: {MAIN: joined, LOOP: {stream: done, back_edge: true}}
    outputs: {PREV_LOOP: previous}
  # Counts, checksums, and closes both loops.
  - {name: sink, calculator: SoakSink, inputs: {IN: joined, PREV: previous}, outputs: {DONE: done}}
"""


class Sampler:
    """Samples ``count()`` and RSS every ``every`` seconds on a thread until stopped."""

    def __init__(self, count: Any, every: float, total: int | None, label: str) -> None:
        self.count, self.every = count, every
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=label, unit="pkt" if total else "s", file=sys.stderr, mininterval=2.0)

    def _loop(self) -> None:
        t0 = time.perf_counter()
        last_t, last_n = t0, 0
        while not self._stop.wait(self.every):
            now, n = time.perf_counter(), self.count()
            self.samples.append({"t_s": round(now - t0, 2), "count": n,
                                 "rate_per_s": round((n - last_n) / max(1e-9, now - last_t), 1),
                                 "rss_mb": round(rss_mb(), 1)})
            self._bar.update(n - last_n if self._bar.total else round(now - last_t))
            last_t, last_n = now, n

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._bar.close()


def summarise(samples: list[dict[str, float]], warmup_fraction: float = 0.1) -> dict[str, Any]:
    """Throughput and RSS over time; growth measured from the end of warm-up to the end."""
    if not samples:
        return {}
    steady = samples[max(1, int(len(samples) * warmup_fraction)):] or samples
    rates = [s["rate_per_s"] for s in steady]
    thirds = [steady[i * len(steady) // 3:(i + 1) * len(steady) // 3] or steady for i in range(3)]
    return {
        "rate_median_per_s": round(statistics.median(rates), 1),
        "rate_by_third_per_s": [round(statistics.median([s["rate_per_s"] for s in part]), 1) for part in thirds],
        "rss_after_warmup_mb": steady[0]["rss_mb"],
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "rss_growth_after_warmup_mb": round(samples[-1]["rss_mb"] - steady[0]["rss_mb"], 1),
    }


def accounting(stats: dict[str, Any]) -> dict[str, Any]:
    """Per single-input node: received == processed + dropped + queued; per stream: each consumer got them all."""
    rows, ok = {}, True
    for name, node in stats["nodes"].items():
        for q in node["inputs"].values():
            ok &= q["received"] == stats["streams"][q["stream"]]["packets"]
        if len(node["inputs"]) == 1:
            (q,) = node["inputs"].values()
            rows[name] = {"received": q["received"], "processed": node["process_calls"], "dropped": q["drops"],
                          "queued": q["depth"]}
            ok &= q["received"] == node["process_calls"] + q["drops"] + q["depth"]
    limiter = stats["nodes"].get("limiter")
    if limiter is not None:  # the FlowLimiter: every source packet was admitted or dropped (counted)
        admitted = stats["streams"]["admitted"]["packets"]
        dropped = limiter["counters"].get("dropped_frames", 0)
        rows["limiter"] = {"received": limiter["inputs"]["IN"]["received"], "admitted": admitted, "dropped": dropped}
        ok &= limiter["inputs"]["IN"]["received"] == admitted + dropped
    return {"balanced": bool(ok), "single_input_nodes": rows}


def queue_report(stats: dict[str, Any]) -> dict[str, Any]:
    """Per input queue: its size and policy, the most it ever held, packets let in above its size by a deadlock
    relief (overflows) and packets its policy dropped: back-pressure that held shows high_water <= queue_size and
    no overflows."""
    return {f"{name}.{tag}": {k: q[k] for k in ("stream", "queue_size", "queue_policy", "high_water", "overflows",
                                                "drops")}
            for name, node in stats["nodes"].items() for tag, q in node["inputs"].items()}


def soak_engine(packets: int, every: float, executor: str) -> dict[str, Any]:
    graph = Graph.from_yaml(ENGINE_GRAPH.replace("COUNT", str(packets)), executor=executor)
    rss_start = rss_mb()
    t0 = time.perf_counter()
    with Sampler(lambda: graph.stats()["streams"]["numbers"]["packets"], every, packets,
                 f"engine soak ({executor})") as sampler:
        stats = graph.run(timeout=None)
    wall = time.perf_counter() - t0
    gc.collect()
    nodes = stats["nodes"]
    return {
        "packets": packets,
        "executor": executor,
        "wall_s": round(wall, 1),
        "packets_per_s": round(packets / wall, 1),
        "rss_start_mb": round(rss_start, 1),
        **summarise(sampler.samples),
        "drops_total": stats["drops_total"],
        "deadlock_reliefs": stats["deadlock_reliefs"],
        "queues": queue_report(stats),
        "process_calls": {name: n["process_calls"] for name, n in nodes.items()},
        "counters": {name: n["counters"] for name, n in nodes.items() if n["counters"]},
        "accounting": accounting(stats),
        "samples": sampler.samples,
    }


def soak_hands(seconds: float, every: float, model_complexity: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    import calculators.io  # noqa: F401 - VideoSource

    wrapper = {
        "input_side_packets": ["stop"],
        "output_streams": ["hands"],
        "nodes": [
            {"name": "source", "calculator": "VideoSource", "outputs": {"IMAGE": "frames"},
             "side_inputs": {"STOP": "stop"}, "options": {"input": str(VIDEO), "loop": True}},
            {"name": "app", "subgraph": str(HAND_GRAPH), "inputs": {"image": "frames"}, "outputs": {"hands": "hands"},
             "options": {"model_complexity": model_complexity}},
        ],
    }
    graph = Graph.from_yaml(wrapper)
    frames = [0]
    hands_seen = [0]

    def on_hands(packet: Any) -> None:
        frames[0] += 1
        hands_seen[0] += len(packet.payload)

    graph.observe("hands", on_hands)
    stop = threading.Event()
    rss_start = rss_mb()
    t0 = time.perf_counter()
    with Sampler(lambda: frames[0], every, None, f"hand graph soak ({seconds:.0f} s)") as sampler:
        graph.start({"stop": stop})
        time.sleep(seconds)
        stop.set()
        graph.wait_until_done(timeout=120)
    wall = time.perf_counter() - t0
    stats = graph.stats()
    return {
        "seconds": round(wall, 1),
        "model_complexity": model_complexity,
        "frames": frames[0],
        "frames_per_s": round(frames[0] / wall, 2),
        "video_loops": round(frames[0] / 202, 1),
        "hands_per_frame": round(hands_seen[0] / max(1, frames[0]), 3),
        "rss_start_mb": round(rss_start, 1),
        **summarise(sampler.samples),
        "source_counters": stats["nodes"]["source"]["counters"],
        "queues": queue_report(stats),
        "drops_total": stats["drops_total"],
        "samples": sampler.samples,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["engine", "hands"])
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--executor", choices=["threads", "inline"], default="threads")
    p.add_argument("--hand-seconds", type=float, default=600.0)
    p.add_argument("--model-complexity", type=int, default=1)
    p.add_argument("--every", type=float, default=5.0, help="sampling period, seconds")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.only in (None, "engine"):
        out["engine"] = soak_engine(args.packets, args.every, args.executor)
    if args.only in (None, "hands"):
        out["hands"] = soak_hands(args.hand_seconds, args.every, args.model_complexity)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
