"""MediaPipe's side of ``benchmarks/hand_tracking.py --anchor``: ``mediapipe.solutions.hands`` one frame per request.

Runs in MediaPipe's own virtualenv (``../shared/anchors/mp-venv.sh``) with the shared anchor's setup
(``../shared/anchors/mediapipe_hands_bench.py``: its frame reading; one warm-up call, ``reset()`` before a pass,
``perf_counter`` around each ``process()``), so that the benchmark can alternate MediaPipe and ours frame by frame:
load on a shared box then hits both sides alike. One JSON request per line on stdin, one JSON answer per line:

    {"cmd": "open", "input": PATH, "static": B, "model_complexity": C, "max_num_hands": N} -> {"frames": n}
    {"cmd": "reset"} -> {}                 # start a pass (tracking restarts from scratch)
    {"cmd": "frame", "index": i} -> {"ms": t, "hands": bool}
    {"cmd": "close"} -> {}

PATH is a video file, or a folder of photos (sorted, as the anchor reads them). Decoded inputs are kept for the
next ``open``. Ends at EOF.
"""

import importlib.util
import json
import sys
import time
from pathlib import Path

ANCHOR = Path(__file__).resolve().parents[1] / ".." / "shared" / "anchors" / "mediapipe_hands_bench.py"


def load_anchor():
    spec = importlib.util.spec_from_file_location("mediapipe_hands_bench", ANCHOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frames_at(anchor, path: Path) -> list:
    """The frames of a video file (the anchor's reader), or the photos of a folder (as the anchor's ``main``)."""
    if path.is_dir():
        import cv2

        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(path.iterdir())
                if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return list(anchor.frames_of(str(path)))


def main() -> None:
    anchor = load_anchor()
    mp = anchor.mp
    print(json.dumps({"mediapipe": mp.__version__}), flush=True)
    decoded: dict[str, list] = {}
    hands, frames = None, []
    for line in sys.stdin:
        req = json.loads(line)
        answer: dict = {}
        if req["cmd"] == "open":
            if req["input"] not in decoded:
                decoded[req["input"]] = frames_at(anchor, Path(req["input"]))
            frames = decoded[req["input"]]
            hands = mp.solutions.hands.Hands(static_image_mode=bool(req["static"]),
                                             max_num_hands=int(req["max_num_hands"]),
                                             model_complexity=int(req["model_complexity"]))
            hands.process(frames[0])  # warm-up
            answer = {"frames": len(frames)}
        elif req["cmd"] == "reset":
            hands.reset()
        elif req["cmd"] == "frame":
            rgb = frames[int(req["index"])]
            t0 = time.perf_counter()
            result = hands.process(rgb)
            answer = {"ms": 1000 * (time.perf_counter() - t0), "hands": bool(result.multi_hand_landmarks)}
        elif req["cmd"] == "close":
            hands.close()
            hands = None
        else:
            raise ValueError(f"unknown command {req['cmd']!r}")
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
