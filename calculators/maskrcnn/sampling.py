"""Training-time assignment of anchors/proposals to ground truth, and balanced sampling of them.

``match`` is torchvision's ``Matcher``: each prediction takes its best-IoU ground-truth box; below
``low`` it becomes background (-1), between ``low`` and ``high`` it is ignored (-2). With
``allow_low_quality`` every ground-truth box also keeps the predictions that overlap it best, even under
``high`` (the RPN uses this so that every object has at least one positive anchor).
"""

from __future__ import annotations

import torch
from torch import Tensor

BELOW_LOW = -1
BETWEEN = -2


def match(iou: Tensor, high: float, low: float, allow_low_quality: bool) -> Tensor:
    """(G, N) IoU of G ground-truth boxes with N predictions -> (N,) int64 gt index, or BELOW_LOW / BETWEEN."""
    if iou.shape[0] == 0:
        return torch.full((iou.shape[1],), BELOW_LOW, dtype=torch.int64)
    best_iou, matches = iou.max(dim=0)
    all_matches = matches.clone()
    matches[best_iou < low] = BELOW_LOW
    matches[(best_iou >= low) & (best_iou < high)] = BETWEEN
    if allow_low_quality:
        best_per_gt = iou.max(dim=1).values  # (G,)
        pred_idx = torch.where(iou == best_per_gt[:, None])[1]
        matches[pred_idx] = all_matches[pred_idx]
    return matches


def sample_balanced(labels: Tensor, batch_size: int, positive_fraction: float) -> tuple[Tensor, Tensor]:
    """(N,) labels (>= 1 positive, 0 negative, -1 ignored) -> (positive indices, negative indices).

    Takes up to ``batch_size * positive_fraction`` random positives and fills the rest with random negatives.
    """
    positive = torch.where(labels >= 1)[0]
    negative = torch.where(labels == 0)[0]
    num_pos = min(positive.numel(), int(batch_size * positive_fraction))
    num_neg = min(negative.numel(), batch_size - num_pos)
    pos_pick = positive[torch.randperm(positive.numel())[:num_pos]]
    neg_pick = negative[torch.randperm(negative.numel())[:num_neg]]
    return pos_pick, neg_pick
