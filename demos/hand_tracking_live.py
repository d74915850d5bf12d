"""Live hand tracking from your webcam (or a video played at its own speed): the main graphflow demo.

    python demos/hand_tracking_live.py                     # webcam 0
    python demos/hand_tracking_live.py --input clip.mp4    # a file, paced like a camera
    python demos/hand_tracking_live.py --precision bf16    # faster networks on a CPU with bf16 units

What you will see: a window with the camera image, each hand's 21 landmarks and bones coloured per finger (nearer
joints lighter and larger), "Left/Right score" at the wrist, the palm detection box when a palm detection ran, the
hand's rotated region of interest, and "fps / latency" in the top-left corner. Press 'q' or Esc to quit; Ctrl-C
works too. The graph is graphs/hand_tracking_live.yaml: a FlowLimiter admits a frame only when the previous one
has been drawn, so the picture never lags behind reality; the terminal shows how many frames it dropped.

opencv-python-headless (what ``pip install -e .`` installs) cannot open windows, and a robot or an SSH session has
no display at all. Without a GUI the demo runs the same pipeline (flow limiter included) and serves it as a live
web page instead, printing the URL to open (``--serve``, default 127.0.0.1:8000; from another machine:
``ssh -L 8000:127.0.0.1:8000 robot`` then open http://localhost:8000/; ``--serve-fps`` caps its frame rate).
``--output`` also writes the video. Install ``'opencv-python<5'`` to get the window.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.hands.backends import DEFAULT_PRECISION, PRECISIONS  # noqa: E402
from calculators.io.app import NO_INPUT_MESSAGE, run_app  # noqa: E402
from calculators.io.display import highgui_available  # noqa: E402
from calculators.io.frame_reader import camera_available  # noqa: E402
from graphflow.cli_flags import SERVE_FPS_DEFAULT  # noqa: E402

DEFAULT_SERVE = "127.0.0.1:8000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=None, help="webcam index, video file, URL or image folder (default: 0)")
    parser.add_argument("--model-complexity", type=int, default=1, choices=(0, 1), help="0: lite, 1: full models")
    parser.add_argument("--max-num-hands", type=int, default=2)
    parser.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS,
                        help="hand networks in bf16: faster on a CPU with bf16 units (AVX512-BF16/AMX), less exact")
    parser.add_argument("--serve", default=DEFAULT_SERVE, metavar="[HOST:]PORT",
                        help="where the live web view listens when there is no GUI (default %(default)s)")
    parser.add_argument("--serve-fps", type=float, default=SERVE_FPS_DEFAULT, metavar="FPS",
                        help="frames a second the live view sends at most (default %(default)g; 0: every frame)")
    parser.add_argument("--output", default=None, help="also write the rendered video when there is no GUI")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: no limit)")
    args = parser.parse_args(argv)
    options = {"max_num_hands": args.max_num_hands, "model_complexity": args.model_complexity,
               "precision": args.precision}
    if args.input is None and not camera_available(0):
        print(f"demo: {NO_INPUT_MESSAGE}", file=sys.stderr)
        return 2
    if highgui_available():
        return run_app(ROOT / "graphs" / "hand_tracking_live.yaml", input=args.input, options=options)
    print(
        "demo: this OpenCV has no GUI (opencv-python-headless), so no window; serving the live view in the browser "
        "instead (the URL follows; pip install 'opencv-python<5' for a window)",
        file=sys.stderr,
    )
    return run_app(
        ROOT / "graphs" / "hand_tracking.yaml", input=args.input, output=args.output, options=options,
        flow_limit=True, realtime=True, serve=args.serve, serve_fps=args.serve_fps, max_frames=args.max_frames,
    )


if __name__ == "__main__":
    sys.exit(main())
