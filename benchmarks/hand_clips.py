"""The hand clips the benchmarks and agreement tests share, decoded once in the project's environment.

- ``video_frames()``: the shared 640x360 video (202 frames, one moving hand), RGB.
- ``clip_720p(frames)``: the same frames at 1280x720 (bilinear ``cv2.resize``): the issue's tracking input size.
- ``perturbed(frames)``: +1 on one pixel in a hundred (all three channels, fixed seed): invisible, yet enough to
  send MediaPipe's own tracking down a slightly different path; the sensitivity floor of tracking agreement.
- ``image_frames()``: the 23 shared photos, RGB, sorted by name.
- ``write_video(frames, path)``: frames as an .mp4 for tools that take a file (MediaPipe's speed anchor).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "hands"
VIDEO = DATA / "videos" / "hand_landmarker_test_video.mp4"
IMAGES = DATA / "images"
SIZE_720P = (1280, 720)  # width, height
PERTURB_FRACTION = 0.01
PERTURB_SEED = 0
VIDEO_FPS = 25


def video_frames(path: Path = VIDEO) -> list[np.ndarray]:
    """Every frame of ``path`` as (H, W, 3) uint8 RGB."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open {path} (the shared data lives in ../shared/data/hands)")
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def clip_720p(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame resized to 1280x720 (bilinear)."""
    return [cv2.resize(f, SIZE_720P, interpolation=cv2.INTER_LINEAR) for f in frames]


def perturbed(frames: list[np.ndarray], fraction: float = PERTURB_FRACTION, seed: int = PERTURB_SEED
              ) -> list[np.ndarray]:
    """Copies of ``frames`` with +1 (saturating) on ``fraction`` of the pixels, chosen at random per frame."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        g = f.copy()
        h, w = f.shape[:2]
        idx = rng.choice(h * w, size=round(fraction * h * w), replace=False)
        flat = g.reshape(-1, 3)
        flat[idx] = np.minimum(flat[idx].astype(np.int16) + 1, 255).astype(np.uint8)
        out.append(g)
    return out


def image_frames(folder: Path = IMAGES) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def write_video(frames: list[np.ndarray], path: Path, fps: int = VIDEO_FPS) -> Path:
    """Write RGB frames as an mp4v .mp4 (for tools that only take a file); returns ``path``."""
    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
