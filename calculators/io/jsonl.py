"""The JSON Lines schema of graphflow's structured results, and the pure functions that build one record.

One line per timestamp, a JSON object. ``timestamp_us`` and ``frame`` are always there; every other key is there
only when that result stream is connected to the sink and carried a packet at that timestamp (an empty list means
"looked, found nothing"; a missing key means "not computed for this frame").

    timestamp_us      int     the packet timestamp (microseconds; see calculators/io/frame_reader.py)
    frame             int     0-based index of the record in the file
    hands             list    per hand: handedness ("Left"/"Right"), handedness_score, presence, gesture,
                              landmarks [[x, y, z] x 21] (x, y normalized to the image, z relative depth),
                              world_landmarks [[x, y, z] x 21] (metres), roi {x_center, y_center, width,
                              height, rotation} (normalized, radians)
    palm_detections   list    per palm: box [xmin, ymin, xmax, ymax] normalized, score, keypoints [[x, y], ...],
                              label, label_id
    hand_rois         list    NormalizedRect objects as in hands[].roi
    instances         list    per instance: box [x1, y1, x2, y2] pixels, label, label_id, score, mask_area
                              (pixels with probability > 0.5; masks themselves are not written)
    cam               object  classes [{index, name, score}], boxes [[x1, y1, x2, y2] pixels] (maps are not written)
    classes           list    [{index, name, score}]

``JSONL_SCHEMA`` is the same contract as a JSON Schema (draft 2020-12); the tests validate written files with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from calculators.types import ClassActivation, Classification, Detection, HandLandmarks, Instances, NormalizedRect

_NUM = {"type": "number"}
_POINT3 = {"type": "array", "items": _NUM, "minItems": 3, "maxItems": 3}
_POINT2 = {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}
_BOX = {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4}
_RECT = {
    "type": "object",
    "required": ["x_center", "y_center", "width", "height", "rotation"],
    "properties": {k: _NUM for k in ("x_center", "y_center", "width", "height", "rotation")},
    "additionalProperties": False,
}
_CLASS = {
    "type": "object",
    "required": ["index", "name", "score"],
    "properties": {"index": {"type": "integer"}, "name": {"type": "string"}, "score": _NUM},
    "additionalProperties": False,
}
JSONL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "graphflow JSONL record",
    "type": "object",
    "required": ["timestamp_us", "frame"],
    "additionalProperties": False,
    "properties": {
        "timestamp_us": {"type": "integer"},
        "frame": {"type": "integer", "minimum": 0},
        "hands": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["handedness", "handedness_score", "presence", "landmarks", "world_landmarks", "roi"],
                "properties": {
                    "handedness": {"type": "string"},
                    "handedness_score": _NUM,
                    "presence": _NUM,
                    "gesture": {"type": "string"},
                    "landmarks": {"type": "array", "items": _POINT3, "minItems": 21, "maxItems": 21},
                    "world_landmarks": {"type": "array", "items": _POINT3, "minItems": 21, "maxItems": 21},
                    "roi": _RECT,
                },
                "additionalProperties": False,
            },
        },
        "palm_detections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["box", "score", "keypoints"],
                "properties": {
                    "box": _BOX,
                    "score": _NUM,
                    "keypoints": {"type": "array", "items": _POINT2},
                    "label": {"type": "string"},
                    "label_id": {"type": "integer"},
                },
                "additionalProperties": False,
            },
        },
        "hand_rois": {"type": "array", "items": _RECT},
        "instances": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["box", "label", "label_id", "score"],
                "properties": {
                    "box": _BOX,
                    "label": {"type": "string"},
                    "label_id": {"type": "integer"},
                    "score": _NUM,
                    "mask_area": {"type": "integer", "minimum": 0},
                },
                "additionalProperties": False,
            },
        },
        "cam": {
            "type": "object",
            "required": ["classes", "boxes"],
            "properties": {"classes": {"type": "array", "items": _CLASS}, "boxes": {"type": "array", "items": _BOX}},
            "additionalProperties": False,
        },
        "classes": {"type": "array", "items": _CLASS},
    },
}


def _floats(a: Any) -> list:
    return np.asarray(a, np.float64).round(6).tolist()


def rect_record(r: NormalizedRect) -> dict[str, float]:
    return {k: round(float(getattr(r, k)), 6) for k in ("x_center", "y_center", "width", "height", "rotation")}


def hand_record(h: HandLandmarks) -> dict[str, Any]:
    return {
        "handedness": h.handedness,
        "handedness_score": round(float(h.handedness_score), 6),
        "presence": round(float(h.presence), 6),
        "gesture": h.gesture,
        "landmarks": _floats(np.asarray(h.landmarks)[:, :3]),
        "world_landmarks": _floats(np.asarray(h.world_landmarks)[:, :3]),
        "roi": rect_record(h.roi),
    }


def detection_record(d: Detection) -> dict[str, Any]:
    return {
        "box": _floats(np.asarray(d.box).reshape(4)),
        "score": round(float(d.score), 6),
        "keypoints": _floats(np.asarray(d.keypoints).reshape(-1, 2)),
        "label": d.label,
        "label_id": int(d.label_id),
    }


def class_record(c: Classification) -> dict[str, Any]:
    return {"index": int(c.index), "name": c.name, "score": round(float(c.score), 6)}


def instances_record(inst: Instances, mask_threshold: float = 0.5) -> list[dict[str, Any]]:
    names = inst.label_names()
    out = []
    for i in range(len(inst)):
        rec: dict[str, Any] = {
            "box": _floats(np.asarray(inst.boxes[i]).reshape(4)),
            "label": names[i],
            "label_id": int(inst.labels[i]),
            "score": round(float(inst.scores[i]), 6),
        }
        if inst.masks is not None:
            rec["mask_area"] = int((np.asarray(inst.masks[i]) > mask_threshold).sum())
        out.append(rec)
    return out


def cam_record(cam: ClassActivation) -> dict[str, Any]:
    return {
        "classes": [class_record(c) for c in cam.classes],
        "boxes": _floats(np.asarray(cam.boxes).reshape(-1, 4)),
    }


def make_record(
    timestamp_us: int,
    frame: int,
    *,
    hands: Sequence[HandLandmarks] | None = None,
    palm_detections: Sequence[Detection] | None = None,
    hand_rois: Sequence[NormalizedRect] | None = None,
    instances: Instances | None = None,
    cam: ClassActivation | None = None,
    classes: Sequence[Classification] | None = None,
) -> dict[str, Any]:
    """One JSONL record (see the module docstring); a None argument leaves its key out."""
    rec: dict[str, Any] = {"timestamp_us": int(timestamp_us), "frame": int(frame)}
    if hands is not None:
        rec["hands"] = [hand_record(h) for h in hands]
    if palm_detections is not None:
        rec["palm_detections"] = [detection_record(d) for d in palm_detections]
    if hand_rois is not None:
        rec["hand_rois"] = [rect_record(r) for r in hand_rois]
    if instances is not None:
        rec["instances"] = instances_record(instances)
    if cam is not None:
        rec["cam"] = cam_record(cam)
    if classes is not None:
        rec["classes"] = [class_record(c) for c in classes]
    return rec
