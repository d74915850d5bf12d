"""io costs on the shared test video (640x360, 202 frames): decode, render, JSONL, and run_app's overhead.

Each figure is the median of ``--runs`` runs, with a baseline measured in the same process:

- decode: ``FrameReader`` (BGR->RGB, timestamp repair) vs a bare ``cv2.VideoCapture.read`` loop;
- render: ``render_frame`` with one hand, its palm box, its ROI and the HUD (MediaPipe's outputs on frame 100),
  and with Mask R-CNN-like instances + a CAM heat map, vs ``np.copy`` of the frame (the copy every render does);
- jsonl: ``make_record`` + ``json.dumps`` for one hand;
- app: ``run_app`` (VideoSource -> a PassThrough app -> Renderer -> VideoWriterSink, threads) vs the same work in a
  plain Python loop (read, render, write), so the ratio is what the graph, its threads and the app cost on top.

    python benchmarks/io_pipeline.py [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "tests" / "io"))

from io_reference import VIDEO, payloads  # noqa: E402
from test_io_drawing import synthetic_instances_and_cam  # noqa: E402

from calculators.io.app import run_app  # noqa: E402
from calculators.io.drawing import render_frame  # noqa: E402
from calculators.io.frame_reader import FrameReader  # noqa: E402
from calculators.io.jsonl import make_record  # noqa: E402

PASS_GRAPH = """input_streams: [image]
output_streams: [same]
nodes:
  - {name: same, calculator: PassThrough, inputs: {IN: image}, outputs: {OUT: same}}
"""


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bare_decode() -> int:
    cap, n = cv2.VideoCapture(str(VIDEO)), 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def reader_decode() -> int:
    return sum(1 for _ in FrameReader(str(VIDEO)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    frames = [f.image for f in FrameReader(str(VIDEO))]
    n = len(frames)
    hands, palms, rois = payloads(100)
    _, inst, cam = synthetic_instances_and_cam(360, 640)  # two masks and a heat map at full resolution
    frame = frames[100]
    k = 50

    t_bare = median_time(bare_decode, args.runs)
    t_reader = median_time(reader_decode, args.runs)
    t_copy = median_time(lambda: [np.copy(frame) for _ in range(k)], args.runs)
    t_hands = median_time(lambda: [render_frame(frame, hands=hands, palms=palms, rois=rois, fps=25.0,
                                                latency_ms=40.0) for _ in range(k)], args.runs)
    t_inst = median_time(lambda: [render_frame(frame, instances=inst, cam=cam) for _ in range(k)], args.runs)
    t_json = median_time(lambda: [json.dumps(make_record(0, 0, hands=hands, palm_detections=palms, hand_rois=rois))
                                  for _ in range(k)], args.runs)

    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "pass.yaml"
        graph.write_text(PASS_GRAPH)

        def app_run() -> None:
            assert run_app(graph, input=str(VIDEO), output=str(Path(tmp) / "app.mp4"), progress=False) == 0

        def loop_run() -> None:
            writer = cv2.VideoWriter(str(Path(tmp) / "loop.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 360))
            for f in FrameReader(str(VIDEO)):
                writer.write(cv2.cvtColor(render_frame(f.image, fps=25.0, latency_ms=1.0), cv2.COLOR_RGB2BGR))
            writer.release()

        t_loop = median_time(loop_run, args.runs)
        t_app = median_time(app_run, args.runs)

    result = {
        "machine": {"python": platform.python_version(), "opencv": cv2.__version__, "cpu": platform.processor()},
        "frames": n, "runs": args.runs,
        "decode_ms_per_frame": {"bare_cv2": round(t_bare / n * 1e3, 3), "frame_reader": round(t_reader / n * 1e3, 3),
                                "ratio": round(t_reader / t_bare, 3)},
        "render_ms_per_frame": {"copy_baseline": round(t_copy / k * 1e3, 3),
                                "hand_palm_roi_hud": round(t_hands / k * 1e3, 3),
                                "instances_cam": round(t_inst / k * 1e3, 3),
                                "hand_ratio_to_copy": round(t_hands / t_copy, 1)},
        "jsonl_us_per_record_one_hand": round(t_json / k * 1e6, 1),
        "app_fps": {"plain_loop": round(n / t_loop, 1), "run_app": round(n / t_app, 1),
                    "time_ratio_app_to_loop": round(t_app / t_loop, 3)},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
