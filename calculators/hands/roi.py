"""Hand regions of interest: palm detection -> ROI, landmarks -> next-frame ROI, and ROI association.

Sources (MediaPipe v0.10.21): ``modules/hand_landmark/palm_detection_detection_to_roi.pbtxt``
(``DetectionsToRectsCalculator`` + ``RectTransformationCalculator``), ``hand_landmark_landmarks_to_roi.pbtxt`` +
``calculators/hand_landmarks_to_rect_calculator.cc``, and ``AssociationNormRectCalculator``
(``association_calculator.h``). All rotations are computed in pixel space, so the image size is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calculators.common.boxes import box_iou
from calculators.types import Detection, NormalizedRect


@dataclass(frozen=True)
class RectTransform:
    """``RectTransformationCalculatorOptions``: shift (fractions of the rect, in its rotated frame), scale, square."""

    scale_x: float = 1.0
    scale_y: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    square_long: bool = True


# palm_detection_detection_to_roi.pbtxt: enlarge the palm box to cover the whole hand, shifted towards the fingers
PALM_TO_HAND = RectTransform(scale_x=2.6, scale_y=2.6, shift_y=-0.5)
# hand_landmark_landmarks_to_roi.pbtxt: the landmark-derived box, enlarged for the next frame
LANDMARKS_TO_HAND = RectTransform(scale_x=2.0, scale_y=2.0, shift_y=-0.1)
# palm keypoints 0 (wrist centre) -> 2 (middle finger MCP) should point up (90 degrees)
PALM_ROTATION_KEYPOINTS = (0, 2)
# hand_landmark_landmarks_to_roi.pbtxt keeps these 12 of the 21 landmarks: wrist, thumb CMC/MCP/IP, MCP+PIP of the
# four fingers (no DIPs or tips, which move the most)
ROI_LANDMARKS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
TARGET_ANGLE = math.pi / 2


def normalize_radians(angle: float) -> float:
    """Wrap an angle into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_to_target(x0: float, y0: float, x1: float, y1: float, target: float = TARGET_ANGLE) -> float:
    """Rotation (radians) that turns the pixel vector (x0, y0)->(x1, y1) to point at ``target`` (y up)."""
    return normalize_radians(target - math.atan2(-(y1 - y0), x1 - x0))


def transform_rect(rect: NormalizedRect, image_width: int, image_height: int, t: RectTransform) -> NormalizedRect:
    """Shift in the rect's rotated frame, square on the long side (in pixels), then scale."""
    w, h, r = rect.width, rect.height, rect.rotation
    if r == 0.0:
        xc = rect.x_center + w * t.shift_x
        yc = rect.y_center + h * t.shift_y
    else:
        W, H = image_width, image_height
        xc = rect.x_center + (W * w * t.shift_x * math.cos(r) - H * h * t.shift_y * math.sin(r)) / W
        yc = rect.y_center + (W * w * t.shift_x * math.sin(r) + H * h * t.shift_y * math.cos(r)) / H
    if t.square_long:
        long_side = max(w * image_width, h * image_height)
        w, h = long_side / image_width, long_side / image_height
    return NormalizedRect(xc, yc, w * t.scale_x, h * t.scale_y, r)


def palm_to_rect(det: Detection, image_width: int, image_height: int) -> NormalizedRect:
    """The palm box as a rect rotated so that wrist -> middle-finger MCP points up (before enlarging)."""
    xmin, ymin, xmax, ymax = (float(v) for v in det.box)
    a, b = PALM_ROTATION_KEYPOINTS
    kp = np.asarray(det.keypoints, np.float64)
    rot = rotation_to_target(
        kp[a, 0] * image_width, kp[a, 1] * image_height, kp[b, 0] * image_width, kp[b, 1] * image_height
    )
    return NormalizedRect((xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin, rot)


def palm_to_hand_roi(det: Detection, image_width: int, image_height: int) -> NormalizedRect:
    """Palm detection -> the hand ROI the landmark model runs on (2.6x, shifted half a box towards the fingers)."""
    return transform_rect(palm_to_rect(det, image_width, image_height), image_width, image_height, PALM_TO_HAND)


def landmarks_to_rect(landmarks: np.ndarray, image_width: int, image_height: int) -> NormalizedRect:
    """Tight rotated rect around the 12 stable landmarks (``HandLandmarksToRectCalculator``), before enlarging.

    landmarks: (21, 2+) normalized x, y.
    """
    pts = np.asarray(landmarks, np.float64)[list(ROI_LANDMARKS), :2]
    W, H = image_width, image_height
    wrist = pts[0]
    # subset indices 4, 6, 8 are the index, middle and ring MCPs (MediaPipe names them "PIP")
    mid = (pts[4] + pts[8]) / 2
    target = (mid + pts[6]) / 2
    rot = rotation_to_target(wrist[0] * W, wrist[1] * H, target[0] * W, target[1] * H)
    reverse = normalize_radians(-rot)
    center = (pts.max(0) + pts.min(0)) / 2
    d = (pts - center) * np.array([W, H])
    c, s = math.cos(reverse), math.sin(reverse)
    proj = np.stack([d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c], axis=1)
    pmax, pmin = proj.max(0), proj.min(0)
    pc = (pmax + pmin) / 2
    cr, sr = math.cos(rot), math.sin(rot)
    cx = pc[0] * cr - pc[1] * sr + W * center[0]
    cy = pc[0] * sr + pc[1] * cr + H * center[1]
    size = pmax - pmin
    return NormalizedRect(cx / W, cy / H, size[0] / W, size[1] / H, rot)


def landmarks_to_hand_roi(landmarks: np.ndarray, image_width: int, image_height: int) -> NormalizedRect:
    """Landmarks of this frame -> the ROI to track the hand in the next frame."""
    rect = landmarks_to_rect(landmarks, image_width, image_height)
    return transform_rect(rect, image_width, image_height, LANDMARKS_TO_HAND)


def rect_iou(a: NormalizedRect, b: NormalizedRect) -> float:
    """Axis-aligned IoU of two rects (rotation ignored, as ``AssociationNormRectCalculator`` does)."""
    corners = np.array([[r.x_center - r.width / 2, r.y_center - r.height / 2,
                         r.x_center + r.width / 2, r.y_center + r.height / 2] for r in (a, b)])
    return float(box_iou(corners[:1], corners[1:])[0, 0])


def associate_rects(groups: Sequence[Sequence[NormalizedRect]], min_similarity: float = 0.5) -> list[int]:
    """Dedup rects across groups in order: each new rect evicts every kept rect overlapping it by IoU > threshold.

    Returns the kept rects as flat indices into the concatenation of ``groups``, in kept order (evictions remove,
    new rects append). With groups (palm rects, tracked rects) a tracked hand replaces a fresh palm rect.
    """
    flat = [r for g in groups for r in g]
    kept: list[int] = []
    for i, rect in enumerate(flat):
        kept = [j for j in kept if not rect_iou(rect, flat[j]) > min_similarity]
        kept.append(i)
    return kept
