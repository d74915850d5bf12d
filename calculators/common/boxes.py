"""Intersection over union of axis-aligned boxes: the one implementation every model family calls.

Boxes are (N, 4) [x1, y1, x2, y2] with x2/y2 the exclusive right/bottom edges, in any unit (pixels or normalised),
as float ``torch.Tensor`` or ``np.ndarray``; the result has the input's type. Used by Mask R-CNN (anchor matching,
NMS), the palm detector's weighted NMS, hand ROI association and CAM localization scoring.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

BoxArray = TypeVar("BoxArray", Tensor, np.ndarray)


def box_area(boxes: Tensor) -> Tensor:
    """(N, 4) -> (N,) areas, (x2 - x1) * (y2 - y1)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: BoxArray, boxes2: BoxArray) -> BoxArray:
    """Pairwise IoU: (N, 4), (M, 4) -> (N, M). Boxes that do not overlap, and pairs whose union is empty
    (degenerate boxes), have IoU 0. NumPy inputs give a NumPy result (computed by the same torch code)."""
    if isinstance(boxes1, np.ndarray):
        return box_iou(torch.from_numpy(np.asarray(boxes1)), torch.from_numpy(np.asarray(boxes2))).numpy()
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    # one (N, M) plane per coordinate: about 3x faster than broadcasting (N, M, 2) pairs, same arithmetic
    inter_w = torch.min(boxes1[:, 2, None], boxes2[None, :, 2]) - torch.max(boxes1[:, 0, None], boxes2[None, :, 0])
    inter_h = torch.min(boxes1[:, 3, None], boxes2[None, :, 3]) - torch.max(boxes1[:, 1, None], boxes2[None, :, 1])
    inter = inter_w.clamp_(min=0) * inter_h.clamp_(min=0)
    union = area1[:, None] + area2[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros((), dtype=inter.dtype))
