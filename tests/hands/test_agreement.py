"""Agreement with MediaPipe 0.10.21 itself: our hand_tracking graph against ``mediapipe_reference.json``.

The reference holds MediaPipe's own outputs (legacy ``solutions.hands`` graph, XNNPACK) on the 23 shared images in
static mode and on every frame of the shared video in tracking mode, for model complexity 0 and 1. For each
complexity we run ``graphs/hand_tracking.yaml`` with the same options and require:

- images: the same number of palm detections and of hands on every image, the same handedness labels, and
  max-abs differences (normalized) of landmark x, y, of palm boxes + keypoints + score, and of ROI corners (from
  palms and from landmarks) with median <= 2e-3 and worst <= 1e-2;
- video: the per-frame hand count (and palm detection count) matches on >= 95% of frames, landmarks within the
  same bounds, and handedness within MediaPipe's own sensitivity on this clip (``test_tracking_agreement.py``:
  P(left) within 1.25x of the most MediaPipe's moves under an invisible perturbation, the same label wherever
  MediaPipe is further from 0.5 than that).

Static agreement holds for every backend (torch, onnxruntime, openvino), with the issue's tighter landmark bound:
per-hand landmark x, y max-abs difference median <= 1e-3, worst <= 5e-3. Tracking agreement per backend is in
``test_tracking_agreement.py`` (held to MediaPipe's own sensitivity, not to a fixed bound).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from test_tracking_agreement import assert_handedness_within_sensitivity, handedness_sensitivity
from test_tracking_agreement import reference as tracking_reference

from calculators.hands.backends import BACKENDS
from calculators.hands.landmarks import left_probability
from calculators.types import Detection, NormalizedRect
from graphflow import Graph

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hands"
GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "hand_tracking.yaml"
VIDEO = "hand_landmarker_test_video.mp4"
MEDIAN_BOUND, WORST_BOUND = 2e-3, 1e-2
# ROIs are compared by their corners (normalized), which folds the rotation into image units; the rotation alone is
# also bounded, in radians (the worst seen on these images is 0.011 rad, on a full-model landmark ROI)
ROTATION_BOUND_RAD = 0.02
# beyond the required bounds, with about 2x margin over what this port measures: world landmarks (metres; worst
# seen 2.7 mm), landmark z (same units and bounds as x, y; worst seen 5.3e-3), handedness score (worst seen 0.011)
WORLD_MEDIAN_M, WORLD_WORST_M = 2e-3, 5e-3
HANDEDNESS_SCORE_BOUND = 0.025
STREAMS = ("hands", "palm_detections", "hand_rois_from_palms", "hand_rois_from_landmarks")
STATIC_LANDMARK_MEDIAN, STATIC_LANDMARK_WORST = 1e-3, 5e-3  # issue 11, every backend


@cache
def reference() -> dict[str, Any]:
    return json.loads((DATA / "mediapipe_reference.json").read_text())


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / "videos" / VIDEO))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def run_graph(frames: list[np.ndarray], **options: Any) -> list[dict[str, list]]:
    """Feed frames through the graph; per frame, the payload of each stream in STREAMS ([] when absent)."""
    torch.set_num_threads(1)
    graph = Graph.from_yaml(GRAPH, executor="inline", **options)
    seen: dict[str, dict[int, list]] = {s: {} for s in STREAMS}
    for stream in STREAMS:
        graph.observe(stream, lambda p, store=seen[stream]: store.__setitem__(int(p.timestamp), p.payload))
    with graph:
        graph.start()
        for i, frame in enumerate(frames):
            graph.add_packet("image", frame, i * 40_000)  # the video's 25 fps
        graph.wait_until_done(timeout=300)
    assert len(seen["hands"]) == len(frames), "the graph must emit one hands packet per frame"
    return [{s: seen[s].get(i * 40_000, []) for s in STREAMS} for i in range(len(frames))]


def ref_box(p: dict) -> np.ndarray:
    b = p["bbox"]
    return np.array([b["xmin"], b["ymin"], b["xmin"] + b["width"], b["ymin"] + b["height"]])


def rect_diff(ours: NormalizedRect, ref: dict, width: int, height: int) -> float:
    """Max distance between the two rectangles' corners, normalized: centre, size and rotation in one number."""
    theirs = NormalizedRect(ref["x_center"], ref["y_center"], ref["width"], ref["height"], ref["rotation"])
    scale = np.array([width, height], np.float64)
    return float(np.abs(ours.corners(width, height) / scale - theirs.corners(width, height) / scale).max())


def rotation_diff(ours: NormalizedRect, ref: dict) -> float:
    """Rotation difference in radians, wrapped to [-pi, pi]."""
    return abs(math.remainder(ours.rotation - ref["rotation"], 2 * math.pi))


def palm_diff(ours: Detection, ref: dict) -> float:
    return float(max(np.abs(np.asarray(ours.box) - ref_box(ref)).max(),
                     np.abs(np.asarray(ours.keypoints) - np.asarray(ref["keypoints"])).max(),
                     abs(ours.score - ref["score"][0])))


def landmark_diff(ours: np.ndarray, ref: list) -> float:
    return float(np.abs(ours[:, :2] - np.asarray(ref)[:, :2]).max())


def assert_within(name: str, diffs: list[float]) -> None:
    assert diffs, f"no {name} compared"
    median, worst = float(np.median(diffs)), float(np.max(diffs))
    assert median <= MEDIAN_BOUND and worst <= WORST_BOUND, (
        f"{name}: median {median:.2e} (bound {MEDIAN_BOUND}), worst {worst:.2e} (bound {WORST_BOUND}) "
        f"over {len(diffs)}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("complexity", [0, 1])
def test_static_images_agree_with_mediapipe(complexity: int, backend: str) -> None:
    ref = reference()
    names = sorted(ref["images"])
    assert len(names) == 23
    settings = ref["settings"]
    results = run_graph(
        [read_rgb(DATA / "images" / n) for n in names],
        model_complexity=complexity,
        static_image_mode=True,
        max_num_hands=settings["max_num_hands"],
        min_detection_confidence=settings["min_detection_confidence"],
        min_tracking_confidence=settings["min_tracking_confidence"],
        backend=backend,
    )
    diffs: dict[str, list[float]] = {"landmarks": [], "landmark z": [], "palm detections": [], "palm ROIs": [],
                                     "landmark ROIs": []}
    rotations: list[float] = []
    world: list[float] = []
    for name, got in zip(names, results, strict=True):
        want = ref["images"][name][f"model_complexity_{complexity}"]
        size = (ref["images"][name]["width"], ref["images"][name]["height"])
        assert len(got["palm_detections"]) == len(want["palm_detections"]), f"{name}: palm detection count"
        assert len(got["hands"]) == len(want["hands"]), f"{name}: hand count"
        for ours, theirs in zip(got["hands"], want["hands"], strict=True):
            assert ours.handedness == theirs["handedness"]["label"], f"{name}: handedness"
            assert abs(ours.handedness_score - theirs["handedness"]["score"]) <= HANDEDNESS_SCORE_BOUND, name
            diffs["landmarks"].append(landmark_diff(ours.landmarks, theirs["landmarks"]))
            their_z = np.asarray(theirs["landmarks"])[:, 2]
            diffs["landmark z"].append(float(np.abs(ours.landmarks[:, 2] - their_z).max()))
            world.append(float(np.abs(ours.world_landmarks - np.asarray(theirs["world_landmarks"])).max()))
        for ours, theirs in zip(got["palm_detections"], want["palm_detections"], strict=True):
            diffs["palm detections"].append(palm_diff(ours, theirs))
        for ours, theirs in zip(got["hand_rois_from_palms"], want["hand_rects_from_palm_detections"], strict=True):
            diffs["palm ROIs"].append(rect_diff(ours, theirs, *size))
            rotations.append(rotation_diff(ours, theirs))
        for ours, theirs in zip(got["hand_rois_from_landmarks"], want["hand_rects_from_landmarks"], strict=True):
            diffs["landmark ROIs"].append(rect_diff(ours, theirs, *size))
            rotations.append(rotation_diff(ours, theirs))
    for key, values in diffs.items():
        assert_within(f"complexity {complexity} {backend} {key}", values)
    lm = diffs["landmarks"]
    assert np.median(lm) <= STATIC_LANDMARK_MEDIAN and max(lm) <= STATIC_LANDMARK_WORST, (
        f"{backend}: landmarks median {np.median(lm):.2e} (bound {STATIC_LANDMARK_MEDIAN}), worst {max(lm):.2e} "
        f"(bound {STATIC_LANDMARK_WORST})")
    assert max(rotations) <= ROTATION_BOUND_RAD, f"ROI rotation differs by up to {max(rotations):.3f} rad"
    assert np.median(world) <= WORLD_MEDIAN_M and max(world) <= WORLD_WORST_M, (
        f"world landmarks: median {np.median(world):.2e} m, worst {max(world):.2e} m")


@pytest.mark.parametrize("complexity", [0, 1])
def test_video_tracking_agrees_with_mediapipe(complexity: int) -> None:
    want = reference()["videos"][VIDEO][f"model_complexity_{complexity}"]
    frames = video_frames()
    assert len(frames) == len(want["frames"]) == 202
    assert want["settings"]["static_image_mode"] is False
    results = run_graph(frames, model_complexity=complexity, static_image_mode=False,
                        max_num_hands=want["settings"]["max_num_hands"])
    same_count = same_palms = 0
    diffs: list[float] = []
    lefts: list[tuple[float, float]] = []
    for got, theirs in zip(results, want["frames"], strict=True):
        same_palms += len(got["palm_detections"]) == len(theirs["palm_detections"])
        if len(got["hands"]) != len(theirs["hands"]):
            continue
        same_count += 1
        for ours, their in zip(got["hands"], theirs["hands"], strict=True):
            diffs.append(landmark_diff(ours.landmarks, their["landmarks"]))
            lefts.append((left_probability(ours.handedness, ours.handedness_score),
                          left_probability(their["handedness"]["label"], their["handedness"]["score"])))
    assert same_count >= 0.95 * len(frames), f"hand count matches on {same_count}/{len(frames)} frames"
    assert same_palms >= 0.95 * len(frames), f"palm detection count matches on {same_palms}/{len(frames)} frames"
    clip = tracking_reference("640x360")[f"model_complexity_{complexity}"]
    assert_handedness_within_sensitivity(f"complexity {complexity} video", lefts, handedness_sensitivity(clip))
    assert_within(f"complexity {complexity} video landmarks", diffs)
