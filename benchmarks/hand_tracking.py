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
threads of its own runtime (1 = MediaPipe's setup), OpenCV on 1, everything else on the calling thread; a batch of
several hand crops runs as concurrent single-thread requests (``calculators/hands/batch_split.py``).
MediaPipe decodes the 1280x720 clip from an mp4 written into ``$GRAPHFLOW_HOME/bench``
(its own OpenCV; speed only, the agreement tests use frames decoded here). MediaPipe and ours alternate frame by
frame (``hand_tracking_anchor_worker.py`` holds MediaPipe's solution in its own process: it processes frame i, then
we do; each side times only its own ``process()``), so drifting load on a shared box hits both alike. Both sides
report the median over passes of the per-pass median; ``ratio_per_run`` gives each pass's pair. Prints JSON (and
writes --json PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hand_clips import IMAGES, VIDEO, clip_720p, image_frames, video_frames, write_video  # noqa: E402
from calculators.hands.backends import BACKENDS, DEFAULT_BACKEND, DEFAULT_PRECISION, PRECISIONS  # noqa: E402
from calculators.hands.batch_split import available_cores, concurrent_requests  # noqa: E402
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


def one_run(hands: Hands, frames: list[np.ndarray], bar: tqdm,
            before_each_frame: Callable[[int], None] | None = None) -> tuple[list[float], int]:
    times, with_hands = [], 0
    for i, rgb in enumerate(frames):
        if before_each_frame is not None:
            before_each_frame(i)
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
            if node.get("counters"):
                stages[name]["counters"] = dict(node["counters"])
    in_nodes = sum(s["ms_mean"] * s["calls_per_frame"] for s in stages.values())
    return {"nodes": stages, "frame_ms_mean": round(frame_ms_mean, 2), "nodes_ms_per_frame": round(in_nodes, 2),
            "engine_and_facade_ms_per_frame": round(frame_ms_mean - in_nodes, 2)}


def measure(frames: list[np.ndarray], static: bool, complexity: int, max_hands: int, runs: int, backend: str,
            num_threads: int, bar: tqdm, anchor: MediaPipeCell | None = None,
            precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """Our ``runs`` passes over ``frames``; with ``anchor`` (MediaPipe on the same cell) MediaPipe processes each
    frame just before we do, so that both sides see the same load."""
    medians, p95s, throughputs, with_hands = [], [], [], 0
    with Hands(static_image_mode=static, max_num_hands=max_hands, model_complexity=complexity, backend=backend,
               num_threads=num_threads, precision=precision) as hands:
        hands.process(frames[0])  # warm-up (first-call allocations)
        for _ in range(runs):
            if anchor is not None:
                anchor.reset()
            hands.reset()  # tracking restarts from the first frame; also a fresh engine run for the node stats
            t0 = time.perf_counter()
            times, with_hands = one_run(hands, frames, bar, anchor.frame if anchor is not None else None)
            throughputs.append(len(frames) / (time.perf_counter() - t0))
            medians.append(statistics.median(times))
            p95s.append(float(np.percentile(times, 95)))
        nodes = hands.stats()["nodes"]
        calls = calls_per_frame(hands, frames)
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
        "network_calls_per_frame": calls,
    }


def calls_per_frame(hands: Hands, frames: list[np.ndarray]) -> dict[str, list[int]]:
    """One more pass, untimed: per frame, how many calls each network stage made (engine stats read after each
    frame). The median frame's floor needs them: the mean calls per frame mix frames with and without a hand."""
    hands.reset()
    per_frame: dict[str, list[int]] = {stage: [] for stage in NETWORK_STAGES}
    before = dict.fromkeys(NETWORK_STAGES, 0)
    for rgb in frames:
        hands.process(rgb)
        nodes = hands.stats()["nodes"]
        for stage in NETWORK_STAGES:
            now = nodes.get(stage, {}).get("process_calls", 0)
            per_frame[stage].append(now - before[stage])
            before[stage] = now
    return per_frame


def mediapipe_python() -> str:
    return subprocess.run(["bash", str(ANCHORS / "mp-venv.sh")], check=True, capture_output=True,
                          text=True).stdout.strip()


class MediaPipeWorker:
    """MediaPipe 0.10.21's own solution in its own virtualenv (built on first use), driven frame by frame
    (``benchmarks/hand_tracking_anchor_worker.py``, the shared anchor's setup and timing). A context manager: the
    process is ended and waited for on exit."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([mediapipe_python(), str(ROOT / "benchmarks" / "hand_tracking_anchor_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.version = self._read()["mediapipe"]

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError(f"MediaPipe's worker ended (exit status {self.proc.poll()})")
        return json.loads(line)

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def __enter__(self) -> MediaPipeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class MediaPipeCell:
    """One configuration open in MediaPipe's worker; collects its per-frame ms, pass by pass."""

    def __init__(self, worker: MediaPipeWorker, path: Path, static: bool, complexity: int, max_hands: int) -> None:
        self.worker = worker
        self.frames = worker.ask(cmd="open", input=str(path), static=static, model_complexity=complexity,
                                 max_num_hands=max_hands)["frames"]
        self.passes: list[list[float]] = []
        self.with_hands = 0

    def reset(self) -> None:
        self.worker.ask(cmd="reset")
        self.passes.append([])
        self.with_hands = 0

    def frame(self, index: int) -> None:
        answer = self.worker.ask(cmd="frame", index=index)
        self.passes[-1].append(answer["ms"])
        self.with_hands += answer["hands"]

    def close(self) -> None:
        self.worker.ask(cmd="close")


def ratio_table(results: list[dict[str, Any]], backend: str) -> dict[str, dict[str, float]]:
    """{input: {"c0_1hand": ours/theirs, ...}} for one backend."""
    table: dict[str, dict[str, float]] = {}
    for r in results:
        if r["backend"] == backend and "ratio_vs_mediapipe" in r:
            key = f"complexity{r['model_complexity']}_{r['max_num_hands']}hand"
            table.setdefault(r["input"], {})[key] = r["ratio_vs_mediapipe"]
    return table


PALM_STAGE = "palm_detection/palm_model"  # its calls per frame count the palm detector's calls
TRACKED_STAGE = "tracked_landmark/hand_model"  # landmarks of the hands tracked from the last frame
NEW_STAGE = "hand_landmark/hand_model"  # landmarks of the hands the palm detector found on this frame
NETWORK_STAGES = (PALM_STAGE, TRACKED_STAGE, NEW_STAGE)


def network_floor_ms(palm_calls: float, tracked_calls: float, new_calls: float, palm_ms: float,
                     landmark_ms: float) -> float:
    """The networks' share of a frame's critical path if everything around them took no time: the palm call
    overlaps only with the tracked hands' landmark pass, and the new hands' pass waits for both."""
    return max(palm_calls * palm_ms, tracked_calls * landmark_ms) + new_calls * landmark_ms


def add_network_floors(results: list[dict[str, Any]], per_model: list[dict[str, Any]]) -> None:
    """Per row with MediaPipe's time, the floor of any pipeline of these networks on one thread each, where each
    network call costs its single-call median alone on one thread (``per_model``, same backend) and a call on two
    crops counts as one single-crop call (so these are lower bounds):

    - ``networks_alone_ms_median_frame``: the median over frames of each frame's network floor (its calls from
      ``network_calls_per_frame``), and ``floor_ratio_median_frame_vs_mediapipe`` = that / MediaPipe's median
      frame: what the ratio (a median over a median) can be compared with. On the photos the median frame holds a
      hand, so it pays for both networks, even though 4 of the 23 photos pay for the palm detector only.
    - ``networks_alone_ms_per_frame``: the same with the mean calls per frame of the last timed run (a floor of the
      mean frame, i.e. of throughput), and ``floor_ratio_mean_frame_vs_mediapipe``."""
    alone = {(m["model"], m["variant"]): m["median_ms"] for m in per_model}
    for row in results:
        if "mediapipe_ms_median" not in row:
            continue
        variant = {0: "lite", 1: "full"}[row["model_complexity"]]
        palm_ms = alone[(f"palm_detection_{variant}", row["backend"])]
        landmark_ms = alone[(f"hand_landmark_{variant}", row["backend"])]
        calls = {stage: node["calls_per_frame"] for stage, node in row["stages_last_run"]["nodes"].items()}
        mean_floor = network_floor_ms(calls.get(PALM_STAGE, 0.0), calls.get(TRACKED_STAGE, 0.0),
                                      calls.get(NEW_STAGE, 0.0), palm_ms, landmark_ms)
        per_frame = row["network_calls_per_frame"]
        median_floor = statistics.median(
            network_floor_ms(p, t, n, palm_ms, landmark_ms)
            for p, t, n in zip(*(per_frame[stage] for stage in NETWORK_STAGES), strict=True))
        row["networks_alone_ms_median_frame"] = round(median_floor, 2)
        row["floor_ratio_median_frame_vs_mediapipe"] = round(median_floor / row["mediapipe_ms_median"], 2)
        row["networks_alone_ms_per_frame"] = round(mean_floor, 2)
        row["floor_ratio_mean_frame_vs_mediapipe"] = round(mean_floor / row["mediapipe_ms_median"], 2)


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
    ap.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS,
                    help="network precision (bf16: openvino on a CPU with bf16 units)")
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
            "landmark_batches": f"a batch of N >= 2 hand crops runs as min(N, {concurrent_requests(a.num_threads)}) "
                                "requests of one thread each, at the same time (calculators/hands/batch_split.py; "
                                "1 = one call for the whole batch)",
            "cores_available": available_cores(),
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
    paths = {"video_640x360": VIDEO, "images": IMAGES}
    if a.anchor:
        print("MediaPipe's solution (its own venv) alternates with ours, pass by pass ...", file=sys.stderr)
        paths["video_1280x720"] = write_video(sets["video_1280x720"][1], home() / "bench" / "hand_video_1280x720.mp4")
    with contextlib.ExitStack() as stack, tqdm(total=total, desc="hand tracking", unit="frame", file=sys.stderr) as bar:
        worker = stack.enter_context(MediaPipeWorker()) if a.anchor else None
        if worker is not None:
            out["mediapipe"] = {"version": worker.version}
        for name, static, frames, b, c, m in configs:
            cell = MediaPipeCell(worker, paths[name], static, c, m) if worker is not None else None
            if cell is not None and cell.frames != len(frames):
                raise RuntimeError(f"MediaPipe read {cell.frames} frames of {paths[name]}, we have {len(frames)}")
            r = measure(frames, static, c, m, a.runs, b, a.num_threads, bar, cell, a.precision)
            row = {"input": name, "static_image_mode": static, "backend": b, "precision": a.precision,
                   "model_complexity": c, "max_num_hands": m, **r}
            if cell is not None:
                cell.close()
                theirs = [statistics.median(t) for t in cell.passes]
                mp_ms = statistics.median(theirs)
                row.update({
                    "mediapipe_ms_median": round(mp_ms, 2),
                    "mediapipe_ms_median_per_run": [round(t, 2) for t in theirs],
                    "mediapipe_ms_p95": round(statistics.median(float(np.percentile(t, 95)) for t in cell.passes), 2),
                    "mediapipe_frames_with_hands": cell.with_hands,
                    "ratio_vs_mediapipe": round(r["ms_median"] / mp_ms, 2),
                    "ratio_per_run": [round(o / t, 2) for o, t in zip(r["ms_median_per_run"], theirs, strict=True)],
                })
            out["results"].append(row)
    if a.anchor:
        out["ratio_tables"] = {b: ratio_table(out["results"], b) for b in a.backends}
    if not a.no_models:
        print("per-model numbers (benchmarks/hand_models.py) ...", file=sys.stderr)
        out["per_model"] = per_model_numbers(a.num_threads, a.model_runs)
        if a.anchor and a.precision == "f32":
            add_network_floors(out["results"], out["per_model"])
    out["machine"]["loadavg_after"] = list(os.getloadavg())
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return out


if __name__ == "__main__":
    main()
