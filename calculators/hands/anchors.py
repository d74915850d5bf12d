"""SSD anchors for the BlazePalm detector, generated the way MediaPipe's ``SsdAnchorsCalculator`` does.

Parameters come from ``mediapipe/modules/palm_detection/palm_detection_cpu.pbtxt`` (v0.10.21): 4 layers, strides
[8, 16, 16, 16], one aspect ratio (1.0) plus the interpolated-scale anchor, ``fixed_anchor_size: true``. Layers with
the same stride are merged into one feature map, so a 192x192 input yields 24*24*2 + 12*12*6 = 2016 anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The subset of ``SsdAnchorsCalculatorOptions`` the palm model uses (values from palm_detection_cpu.pbtxt)."""

    input_size_width: int = 192
    input_size_height: int = 192
    num_layers: int = 4
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    strides: tuple[int, ...] = (8, 16, 16, 16)
    aspect_ratios: tuple[float, ...] = (1.0,)
    # proto default: each layer adds one extra anchor at the geometric mean of this and the next scale
    interpolated_scale_aspect_ratio: float = 1.0
    # the palm model regresses absolute sizes, so every anchor has w = h = 1
    fixed_anchor_size: bool = True


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def generate_anchors(opts: SsdAnchorOptions | None = None) -> np.ndarray:
    """Anchors as an (N, 4) float32 array of (x_center, y_center, width, height), normalized to the input.

    Order: per merged layer, row (y) major, then column (x), then the anchors of one cell, as in MediaPipe.
    """
    o = opts or SsdAnchorOptions()
    rows: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < o.num_layers:
        sizes: list[tuple[float, float]] = []  # (w, h) of each anchor of one cell
        last = layer
        while last < o.num_layers and o.strides[last] == o.strides[layer]:
            scale = _scale(o.min_scale, o.max_scale, last, len(o.strides))
            for ratio in o.aspect_ratios:
                sizes.append((scale * np.sqrt(ratio), scale / np.sqrt(ratio)))
            if o.interpolated_scale_aspect_ratio > 0.0:
                nxt = 1.0 if last == len(o.strides) - 1 else _scale(o.min_scale, o.max_scale, last + 1, len(o.strides))
                inter = np.sqrt(scale * nxt)
                r = o.interpolated_scale_aspect_ratio
                sizes.append((inter * np.sqrt(r), inter / np.sqrt(r)))
            last += 1
        stride = o.strides[layer]
        fm_h = int(np.ceil(o.input_size_height / stride))
        fm_w = int(np.ceil(o.input_size_width / stride))
        for y in range(fm_h):
            for x in range(fm_w):
                xc = (x + o.anchor_offset_x) / fm_w
                yc = (y + o.anchor_offset_y) / fm_h
                for w, h in sizes:
                    rows.append((xc, yc, 1.0, 1.0) if o.fixed_anchor_size else (xc, yc, w, h))
        layer = last
    return np.asarray(rows, dtype=np.float32)
