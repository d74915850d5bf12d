"""MediaPipe 0.10.21's tracking on the 1280x720 clip, clean and perturbed: the reference of the tracking test.

Decodes the shared video in this environment, resizes it to 1280x720 (``benchmarks/hand_clips.py``), makes a copy
with +1 on 1% of the pixels, and runs ``../shared/anchors/mediapipe_hands_reference.py`` (MediaPipe's own graph, in
its own venv) on both, tracking mode, max_num_hands 2, model complexity 0 and 1. Keeps what the test needs,
small: per frame, each hand's 21 landmark x, y (rounded to 1e-5) and handedness label.

    python tools/mediapipe_tracking_reference.py          # writes tests/hands/data/mediapipe_tracking_720p.json

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

ANCHORS = ROOT / ".." / "shared" / "anchors"
OUT = ROOT / "tests" / "hands" / "data" / "mediapipe_tracking_720p.json"
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
              "label": h["handedness"]["label"]} for h in frame["hands"]]
            for frame in run[f"model_complexity_{complexity}"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-num-hands", type=int, default=2)
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    a = ap.parse_args()
    clean = clip_720p(video_frames())
    noisy = perturbed(clean)
    with tempfile.TemporaryDirectory(prefix="graphflow-mp-ref-") as tmp:
        runs = {tag: mediapipe_run(frames, Path(tmp), tag, a.max_num_hands)
                for tag, frames in (("clean", clean), ("perturbed", noisy))}
    result = {
        "about": "MediaPipe 0.10.21 solutions.hands graph, tracking mode, on the shared video resized to 1280x720 "
                 "(clean) and on the same frames with +1 on 1% of the pixels (perturbed); landmark x, y normalized",
        "command": "python tools/mediapipe_tracking_reference.py",
        "settings": {**runs["clean"]["settings"], "size": list(SIZE_720P), "perturb_fraction": PERTURB_FRACTION,
                     "perturb_seed": PERTURB_SEED},
        **{f"model_complexity_{c}": {tag: compact(run, c) for tag, run in runs.items()} for c in (0, 1)},
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, separators=(",", ":")))
    print(f"wrote {a.output} ({a.output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
