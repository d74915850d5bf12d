"""MediaPipe 0.10.21's tracking, clean and perturbed: the references of the tracking tests.

Decodes the shared video in this environment, as it is (640x360) and resized to 1280x720
(``benchmarks/hand_clips.py``), makes a copy of each with +1 on 1% of the pixels, and runs
``../shared/anchors/mediapipe_hands_reference.py`` (MediaPipe's own graph, in its own venv) on all four, tracking
mode, max_num_hands 2, model complexity 0 and 1. Keeps what the tests need, small: per frame, each hand's 21
landmark x, y (rounded to 1e-5), handedness label and P(left hand) (rounded to 1e-5). MediaPipe on the clean
640x360 frames reproduces the shared ``mediapipe_reference.json`` exactly; the perturbed run says how far
MediaPipe's own answers move when the input changes invisibly (``test_agreement.py`` holds our handedness to it).

    python tools/mediapipe_tracking_reference.py   # writes tests/hands/data/mediapipe_tracking_{720p,640x360}.json

The frames go through a .npy in a temporary directory (about 0.5 GB each), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hand_clips import (  # noqa: E402
    PERTURB_FRACTION,
    PERTURB_SEED,
    SIZE_720P,
    clip_720p,
    perturbed,
    video_frames,
)
from calculators.hands.landmarks import left_probability  # noqa: E402

ANCHORS = ROOT / ".." / "shared" / "anchors"
OUT_DIR = ROOT / "tests" / "hands" / "data"
CLIPS = {"720p": SIZE_720P, "640x360": (640, 360)}  # name -> (width, height); the shared video is 640x360
DIGITS = 5


def mediapipe_run(frames: list[np.ndarray], tmp: Path, tag: str, max_hands: int) -> dict:
    python = subprocess.run(["bash", str(ANCHORS / "mp-venv.sh")], check=True, capture_output=True,
                            text=True).stdout.strip()
    npy, out = tmp / f"{tag}.npy", tmp / f"{tag}.json"
    np.save(npy, np.stack(frames))
    subprocess.run([python, str(ANCHORS / "mediapipe_hands_reference.py"), str(npy), "-o", str(out),
                    "--max-num-hands", str(max_hands), "--complexity", "0", "1"], check=True)
    npy.unlink()
    return json.loads(out.read_text())


def compact(run: dict, complexity: int) -> list[list[dict]]:
    return [[{"xy": [[round(p[0], DIGITS), round(p[1], DIGITS)] for p in h["landmarks"]],
              "label": h["handedness"]["label"],
              "left": round(left_probability(h["handedness"]["label"], h["handedness"]["score"]), DIGITS)}
             for h in frame["hands"]]
            for frame in run[f"model_complexity_{complexity}"]]


def clip(name: str) -> list[np.ndarray]:
    frames = video_frames()
    return clip_720p(frames) if name == "720p" else frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-num-hands", type=int, default=2)
    ap.add_argument("--clips", nargs="+", choices=sorted(CLIPS), default=sorted(CLIPS))
    ap.add_argument("-o", "--output-dir", type=Path, default=OUT_DIR)
    a = ap.parse_args()
    for name in a.clips:
        clean = clip(name)
        if (clean[0].shape[1], clean[0].shape[0]) != CLIPS[name]:
            raise SystemExit(f"the {name} clip decodes to {clean[0].shape[1]}x{clean[0].shape[0]}")
        noisy = perturbed(clean)
        with tempfile.TemporaryDirectory(prefix="graphflow-mp-ref-") as tmp:
            runs = {tag: mediapipe_run(frames, Path(tmp), tag, a.max_num_hands)
                    for tag, frames in (("clean", clean), ("perturbed", noisy))}
        result = {
            "about": f"MediaPipe 0.10.21 solutions.hands graph, tracking mode, on the shared video at {name} (clean) "
                     "and on the same frames with +1 on 1% of the pixels (perturbed); landmark x, y normalized; "
                     "left: P(left hand)",
            "command": "python tools/mediapipe_tracking_reference.py",
            "settings": {**runs["clean"]["settings"], "size": list(CLIPS[name]), "perturb_fraction": PERTURB_FRACTION,
                         "perturb_seed": PERTURB_SEED},
            **{f"model_complexity_{c}": {tag: compact(run, c) for tag, run in runs.items()} for c in (0, 1)},
        }
        out = a.output_dir / f"mediapipe_tracking_{name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, separators=(",", ":")))
        print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
