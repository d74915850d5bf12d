"""Greedy non-maximum suppression, exact and vectorised.

Greedy NMS keeps the highest-scoring box, drops every box overlapping it by IoU > threshold, and repeats.
Its answer is the unique ``keep`` with  keep[i] = not any(keep[j] and IoU(j, i) > t for j ranked before i).

``nms`` computes that fixed point block by block: boxes are sorted by score and cut into blocks of
``block_size``; a block's boxes are first suppressed by every box kept in earlier blocks (one IoU matrix, one
``any``), then the block itself is resolved by iterating the fixed-point equation with a (B, B) IoU matrix.
Each iteration settles at least one more box, and in practice a block settles in a few iterations, so Python
runs a handful of tensor ops per block instead of one loop step per box (``nms_loop``, kept as the reference).
Ties in score are broken by input order (stable sort), like torchvision's CPU kernel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from calculators.common.boxes import box_iou

PER_GROUP_ABOVE = 1000  # batched_nms switches from the coordinate-offset trick to one nms per group


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, block_size: int = 256) -> Tensor:
    """(N, 4) boxes, (N,) scores -> (K,) int64 indices of kept boxes, by decreasing score."""
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True)[1]
    boxes = boxes[order]
    num = boxes.shape[0]
    keep = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    for start in range(0, num, block_size):
        stop = min(start + block_size, num)
        block = boxes[start:stop]
        kept_before = boxes[:start][keep[:start]]
        if kept_before.shape[0] > 0:
            alive = ~(box_iou(kept_before, block) > iou_threshold).any(dim=0)  # (B,)
        else:
            alive = torch.ones(stop - start, dtype=torch.bool, device=boxes.device)
        # overlaps[j, i]: box j ranks before box i in this block and suppresses it
        overlaps = torch.triu(box_iou(block, block) > iou_threshold, diagonal=1)  # (B, B)
        block_keep = alive.clone()
        while True:
            suppressed = (overlaps & block_keep[:, None]).any(dim=0)
            updated = alive & ~suppressed
            if torch.equal(updated, block_keep):
                break
            block_keep = updated
        keep[start:stop] = block_keep
    return order[keep]


def nms_loop(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """The textbook greedy loop, one Python step per box: the reference ``nms`` is tested and timed against."""
    order = torch.sort(scores, descending=True, stable=True)[1].tolist()
    removed = [False] * len(order)
    keep = []
    for rank, i in enumerate(order):
        if removed[rank]:
            continue
        keep.append(i)
        rest = order[rank + 1 :]
        if not rest:
            break
        ious = box_iou(boxes[i : i + 1], boxes[rest])[0]
        for offset, iou in enumerate(ious.tolist()):
            if iou > iou_threshold:
                removed[rank + 1 + offset] = True
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """NMS independently within each group (class, or FPN level), in one call.

    Up to ``PER_GROUP_ABOVE`` boxes, each group's boxes are shifted by group * (max coordinate + 1) so that
    boxes of different groups never overlap and one ``nms`` call does all groups; above it, ``nms`` runs per
    group (torchvision switches likewise, at 4000 coordinates). Returns (K,) indices into ``boxes``, by
    decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    if boxes.shape[0] <= PER_GROUP_ABOVE:
        offsets = groups.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, iou_threshold)
    # many boxes (e.g. 1000 proposals x 90 classes): separate runs avoid IoU blocks between groups that never overlap
    keep = torch.cat([index[nms(boxes[index], scores[index], iou_threshold)] for index in _group_indices(groups)])
    return keep[torch.sort(scores[keep], descending=True, stable=True)[1]]


def _group_indices(groups: Tensor) -> list[Tensor]:
    order = torch.sort(groups, stable=True)[1]
    counts = torch.unique_consecutive(groups[order], return_counts=True)[1]
    return list(order.split(counts.tolist()))
