"""End-to-end hand tracking speed: ``Hands.process()`` per frame, ours vs MediaPipe 0.10.21 in the same session.

Set up like MediaPipe's anchor (``../shared/anchors/mediapipe_hands_bench.py``): the shared 640x360 video (202
frames, one hand) in tracking mode and the 23 shared images in static mode, for model complexity 0 and 1 and
max_num_hands 1 and 2. Each configuration: one warm-up call, ``reset()``, then every frame timed with
``perf_counter`` around ``process()``; repeated ``--runs`` times, reporting the median over runs of the per-run
median / p95 ms and fps = 1000 / median. Also reported: each graph node's median latency (engine stats) for the
last run, and the per-model numbers from ``benchmarks/hand_models.py`` (the networks alone).

    python benchmarks/hand_tracking.py                  # ours only
    python benchmarks/hand_tracking.py --anchor         # + MediaPipe's solution, same frames, ratios ours/theirs

torch uses 1 intra-op thread per model by default (``--num-threads``); MediaPipe runs its default XNNPACK setup.
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
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.solutions import Hands  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "hands"
ANCHORS = ROOT / ".." / "shared" / "anchors"
VIDEO = DATA / "videos" / "hand_landmarker_test_video.mp4"
IMAGES = DATA / "images"
KEY_NODES = ("palm_detection/palm_input", "palm_detection/palm_model", "palm_detection/palm_decode",
             "hand_landmark/hand_input", "hand_landmark/hand_model", "hand_landmark/hand_decode")


def video_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def image_frames() -> list[np.ndarray]:
    paths = sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def one_run(hands: Hands, frames: list[np.ndarray], bar: tqdm) -> tuple[list[float], int]:
    times, with_hands = [], 0
    for rgb in frames:
        t0 = time.perf_counter()
        result = hands.process(rgb)
        times.append(1000.0 * (time.perf_counter() - t0))
        with_hands += bool(result.hands)
        bar.update(1)
    return times, with_hands


def measure(frames: list[np.ndarray], static: bool, complexity: int, max_hands: int, runs: int,
            num_threads: int, bar: tqdm, compile_models: bool = False) -> dict[str, Any]:
    medians, p95s, with_hands = [], [], 0
    with Hands(static_image_mode=static, max_num_hands=max_hands, model_complexity=complexity,
               num_threads=num_threads, compile_models=compile_models) as hands:
        hands.process(frames[0])  # warm-up (first-call allocations)
        for _ in range(runs):
            hands.reset()  # tracking restarts from the first frame; also a fresh engine run for the node stats
            times, with_hands = one_run(hands, frames, bar)
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
        "ms_median_per_run": [round(m, 2) for m in medians],
        "node_ms_median_last_run": {
            name: round(nodes[name]["latency_us"]["p50"] / 1000.0, 2)
            for name in KEY_NODES if nodes.get(name, {}).get("process_calls")
        },
        "palm_detector_calls_last_run": nodes["palm_detection/palm_model"]["process_calls"],
    }


def run_anchor() -> dict[str, Any]:
    """MediaPipe 0.10.21's own solution on the same frames, in its own virtualenv (built on first use)."""
    python = subprocess.run(["bash", str(ANCHORS / "mp-venv.sh")], check=True, capture_output=True,
                            text=True).stdout.strip()
    out = subprocess.run([python, str(ANCHORS / "mediapipe_hands_bench.py"), "--video", str(VIDEO),
                          "--images", str(IMAGES)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def per_model_numbers(threads: int, runs: int) -> list[dict[str, Any]]:
    """The networks alone, torch vs LiteRT, from benchmarks/hand_models.py (interleaved, same input)."""
    from benchmarks.hand_models import MODEL_NAMES, benchmark_model

    return [r for name in MODEL_NAMES for r in benchmark_model(name, threads, runs=runs, progress=False)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="passes over the frames per configuration")
    ap.add_argument("--num-threads", type=int, default=1, help="torch intra-op threads per model")
    ap.add_argument("--complexity", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--max-hands", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--anchor", action="store_true", help="also run MediaPipe's solution and report ratios")
    ap.add_argument("--model-runs", type=int, default=30, help="calls per model for the per-model numbers")
    ap.add_argument("--no-models", action="store_true", help="skip the per-model numbers")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the networks (Hands(compile_models=True)); adds an eager-vs-compiled ratio")
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.num_threads)
    cv2.setNumThreads(1)
    sets = [("video", False, video_frames()), ("images", True, image_frames())]
    configs = [(name, static, frames, c, m) for name, static, frames in sets for c in a.complexity
               for m in a.max_hands]
    total = sum(len(f) * a.runs for _, _, f, _, _ in configs)
    out: dict[str, Any] = {
        "benchmark": "hand_tracking",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": a.num_threads},
        "runs": a.runs,
        "results": [],
    }
    with tqdm(total=total * (2 if a.compile else 1), desc="hand tracking", unit="frame", file=sys.stderr) as bar:
        for name, static, frames, c, m in configs:
            r = measure(frames, static, c, m, a.runs, a.num_threads, bar)
            if a.compile:  # same frames, same process: the compiled networks' end-to-end ratio to eager
                rc = measure(frames, static, c, m, a.runs, a.num_threads, bar, compile_models=True)
                r["compiled"] = {k: rc[k] for k in ("ms_median", "ms_p95", "fps", "node_ms_median_last_run")}
                r["compiled"]["ratio_to_eager"] = round(rc["ms_median"] / r["ms_median"], 2)
            out["results"].append({"input": name, "static_image_mode": static, "model_complexity": c,
                                   "max_num_hands": m, **r})
    if a.anchor:
        print("running MediaPipe's solution (its own venv) ...", file=sys.stderr)
        anchor = run_anchor()
        out["mediapipe"] = anchor
        theirs = {(r["input"], r["model_complexity"], r["max_num_hands"]): r for r in anchor["results"]}
        for r in out["results"]:
            t = theirs.get((r["input"], r["model_complexity"], r["max_num_hands"]))
            if t:
                r["mediapipe_ms_median"] = t["ms_median"]
                r["mediapipe_ms_p95"] = t["ms_p95"]
                r["ratio_vs_mediapipe"] = round(r["ms_median"] / t["ms_median"], 2)
                if "compiled" in r:
                    r["compiled"]["ratio_vs_mediapipe"] = round(r["compiled"]["ms_median"] / t["ms_median"], 2)
    if not a.no_models:
        print("per-model numbers (benchmarks/hand_models.py) ...", file=sys.stderr)
        out["per_model"] = per_model_numbers(a.num_threads, a.model_runs)
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return out


if __name__ == "__main__":
    main()
