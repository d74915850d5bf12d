"""Foxglove's image schemas as JSON-schema channels (``foxglove.RawImage``, ``foxglove.CompressedImage``,
``foxglove.ImageAnnotations``), written from Foxglove's published field lists; no Foxglove SDK needed.

In JSON, ``bytes`` fields are base64 text and ``time`` is ``{"sec": int, "nsec": int}``. Colors are RGBA floats in
[0, 1]; annotation coordinates are pixels with the origin at the top-left corner of the top-left pixel.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ENCODING = "jsonschema"
MESSAGE_ENCODING = "json"
US_PER_S = 1_000_000
NS_PER_US = 1_000

#: PointsAnnotation.type values
POINTS, LINE_LOOP, LINE_STRIP, LINE_LIST = 1, 2, 3, 4

_TIME = {"type": "object", "title": "time", "properties": {
    "sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0, "maximum": 999_999_999}}}
_BYTES = {"type": "string", "contentEncoding": "base64"}
_COLOR = {"type": "object", "title": "foxglove.Color", "properties": {
    c: {"type": "number"} for c in ("r", "g", "b", "a")}}
_POINT2 = {"type": "object", "title": "foxglove.Point2",
           "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}


def _schema(title: str, description: str, properties: dict[str, Any]) -> bytes:
    return json.dumps({"title": title, "description": description, "$comment": "written by graphflow.record",
                       "type": "object", "properties": properties}, sort_keys=True).encode()


RAW_IMAGE = _schema("foxglove.RawImage", "A raw image", {
    "timestamp": _TIME, "frame_id": {"type": "string"}, "width": {"type": "integer", "minimum": 0},
    "height": {"type": "integer", "minimum": 0}, "encoding": {"type": "string"},
    "step": {"type": "integer", "minimum": 0}, "data": _BYTES})

COMPRESSED_IMAGE = _schema("foxglove.CompressedImage", "A compressed image", {
    "timestamp": _TIME, "frame_id": {"type": "string"}, "data": _BYTES, "format": {"type": "string"}})

IMAGE_ANNOTATIONS = _schema("foxglove.ImageAnnotations", "Array of annotations for a 2D image", {
    "circles": {"type": "array", "items": {"type": "object", "title": "foxglove.CircleAnnotation", "properties": {
        "timestamp": _TIME, "position": _POINT2, "diameter": {"type": "number"}, "thickness": {"type": "number"},
        "fill_color": _COLOR, "outline_color": _COLOR}}},
    "points": {"type": "array", "items": {"type": "object", "title": "foxglove.PointsAnnotation", "properties": {
        "timestamp": _TIME, "type": {"type": "integer", "enum": [0, POINTS, LINE_LOOP, LINE_STRIP, LINE_LIST]},
        "points": {"type": "array", "items": _POINT2}, "outline_color": _COLOR,
        "outline_colors": {"type": "array", "items": _COLOR}, "fill_color": _COLOR, "thickness": {"type": "number"}}}},
    "texts": {"type": "array", "items": {"type": "object", "title": "foxglove.TextAnnotation", "properties": {
        "timestamp": _TIME, "position": _POINT2, "text": {"type": "string"}, "font_size": {"type": "number"},
        "text_color": _COLOR, "background_color": _COLOR}}},
})


def time_of(timestamp_us: int) -> dict[str, int]:
    """A Foxglove ``time`` for a packet timestamp (negative timestamps clamp to 0; the exact value travels in the
    message's log time or ``graphflow_timestamp_us``)."""
    us = max(0, timestamp_us)
    return {"sec": us // US_PER_S, "nsec": (us % US_PER_S) * NS_PER_US}


def color(r: float, g: float, b: float, a: float = 1.0) -> dict[str, float]:
    return {"r": r, "g": g, "b": b, "a": a}


def points_annotation(timestamp_us: int, kind: int, xy: Any, rgba: dict[str, float],
                      thickness: float = 2.0) -> dict[str, Any]:
    """One PointsAnnotation; ``xy``: (N, 2) pixel coordinates."""
    return {"timestamp": time_of(timestamp_us), "type": kind,
            "points": [{"x": float(x), "y": float(y)} for x, y in xy],
            "outline_color": rgba, "outline_colors": [], "fill_color": rgba, "thickness": thickness}


def text_annotation(timestamp_us: int, x: float, y: float, text: str, rgba: dict[str, float],
                    font_size: float = 14.0) -> dict[str, Any]:
    return {"timestamp": time_of(timestamp_us), "position": {"x": float(x), "y": float(y)}, "text": text,
            "font_size": font_size, "text_color": rgba, "background_color": color(0, 0, 0, 0.6)}
