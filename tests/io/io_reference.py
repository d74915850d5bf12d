"""MediaPipe's own hand-tracking outputs on the shared test video, as graphflow payloads (for renderer tests)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from calculators.types import Detection, HandLandmarks, NormalizedRect

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
VIDEO = SHARED / "data" / "hands" / "videos" / "hand_landmarker_test_video.mp4"
REFERENCE = SHARED / "data" / "hands" / "mediapipe_reference.json"


@lru_cache(maxsize=1)
def reference_frames() -> list[dict]:
    data = json.loads(REFERENCE.read_text())
    return data["videos"][VIDEO.name]["model_complexity_1"]["frames"]


def _rect(d: dict) -> NormalizedRect:
    return NormalizedRect(d["x_center"], d["y_center"], d["width"], d["height"], d["rotation"])


def payloads(frame_index: int) -> tuple[list[HandLandmarks], list[Detection], list[NormalizedRect]]:
    """(hands, palm detections, hand ROIs from landmarks) that MediaPipe reported on frame ``frame_index``."""
    frame = reference_frames()[frame_index]
    rois = [_rect(r) for r in frame["hand_rects_from_landmarks"]]
    palms = []
    for p in frame["palm_detections"]:
        b = p["bbox"]
        box = np.array([b["xmin"], b["ymin"], b["xmin"] + b["width"], b["ymin"] + b["height"]], np.float32)
        kps = np.array([[k["x"], k["y"]] if isinstance(k, dict) else k[:2] for k in p["keypoints"]], np.float32)
        palms.append(Detection(box=box, score=float(p["score"][0]), keypoints=kps, label="palm"))
    hands = []
    for i, h in enumerate(frame["hands"]):
        lm = np.array([[q["x"], q["y"], q["z"]] if isinstance(q, dict) else q for q in h["landmarks"]], np.float32)
        world = np.array(
            [[q["x"], q["y"], q["z"]] if isinstance(q, dict) else q for q in h["world_landmarks"]], np.float32
        )
        rect = rois[i] if i < len(rois) else NormalizedRect(0.5, 0.5, 1.0, 1.0)
        hd = h["handedness"]
        hands.append(
            HandLandmarks(
                landmarks=lm, world_landmarks=world, handedness=hd["label"], handedness_score=float(hd["score"]),
                presence=1.0, roi=rect,
            )
        )
    return hands, palms, rois


def video_frame(frame_index: int) -> np.ndarray:
    """Frame ``frame_index`` of the test video, (360, 640, 3) uint8 RGB."""
    cap = cv2.VideoCapture(str(VIDEO))
    try:
        for _ in range(frame_index):
            cap.grab()
        ok, bgr = cap.read()
    finally:
        cap.release()
    assert ok, f"cannot read frame {frame_index} of {VIDEO}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
