"""Foxglove ``ImageAnnotations`` views of the project's payloads, so a recording shows results over its images.

Written next to the lossless channel (topic ``<stream>:annotations``), in pixels of the last recorded image:
hands (landmarks, bones, handedness/gesture), palm detections (box, keypoints), ROIs (rotated rectangles),
instances and CAM boxes (box, "label score"). Replays read the lossless channel, never these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calculators.types import ClassActivation, Detection, HandLandmarks, Instances, NormalizedRect
from graphflow.record import foxglove
from graphflow.record.encoders import empty_annotations

from ..io.drawing import FINGER_COLORS, INSTANCE_COLORS, LANDMARK_GROUP, PALM_COLOR, ROI_COLOR, hand_connections

Size = tuple[int, int]
BOX_CORNERS = ((0, 1), (2, 1), (2, 3), (0, 3))  # (x index, y index) into [x1, y1, x2, y2], clockwise from TL


def _rgba(rgb: tuple[int, int, int], a: float = 1.0) -> dict[str, float]:
    return foxglove.color(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, a)


def _box(box: Any, scale: Size = (1, 1)) -> np.ndarray:
    b = np.asarray(box, np.float64)
    return np.array([[b[i] * scale[0], b[j] * scale[1]] for i, j in BOX_CORNERS])


def hands_view(hands: list[HandLandmarks], ts: int, size: Size | None) -> dict[str, Any] | None:
    if size is None:
        return None
    out = empty_annotations()
    wh = np.array(size, np.float64)
    for hand in hands:
        xy = np.asarray(hand.landmarks, np.float64)[:, :2] * wh
        bones = [p for a, b, _ in hand_connections() for p in (xy[a], xy[b])]
        out["points"].append(foxglove.points_annotation(ts, foxglove.LINE_LIST, bones, _rgba(FINGER_COLORS["palm"])))
        pts = foxglove.points_annotation(ts, foxglove.POINTS, xy, _rgba(FINGER_COLORS["index"]), thickness=4.0)
        pts["outline_colors"] = [_rgba(FINGER_COLORS[g]) for g in LANDMARK_GROUP]
        out["points"].append(pts)
        label = f"{hand.handedness} {hand.handedness_score:.2f}" + (f" {hand.gesture}" if hand.gesture else "")
        out["texts"].append(foxglove.text_annotation(ts, xy[0, 0], xy[0, 1] + 12, label, foxglove.color(1, 1, 1)))
    return out


def detections_view(detections: list[Detection], ts: int, size: Size | None) -> dict[str, Any] | None:
    if size is None:
        return None
    out = empty_annotations()
    for det in detections:
        out["points"].append(foxglove.points_annotation(ts, foxglove.LINE_LOOP, _box(det.box, size), _rgba(PALM_COLOR)))
        if len(det.keypoints):
            kp = np.asarray(det.keypoints, np.float64)[:, :2] * np.array(size, np.float64)
            out["points"].append(foxglove.points_annotation(ts, foxglove.POINTS, kp, _rgba(PALM_COLOR), 4.0))
        name = det.label or ("palm" if det.label_id < 0 else str(det.label_id))
        x, y = det.box[0] * size[0], det.box[1] * size[1]
        out["texts"].append(foxglove.text_annotation(ts, x, y - 4, f"{name} {det.score:.2f}", _rgba(PALM_COLOR)))
    return out


def rects_view(rects: list[NormalizedRect], ts: int, size: Size | None) -> dict[str, Any] | None:
    if size is None:
        return None
    out = empty_annotations()
    for rect in rects:
        out["points"].append(foxglove.points_annotation(ts, foxglove.LINE_LOOP, rect.corners(*size), _rgba(ROI_COLOR)))
    return out


def instances_view(inst: Instances, ts: int, size: Size | None) -> dict[str, Any]:
    out = empty_annotations()
    for i, (box, name, score) in enumerate(zip(inst.boxes, inst.label_names(), inst.scores, strict=True)):
        color = _rgba(INSTANCE_COLORS[i % len(INSTANCE_COLORS)])
        out["points"].append(foxglove.points_annotation(ts, foxglove.LINE_LOOP, _box(box), color))
        out["texts"].append(foxglove.text_annotation(ts, box[0], box[1] - 4, f"{name} {score:.2f}", color))
    return out


def cam_view(cam: ClassActivation, ts: int, size: Size | None) -> dict[str, Any]:
    out = empty_annotations()
    for i, (box, cls) in enumerate(zip(cam.boxes, cam.classes, strict=False)):
        color = _rgba(INSTANCE_COLORS[i % len(INSTANCE_COLORS)])
        out["points"].append(foxglove.points_annotation(ts, foxglove.LINE_LOOP, _box(box), color))
        out["texts"].append(foxglove.text_annotation(ts, box[0], box[1] - 4, f"{cls.name} {cls.score:.2f}", color))
    return out


_LIST_VIEWS = ((HandLandmarks, hands_view), (Detection, detections_view), (NormalizedRect, rects_view))


def annotate(payload: Any, ts: int, size: Size | None) -> dict[str, Any] | None:
    """The ImageAnnotations of ``payload``, or None when it is none of the annotated types."""
    if isinstance(payload, Instances):
        return instances_view(payload, ts, size)
    if isinstance(payload, ClassActivation):
        return cam_view(payload, ts, size)
    if isinstance(payload, list) and payload:
        for cls, view in _LIST_VIEWS:
            if all(isinstance(x, cls) for x in payload):
                return view(payload, ts, size)
    return None
