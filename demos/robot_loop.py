"""A fixed-rate control loop (100 Hz by default) that embeds the hand tracker and never waits for it.

    python demos/robot_loop.py                                  # webcam 0, 5 seconds
    python demos/robot_loop.py --input clip.mp4 --seconds 10    # a file, looped and paced like a camera

How a robot would use graphflow: a camera thread keeps the newest frame in a one-slot mailbox; the control loop
wakes every 10 ms, pushes the newest frame into the graph when there is one (a FlowLimiter at the graph's entrance
drops frames while the tracker is busy, so pushing never blocks), takes the newest hand pose with
``poller.latest()`` (never blocks either), and computes a command: here a proportional controller that moves a
virtual end effector towards the index fingertip.

What you will see: once a second a line such as
``t=2.0s  target (0.41, 0.55)  effector (0.40, 0.54)  pose age 62 ms  frames 50 pushed, 21 tracked``, then a JSON
report: the loop's period (p50/p99/max), its jitter (period minus the nominal period), late ticks, and how old the
hand pose was when the controller used it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.io.frame_reader import Frame, FrameReader  # noqa: E402
from graphflow.errors import GraphTimeoutError  # noqa: E402
from graphflow.graph import Graph  # noqa: E402

INDEX_TIP = 8


def tracking_graph(options: dict[str, Any]) -> Graph:
    """camera -> FlowLimiter -> graphs/hand_tracking.yaml -> hands (the limiter's back edge comes from hands)."""
    return Graph.from_yaml({
        "input_streams": ["camera"],
        "output_streams": ["hands"],
        "nodes": [
            {"name": "flow_limiter", "calculator": "FlowLimiter",
             "inputs": {"IN": "camera", "FINISHED": {"stream": "hands", "back_edge": True}},
             "outputs": {"OUT": "image"}},
            {"name": "hand_tracking", "subgraph": str(ROOT / "graphs" / "hand_tracking.yaml"),
             "inputs": {"image": "image"}, "outputs": {"hands": "hands"}, "options": options},
        ],
    })


class CameraThread:
    """Reads frames on its own thread; ``latest()`` returns the newest unseen frame or None (never blocks)."""

    def __init__(self, reader: FrameReader) -> None:
        self.reader = reader
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="camera")

    def _run(self) -> None:
        try:
            for frame in self.reader:
                with self._lock:
                    self._frame = frame
                if self._stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - reported by the loop
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def latest(self) -> Frame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            return frame

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.reader.close()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3)}


def control_loop(graph: Graph, camera: CameraThread, rate_hz: float, seconds: float, gain: float = 0.2,
                 verbose: bool = True) -> dict[str, Any]:
    """Run the loop for ``seconds``; return the timing report (milliseconds)."""
    period = 1.0 / rate_hz
    poller = graph.poller("hands")
    graph.start()
    effector = np.array([0.5, 0.5])
    target: np.ndarray | None = None
    pose_capture_time: float | None = None
    capture_times: dict[int, float] = {}
    periods, work, ages = [], [], []
    pushed = tracked = push_refused = 0
    t_start = time.perf_counter()
    next_tick = t_start
    last_tick: float | None = None
    next_report = 1.0
    while True:
        now = time.perf_counter()
        if last_tick is not None:
            periods.append((now - last_tick) * 1000.0)
        last_tick = now
        if now - t_start >= seconds:
            break
        # 1. newest camera frame into the graph (non-blocking: the flow limiter drops while the tracker is busy)
        frame = camera.latest()
        if frame is not None:
            try:
                graph.add_packet("camera", frame.image, frame.timestamp, timeout=0.0)
                capture_times[frame.timestamp] = frame.capture_time
                pushed += 1
            except GraphTimeoutError:
                push_refused += 1
        # 2. newest hand pose, if a new one came out (non-blocking)
        packet = poller.latest()
        if packet is not None:
            tracked += 1
            pose_capture_time = capture_times.pop(int(packet.timestamp), None)
            for ts in [ts for ts in capture_times if ts < int(packet.timestamp)]:
                del capture_times[ts]
            hands = packet.payload
            target = np.asarray(hands[0].landmarks[INDEX_TIP, :2], np.float64) if hands else None
        # 3. the controller: move the effector a fraction of the way to the target
        if target is not None:
            effector = effector + gain * (target - effector)
            if pose_capture_time is not None:
                ages.append((time.monotonic() - pose_capture_time) * 1000.0)
        work.append((time.perf_counter() - now) * 1000.0)
        elapsed = now - t_start
        if verbose and elapsed >= next_report:
            next_report += 1.0
            tgt = f"({target[0]:.2f}, {target[1]:.2f})" if target is not None else "none"
            age = f"{ages[-1]:.0f} ms" if ages else "-"
            print(f"t={elapsed:.1f}s  target {tgt}  effector ({effector[0]:.2f}, {effector[1]:.2f})  pose age {age}  "
                  f"frames {pushed} pushed, {tracked} tracked", file=sys.stderr)
        # 4. sleep until the next tick (absolute schedule: no drift)
        next_tick += period
        delay = next_tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.perf_counter()  # overran: restart the schedule instead of bursting
    graph.close_all_inputs()
    graph.close(timeout=30.0)
    stats = graph.stats()
    dropped = stats["nodes"]["flow_limiter"]["counters"].get("dropped_frames", 0)
    nominal = period * 1000.0
    jitter = [p - nominal for p in periods]
    return {
        "rate_hz": rate_hz,
        "seconds": seconds,
        "ticks": len(periods),
        "period_ms": percentiles(periods),
        "jitter_ms": {"std": round(float(np.std(jitter)), 3) if jitter else float("nan"),
                      "p99_abs": round(float(np.percentile(np.abs(jitter), 99)), 3) if jitter else float("nan")},
        "late_ticks": int(sum(p > 1.5 * nominal for p in periods)),
        "loop_work_ms": percentiles(work),
        "frames_pushed": pushed,
        "frames_refused": push_refused,
        "frames_dropped_by_flow_limiter": int(dropped),
        "poses_received": tracked,
        "pose_age_ms": percentiles(ages),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="0", help="webcam index, video file or URL (default: 0)")
    parser.add_argument("--rate", type=float, default=100.0, help="control loop rate in Hz")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--model-complexity", type=int, default=0, choices=(0, 1))
    parser.add_argument("--quiet", action="store_true", help="only the final JSON report")
    args = parser.parse_args(argv)
    reader = FrameReader(args.input, realtime=True, loop=not args.input.isdigit())
    graph = tracking_graph({"max_num_hands": 1, "model_complexity": args.model_complexity})
    camera = CameraThread(reader)
    camera.start()
    try:
        report = control_loop(graph, camera, args.rate, args.seconds, verbose=not args.quiet)
    finally:
        camera.stop()
    if camera.error is not None:
        raise camera.error
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
