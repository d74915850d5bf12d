"""End-to-end hand tracking speed: ``Hands.process()`` per frame, ours vs MediaPipe 0.10.21 in the same session.

Set up like MediaPipe's anchor (``../shared/anchors/mediapipe_hands_bench.py``): the shared 640x360 video (202
frames, one hand) and the same video resized to 1280x720 (``benchmarks/hand_clips.py``) in tracking mode, and the
23 shared images in static mode, for model complexity 0 and 1 and max_num_hands 1 and 2. Each configuration: one
warm-up call, ``reset()``, then every frame timed with ``perf_counter`` around ``process()``; repeated ``--runs``
times, reporting the median over runs of the per-run median / p95 ms and fps = 1000 / median (per-frame latency,
one frame in flight, as MediaPipe's ``process()``) and throughput_fps = frames / wall time of a whole pass over
the file (median over runs; every frame's time, so it also carries the slow frames).

    python benchmarks/hand_tracking.py --anchor                       # default backend + MediaPipe, ratio table
    python benchmarks/hand_tracking.py --backends openvino onnxruntime torch --anchor

Per configuration the JSON also has a per-stage breakdown: each graph node's median latency from the engine's
stats (last run), their sum, and the rest of the frame time (``engine_and_facade_ms``: scheduling, packet
delivery, the facade's poller; the lead's engine concern, issue 10). With the palm call in flight during the
tracked landmark pass, ``palm_detection/palm_model`` is the cost of starting it and ``palm_detection/palm_decode``
includes what was left to wait for. The thread budget is written out: each network runs on ``--num-threads``
threads of its own runtime (1 = MediaPipe's setup), OpenCV on 1, everything else on the calling thread.
MediaPipe decodes the 1280x720 clip from an mp4 written into ``$GRAPHFLOW_HOME/bench``
(its own OpenCV; speed only, the agreement tests use frames decoded here). MediaPipe runs before and after ours;
its figure per cell is the mean of the two (a shared box's load drifts). Prints JSON (and writes --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hand_clips import IMAGES, VIDEO, clip_720p, image_frames, video_frames, write_video  # noqa: E402
from calculators.hands.backends import BACKENDS, DEFAULT_BACKEND  # noqa: E402
from calculators.model_store import home  # noqa: E402
from calculators.solutions import Hands  # noqa: E402

ANCHORS = ROOT / ".." / "shared" / "anchors"
STAGES = ("previous_rois", "palm_gate", "palm_detection/palm_input", "palm_detection/palm_model",
          "tracked_landmark/hand_input", "tracked_landmark/hand_model", "tracked_landmark/hand_decode",
          "palm_detection/palm_decode", "palm_rois", "association", "hand_landmark/hand_input",
          "hand_landmark/hand_model", "hand_landmark/hand_decode", "merge_hands", "landmark_rois", "smoothing",
          "gestures")
INPUTS = ("video_640x360", "video_1280x720", "images")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def one_run(hands: Hands, frames: list[np.ndarray], bar: tqdm) -> tuple[list[float], int]:
    times, with_hands = [], 0
    for rgb in frames:
        t0 = time.perf_counter()
        result = hands.process(rgb)
        times.append(1000.0 * (time.perf_counter() - t0))
        with_hands += bool(result.hands)
        bar.update(1)
    return times, with_hands


def stage_breakdown(nodes: dict[str, Any], frames: int, frame_ms_mean: float) -> dict[str, Any]:
    """Per node (engine stats of one run): calls per frame, median and mean ms per call; the mean time per frame
    spent in nodes; the rest of the mean frame time (engine scheduling and delivery, the facade)."""
    stages = {}
    for name in STAGES:
        node = nodes.get(name, {})
        calls = node.get("process_calls", 0)
        if calls:
            lat = node["latency_us"]
            stages[name] = {"ms_p50": round(lat["p50"] / 1000.0, 3), "ms_mean": round(lat["mean"] / 1000.0, 3),
                            "calls_per_frame": round(calls / frames, 2)}
    in_nodes = sum(s["ms_mean"] * s["calls_per_frame"] for s in stages.values())
    return {"nodes": stages, "frame_ms_mean": round(frame_ms_mean, 2), "nodes_ms_per_frame": round(in_nodes, 2),
            "engine_and_facade_ms_per_frame": round(frame_ms_mean - in_nodes, 2)}


def measure(frames: list[np.ndarray], static: bool, complexity: int, max_hands: int, runs: int, backend: str,
            num_threads: int, bar: tqdm) -> dict[str, Any]:
    medians, p95s, throughputs, with_hands = [], [], [], 0
    with Hands(static_image_mode=static, max_num_hands=max_hands, model_complexity=complexity, backend=backend,
               num_threads=num_threads) as hands:
        hands.process(frames[0])  # warm-up (first-call allocations)
        for _ in range(runs):
            hands.reset()  # tracking restarts from the first frame; also a fresh engine run for the node stats
            t0 = time.perf_counter()
            times, with_hands = one_run(hands, frames, bar)
            throughputs.append(len(frames) / (time.perf_counter() - t0))
            medians.append(statistics.median(times))
            p95s.append(float(np.percentile(times, 95)))
        nodes = hands.stats()["nodes"]
    ms = statistics.median(medians)
    return {
        "frames": len(frames),
        "frames_with_hands": with_hands,
        "ms_median": round(ms, 2),
        "ms_p95": round(statistics.median(p95s), 2),
        "fps": round(1000.0 / ms, 1),
        "throughput_fps": round(statistics.median(throughputs), 1),
        "ms_median_per_run": [round(m, 2) for m in medians],
        "stages_last_run": stage_breakdown(nodes, len(frames), statistics.mean(times)),
        "palm_detector_calls_last_run": nodes["palm_detection/palm_model"]["process_calls"],
    }


def mediapipe_python() -> str:
    return subprocess.run(["bash", str(ANCHORS / "mp-venv.sh")], check=True, capture_output=True,
                          text=True).stdout.strip()


def run_anchor(video_720p: Path) -> dict[str, Any]:
    """MediaPipe 0.10.21's own solution on the same inputs, in its own virtualenv (built on first use)."""
    python, bench = mediapipe_python(), str(ANCHORS / "mediapipe_hands_bench.py")
    small = json.loads(subprocess.run([python, bench, "--video", str(VIDEO), "--images", str(IMAGES)], check=True,
                                      capture_output=True, text=True).stdout)
    large = json.loads(subprocess.run([python, bench, "--video", str(video_720p)], check=True,
                                      capture_output=True, text=True).stdout)
    for r in small["results"]:
        r["input"] = "video_640x360" if r["input"] == "video" else r["input"]
    for r in large["results"]:
        r["input"] = "video_1280x720"
    return {"mediapipe": small["mediapipe"], "results": small["results"] + large["results"]}


def bracketed(before: dict[str, Any], after: dict[str, Any]) -> dict[tuple, dict[str, float]]:
    """Per (input, complexity, hands): MediaPipe's median and p95 ms, the mean of its runs before and after ours."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for r in before["results"] + after["results"]:
        cells.setdefault((r["input"], r["model_complexity"], r["max_num_hands"]), []).append(r)
    return {k: {"ms_median": round(statistics.mean(r["ms_median"] for r in rs), 2),
                "ms_p95": round(statistics.mean(r["ms_p95"] for r in rs), 2),
                "ms_median_runs": [r["ms_median"] for r in rs]} for k, rs in cells.items()}


def ratio_table(results: list[dict[str, Any]], backend: str) -> dict[str, dict[str, float]]:
    """{input: {"c0_1hand": ours/theirs, ...}} for one backend."""
    table: dict[str, dict[str, float]] = {}
    for r in results:
        if r["backend"] == backend and "ratio_vs_mediapipe" in r:
            key = f"complexity{r['model_complexity']}_{r['max_num_hands']}hand"
            table.setdefault(r["input"], {})[key] = r["ratio_vs_mediapipe"]
    return table


def per_model_numbers(threads: int, runs: int) -> list[dict[str, Any]]:
    """The networks alone, each backend vs LiteRT, from benchmarks/hand_models.py (interleaved, same input)."""
    from benchmarks.hand_models import MODEL_NAMES, benchmark_model

    return [r for name in MODEL_NAMES
            for r in benchmark_model(name, threads, runs=runs, progress=False,
                                     variants=("torch", "onnxruntime", "openvino"))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="passes over the frames per configuration")
    ap.add_argument("--backends", nargs="+", default=[DEFAULT_BACKEND], choices=BACKENDS)
    ap.add_argument("--num-threads", type=int, default=1, help="threads of each network")
    ap.add_argument("--complexity", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--max-hands", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    ap.add_argument("--anchor", action="store_true", help="also run MediaPipe's solution and report ratios")
    ap.add_argument("--model-runs", type=int, default=30, help="calls per model for the per-model numbers")
    ap.add_argument("--no-models", action="store_true", help="skip the per-model numbers")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.num_threads)
    cv2.setNumThreads(1)
    small = video_frames()
    sets = {"video_640x360": (False, small), "video_1280x720": (False, clip_720p(small)),
            "images": (True, image_frames())}
    configs = [(name, *sets[name], b, c, m) for name in a.inputs for b in a.backends for c in a.complexity
               for m in a.max_hands]
    total = sum(len(f) * a.runs for _, _, f, _, _, _ in configs)
    out: dict[str, Any] = {
        "benchmark": "hand_tracking",
        "command": "python benchmarks/hand_tracking.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpu": cpu_name(), "nproc": os.cpu_count(), "loadavg_before": list(os.getloadavg()),
                    "python": platform.python_version(), "torch": torch.__version__},
        "thread_budget": {
            "networks": f"each network on {a.num_threads} thread(s) of its own runtime (OpenVINO/ONNX Runtime "
                        f"per-model pools; torch: the process-wide pool, set once)",
            "opencv": 1, "graph": "inline executor: every other node runs on the calling thread",
            "overlap": "openvino: the palm detector's call runs on its own inference thread while the calling "
                       "thread runs the landmark pass over the tracked ROIs (frames that detect and track at once: "
                       "at most 2 cores, one per network); every other frame is sequential",
            "mediapipe": "its default solutions.hands setup: XNNPACK, one thread per network",
        },
        "runs": a.runs,
        "results": [],
    }
    try:
        from importlib.metadata import version

        out["machine"].update({pkg: version(pkg) for pkg in ("openvino", "onnxruntime")})
    except Exception:  # versions are informative only
        pass
    if a.anchor:  # MediaPipe before and after ours; its figure per cell is the mean of the two (load drifts)
        print("running MediaPipe's solution (its own venv) ...", file=sys.stderr)
        video_720p = write_video(sets["video_1280x720"][1], home() / "bench" / "hand_video_1280x720.mp4")
        before = run_anchor(video_720p)
    with tqdm(total=total, desc="hand tracking", unit="frame", file=sys.stderr) as bar:
        for name, static, frames, b, c, m in configs:
            r = measure(frames, static, c, m, a.runs, b, a.num_threads, bar)
            out["results"].append({"input": name, "static_image_mode": static, "backend": b,
                                   "model_complexity": c, "max_num_hands": m, **r})
    if a.anchor:
        print("running MediaPipe's solution again (after ours) ...", file=sys.stderr)
        after = run_anchor(video_720p)
        out["mediapipe"] = {"before": before, "after": after}
        theirs = bracketed(before, after)
        for r in out["results"]:
            t = theirs.get((r["input"], r["model_complexity"], r["max_num_hands"]))
            if t:
                r["mediapipe_ms_median"] = t["ms_median"]
                r["mediapipe_ms_median_before_after"] = t["ms_median_runs"]
                r["mediapipe_ms_p95"] = t["ms_p95"]
                r["ratio_vs_mediapipe"] = round(r["ms_median"] / t["ms_median"], 2)
        out["ratio_tables"] = {b: ratio_table(out["results"], b) for b in a.backends}
    if not a.no_models:
        print("per-model numbers (benchmarks/hand_models.py) ...", file=sys.stderr)
        out["per_model"] = per_model_numbers(a.num_threads, a.model_runs)
    out["machine"]["loadavg_after"] = list(os.getloadavg())
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return out


if __name__ == "__main__":
    main()
