"""Process a video file offline: every frame through hand tracking, written as an annotated video and JSON Lines.

    python demos/process_video.py                                   # the test video from ../shared
    python demos/process_video.py clip.mp4 --output out.mp4 --jsonl out.jsonl
    python demos/process_video.py clip.mp4 --graph graphs/cam.yaml  # any app graph with input stream `image`

What you will see: a progress bar (frames, fps, ETA) while it runs, then a summary line such as
``202 frames, 199 with a hand (2 max), 14.8 fps -> hand_tracking.mp4, hand_tracking.jsonl``. No frame is dropped
(files have no flow limiter: the source waits for the graph). The JSONL schema is in calculators/io/jsonl.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.io.app import run_app  # noqa: E402

DEFAULT_VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=str(DEFAULT_VIDEO), help="video file, folder or glob")
    parser.add_argument("--graph", default=str(ROOT / "graphs" / "hand_tracking.yaml"))
    parser.add_argument("--output", default="hand_tracking.mp4")
    parser.add_argument("--jsonl", default="hand_tracking.jsonl")
    parser.add_argument("--max-frames", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rc = run_app(args.graph, input=args.input, output=args.output, jsonl=args.jsonl, max_frames=args.max_frames)
    if rc != 0:
        return rc
    seconds = time.perf_counter() - t0
    records = [json.loads(line) for line in Path(args.jsonl).read_text().splitlines()]
    counts = [len(r.get("hands", [])) for r in records]
    with_hand = sum(c > 0 for c in counts)
    print(f"{len(records)} frames, {with_hand} with a hand ({max(counts, default=0)} max), "
          f"{len(records) / seconds:.1f} fps -> {args.output}, {args.jsonl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
