"""Recording and replay costs for 640x480 frames at a sustained 30 fps (the shared test video, resized).

For each variant (raw RGB images as foxglove.RawImage with zstd / lz4 chunk compression, JPEG as
foxglove.CompressedImage), frames are fed at 30 fps into ``image -> PassThrough -> out`` for ``--seconds``, with the
``image`` stream recorded; the baseline is the same run without a recorder, in the same process:

- overhead: the recorder thread's own CPU ms per frame (encode, compress, write: measured with its thread CPU
  clock) and the share of one core that is at 30 fps; process CPU ms per frame minus the baseline's; end-to-end latency
  (add_packet -> the output's observer) p50 with and without recording; drops (should be 0 at 30 fps);
- file size per minute of recording (bytes on disk / recorded duration * 60);
- replay: frames/s decoding the recording (``Recording.packets``) and feeding a PassThrough graph as fast as
  possible (``drive(speed=0)``, start and drain included).

    flock /tmp/bench.lock python benchmarks/record_replay.py [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import calculators.record  # noqa: E402,F401 - payload types, jpeg
from calculators.io.frame_reader import FrameReader  # noqa: E402
from graphflow import Graph  # noqa: E402
from graphflow.record import Recorder, Recording, drive, replay_graph_kwargs  # noqa: E402

VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
WIDTH, HEIGHT, FPS = 640, 480, 30.0
PASS_GRAPH = {"input_streams": ["image"], "output_streams": ["out"], "nodes": [
    {"calculator": "PassThrough", "inputs": {"IN": "image"}, "outputs": {"OUT": "out"}}]}
VARIANTS = {"raw_zstd": {"image_encoding": "raw_image", "compression": "zstd"},
            "raw_lz4": {"image_encoding": "raw_image", "compression": "lz4"},
            "jpeg_zstd": {"image_encoding": "jpeg", "compression": "zstd"}}


def load_frames() -> list[np.ndarray]:
    frames = [f.image for f in FrameReader(str(VIDEO))]
    return [cv2.resize(f, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR) for f in frames]


def live_run(frames: list[np.ndarray], n: int, path: Path | None, options: dict) -> dict:
    """Feed n frames at FPS (cycling the clip); record 'image' to path when given."""
    graph = Graph.from_yaml(PASS_GRAPH)
    sent: dict[int, float] = {}
    latency: list[float] = []
    graph.observe("out", lambda p: latency.append(time.perf_counter() - sent[p.timestamp.microseconds]))
    recorder = Recorder(graph, path, streams=["image"], **options) if path is not None else None
    graph.start()
    period = 1.0 / FPS
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        due = t0 + i * period
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ts = round(i * period * 1e6)
        sent[ts] = time.perf_counter()
        graph.add_packet("image", frames[i % len(frames)], ts)
    graph.close()
    writer_cpu = None
    if recorder is not None:
        while recorder.stats()["queue_depth"]:
            time.sleep(0.01)
        time.sleep(0.05)  # the last packet's write
        writer_cpu = time.clock_gettime(time.pthread_getcpuclockid(recorder.writer._thread.ident))
    stats = recorder.close() if recorder is not None else None
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    out = {"frames": n, "wall_s": round(wall, 3), "cpu_ms_per_frame": round(cpu / n * 1e3, 3),
           "latency_p50_ms": round(statistics.median(latency) * 1e3, 3),
           "latency_p95_ms": round(sorted(latency)[int(0.95 * (len(latency) - 1))] * 1e3, 3)}
    if stats is not None:
        out["writer_thread_cpu_ms_per_frame"] = round(writer_cpu / n * 1e3, 3)
        out["writer_thread_core_share_at_30fps"] = round(writer_cpu / n * FPS, 3)
        out["drops"] = stats["drops_total"]
        out["file_bytes"] = path.stat().st_size
        out["mb_per_minute"] = round(path.stat().st_size / 1e6 / (n / FPS) * 60, 1)
    return out


def replay_run(path: Path, n: int) -> dict:
    t0 = time.perf_counter()
    count = sum(1 for _ in Recording(path).packets(["image"], bounds=False))
    decode_s = time.perf_counter() - t0
    graph = Graph.from_yaml(PASS_GRAPH, **replay_graph_kwargs(0.0))
    got = []
    graph.observe("out", lambda p: got.append(p.timestamp))
    t0 = time.perf_counter()
    graph.start()
    drive(graph, Recording(path), speed=0.0)
    graph.close()
    drive_s = time.perf_counter() - t0
    assert count == n == len(got), (count, n, len(got))
    return {"decode_fps": round(n / decode_s, 1), "replay_into_graph_fps": round(n / drive_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="recorded seconds per variant (at 30 fps)")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    frames = load_frames()
    n = int(args.seconds * FPS)
    results: dict = {"box": {"nproc": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                             "python": platform.python_version()},
                     "frame": [HEIGHT, WIDTH, 3], "fps": FPS, "frames_per_run": n, "variants": {}}
    with open("/proc/cpuinfo") as f:
        model = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    results["box"]["cpu"] = model[0] if model else results["box"]["cpu"]
    live_run(frames, int(FPS), None, {})  # warm-up
    base = live_run(frames, n, None, {})
    results["baseline_no_recorder"] = base
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in VARIANTS.items():
            path = Path(tmp) / f"{name}.mcap"
            rec = live_run(frames, n, path, options)
            rec["overhead_cpu_ms_per_frame"] = round(rec["cpu_ms_per_frame"] - base["cpu_ms_per_frame"], 3)
            rec["cpu_ratio_vs_baseline"] = round(rec["cpu_ms_per_frame"] / base["cpu_ms_per_frame"], 2)
            rec["latency_p50_ratio_vs_baseline"] = round(rec["latency_p50_ms"] / base["latency_p50_ms"], 2)
            rec["replay"] = replay_run(path, n)
            results["variants"][name] = rec
            print(f"{name}: {rec}", file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
