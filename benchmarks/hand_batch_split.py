"""Two hands per frame: the landmark batch as one call on one thread vs split into concurrent single-thread requests.

The anchor's video holds one hand, and 1 of the 23 shared photos has two, so ``hand_tracking.py --anchor`` hardly
ever gives the landmark network a batch of two. Here every frame is the shared frame beside its mirror image (two
hands, each frame (H, 2W, 3)):
- ``tracking_max2``: the 640x360 video pairs, max_num_hands 2: once both hands are tracked, the tracked pass has two
  crops and no palm call runs (both networks' calls are the landmark network's);
- ``tracking_max3``: the same with max_num_hands 3: the palm call runs beside the tracked pass's two crops
  (three single-thread calls on two cores when split);
- ``static_max2``: the 23 photo pairs, static mode.
Two ``Hands`` of each case, one built with the split disabled (``concurrent_requests`` patched to 1 while it opens),
alternate frame by frame; a fresh pair per pass (``reset()`` reopens the graph and would drop the patch). Prints
JSON (median ms per frame, split / batch ratio per pass) and writes ``--json PATH``.

    python benchmarks/hand_batch_split.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hand_clips import image_frames, video_frames  # noqa: E402
from benchmarks.hand_tracking import cpu_name  # noqa: E402
from calculators.hands.backends import BACKENDS, DEFAULT_BACKEND  # noqa: E402
from calculators.hands.batch_split import concurrent_requests  # noqa: E402
from calculators.solutions import Hands  # noqa: E402

CASES = {"tracking_max2": (False, 2), "tracking_max3": (False, 3), "static_max2": (True, 2)}


def with_mirror(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, 2W, 3): the frame and its mirror image side by side (two hands)."""
    return np.ascontiguousarray(np.concatenate([frame, frame[:, ::-1]], axis=1))


def open_hands(split: bool, warm: np.ndarray, **options: Any) -> Hands:
    """A ``Hands`` whose landmark runners split batches (``split``) or run them whole; warmed up on ``warm``."""
    if split:
        hands = Hands(**options)
        hands.process(warm)
        return hands
    with mock.patch("calculators.hands.model_runner.concurrent_requests", return_value=1):
        hands = Hands(**options)
        hands.process(warm)  # the graph opens here, inside the patch
    return hands


def measure(frames: list[np.ndarray], static: bool, max_hands: int, complexity: int, backend: str,
            runs: int) -> dict[str, Any]:
    per_run: dict[str, list[float]] = {"batch": [], "split": []}
    hands_per_frame: dict[str, list[int]] = {"batch": [], "split": []}
    for _ in range(runs):
        pair = {name: open_hands(name == "split", frames[0], static_image_mode=static, max_num_hands=max_hands,
                                 model_complexity=complexity, backend=backend) for name in ("batch", "split")}
        times: dict[str, list[float]] = {name: [] for name in pair}
        try:
            for frame in frames:
                for name, hands in pair.items():
                    t0 = time.perf_counter()
                    result = hands.process(frame)
                    times[name].append(1000.0 * (time.perf_counter() - t0))
                    hands_per_frame[name].append(len(result.hands))
            splits = pair["split"].stats()["nodes"]
        finally:
            for hands in pair.values():
                hands.close()
        for name, t in times.items():
            per_run[name].append(statistics.median(t))
    split_counts = {node: stats["counters"].get("split_batches", 0) for node, stats in splits.items()
                    if node.endswith("hand_model")}
    batch_ms, split_ms = statistics.median(per_run["batch"]), statistics.median(per_run["split"])
    return {
        "batch_ms_median": round(batch_ms, 2), "split_ms_median": round(split_ms, 2),
        "split_vs_batch": round(split_ms / batch_ms, 2),
        "split_vs_batch_per_run": [round(s / b, 2) for s, b in zip(per_run["split"], per_run["batch"], strict=True)],
        "hands_per_frame": {k: round(float(np.mean(v)), 2) for k, v in hands_per_frame.items()},
        "split_batches_last_run": split_counts, "frames": len(frames),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="passes per case")
    ap.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS)
    ap.add_argument("--complexity", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--json", type=Path, help="also write the JSON here")
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    video, photos = [with_mirror(f) for f in video_frames()], [with_mirror(f) for f in image_frames()]
    out: dict[str, Any] = {
        "benchmark": "hand_batch_split",
        "command": "python benchmarks/hand_batch_split.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpu": cpu_name(), "nproc": os.cpu_count(), "loadavg_before": list(os.getloadavg())},
        "split_requests": concurrent_requests(1), "backend": a.backend, "results": [],
    }
    for case in a.cases:
        static, max_hands = CASES[case]
        for c in a.complexity:
            r = measure(photos if static else video, static, max_hands, c, a.backend, a.runs)
            out["results"].append({"case": case, "model_complexity": c, **r})
            print(json.dumps(out["results"][-1]), file=sys.stderr)
    out["machine"]["loadavg_after"] = list(os.getloadavg())
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return out


if __name__ == "__main__":
    main()
