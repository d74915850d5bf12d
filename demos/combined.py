"""Hands, class activation maps and Mask R-CNN on one video stream, each on its own branch of one graph.

    python demos/combined.py                           # the test video from ../shared -> combined.mp4
    python demos/combined.py --input 0 --show          # webcam, in a window (needs 'opencv-python<5')

What you will see (in combined.mp4, or the window): the classifier's heat map for its best ImageNet class under
everything else, with "CAM: class score" at the bottom left; Mask R-CNN's instances as translucent coloured masks
with boxes and "label score"; and the tracked hands on top, with palm boxes and ROIs. The graph is
graphs/combined.yaml (three subgraphs fed by the same frames); the renderer waits for all three results of a frame.
With the committed "shapes" Mask R-CNN checkpoint (trained on synthetic shapes) a real video shows few instances;
pass ``--maskrcnn-checkpoint`` a COCO checkpoint path for real objects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.io.app import run_app  # noqa: E402

DEFAULT_VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(DEFAULT_VIDEO), help="video file, webcam index, URL or folder")
    parser.add_argument("--output", default="combined.mp4")
    parser.add_argument("--jsonl", default=None)
    parser.add_argument("--show", action="store_true", help="also show a window (needs 'opencv-python<5')")
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("--maskrcnn-checkpoint", default="shapes")
    args = parser.parse_args(argv)
    return run_app(
        ROOT / "graphs" / "combined.yaml", input=args.input, output=args.output, jsonl=args.jsonl, show=args.show,
        max_frames=args.max_frames, options={"maskrcnn_checkpoint": args.maskrcnn_checkpoint},
    )


if __name__ == "__main__":
    sys.exit(main())
