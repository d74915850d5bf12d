"""Axis-aligned box arithmetic of the RPN and the detections (IoU and area: ``calculators.common.boxes``).

Boxes are (N, 4) float tensors [x1, y1, x2, y2] in pixels, with x2/y2 the exclusive right/bottom edges.
"""

from __future__ import annotations

import torch
from torch import Tensor


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clamp (..., 4) boxes to an image of ``size`` = (height, width): x to [0, W], y to [0, H]."""
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices (K,) of the (N, 4) boxes whose width and height are both >= ``min_size``."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return torch.where((widths >= min_size) & (heights >= min_size))[0]
