"""Draw docs/record_replay.jpg: frames of a recording (with the hands recorded live) next to a replay's output.

Runs the documented commands on the shared test video, then draws three moments side by side with OpenCV:

    graphflow record graphs/hand_tracking.yaml --input <video> --max-frames 60 -o run.mcap
    graphflow replay run.mcap graphs/hand_tracking.yaml --speed 0 -o replay.mcap

    python tools/record_replay_figure.py [--out docs/record_replay.jpg]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import calculators.record  # noqa: E402,F401 - payload types
from calculators.io.drawing import RenderOptions, render_frame  # noqa: E402
from graphflow.cli import main as graphflow  # noqa: E402
from graphflow.record import Recording  # noqa: E402

VIDEO = ROOT / ".." / "shared" / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
GRAPH = ROOT / "graphs" / "hand_tracking.yaml"
FRAMES = 60
SHOWN = (8, 30, 52)
TITLE_H = 34
JPEG_QUALITY = 88
WHITE, GREEN, RED = (255, 255, 255), (60, 220, 90), (230, 60, 60)


def by_timestamp(path: Path, stream: str) -> dict[int, tuple[object, bytes]]:
    return {p.timestamp_us: (p.payload, p.data) for p in Recording(path).packets([stream], bounds=False)}


def label(image: np.ndarray, text: str, color: tuple[int, int, int]) -> np.ndarray:
    bar = np.zeros((TITLE_H, image.shape[1], 3), np.uint8)
    cv2.putText(bar, text, (8, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.55, color, 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "record_replay.jpg")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run, replay = Path(tmp) / "run.mcap", Path(tmp) / "replay.mcap"
        assert graphflow(["record", str(GRAPH), "--input", str(VIDEO), "--max-frames", str(FRAMES),
                          "-o", str(run)]) == 0
        assert graphflow(["replay", str(run), str(GRAPH), "--speed", "0", "-o", str(replay)]) == 0
        images = by_timestamp(run, "image")
        live = {s: by_timestamp(run, s) for s in ("hands", "palm_detections", "hand_rois")}
        replayed = {s: by_timestamp(replay, s) for s in ("hands", "palm_detections", "hand_rois")}
    same = all(live[s] and {t: d for t, (_, d) in live[s].items()} == {t: d for t, (_, d) in replayed[s].items()}
               for s in live)
    stamps = sorted(images)
    rows = []
    opts = RenderOptions(hud=False)
    for i in SHOWN:
        ts = stamps[i]
        image = images[ts][0]

        def draw(results: dict[str, dict[int, tuple[object, bytes]]], img: np.ndarray = image,
                 t: int = ts) -> np.ndarray:
            return render_frame(img, hands=results["hands"][t][0], palms=results["palm_detections"][t][0],
                                rois=results["hand_rois"][t][0], options=opts)

        equal = all(live[s][ts][1] == replayed[s][ts][1] for s in live)
        left = label(draw(live), f"recorded  t={ts / 1e6:.3f} s  (live run, run.mcap)", WHITE)
        right = label(draw(replayed), f"replayed --speed 0  (replay.mcap)  bytes equal: {'yes' if equal else 'NO'}",
                      GREEN if equal else RED)
        rows.append(np.hstack([left, np.full((left.shape[0], 6, 3), 40, np.uint8), right]))
    figure = np.vstack([np.vstack([r, np.full((6, r.shape[1], 3), 40, np.uint8)]) for r in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    print(f"wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}); all {FRAMES} frames' hands, palms and ROIs "
          f"identical: {same}")


if __name__ == "__main__":
    main()
