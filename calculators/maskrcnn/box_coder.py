"""Box <-> regression-delta encoding of R-CNN (Girshick et al. 2014, appendix C), with per-coordinate weights.

A delta (dx, dy, dw, dh) moves a reference box's centre by (dx * w, dy * h) / weights[:2] and scales its size
by exp(dw / weights[2]), exp(dh / weights[3]). The RPN uses weights (1, 1, 1, 1); the box head (10, 10, 5, 5)
(torchvision ``RPN``/``RoIHeads`` defaults). dw/dh are clamped at log(1000 / 16) before exp, as torchvision does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DEFAULT_SCALE_CLIP = math.log(1000.0 / 16)


class BoxCoder:
    """Encodes target boxes relative to reference boxes and decodes deltas back to boxes."""

    def __init__(self, weights: tuple[float, float, float, float], scale_clip: float = DEFAULT_SCALE_CLIP) -> None:
        self.weights = weights
        self.scale_clip = scale_clip

    def encode(self, targets: Tensor, references: Tensor) -> Tensor:
        """(N, 4) target boxes, (N, 4) reference boxes -> (N, 4) deltas."""
        wx, wy, ww, wh = self.weights
        ref_w = references[:, 2] - references[:, 0]
        ref_h = references[:, 3] - references[:, 1]
        ref_cx = references[:, 0] + 0.5 * ref_w
        ref_cy = references[:, 1] + 0.5 * ref_h
        gt_w = targets[:, 2] - targets[:, 0]
        gt_h = targets[:, 3] - targets[:, 1]
        gt_cx = targets[:, 0] + 0.5 * gt_w
        gt_cy = targets[:, 1] + 0.5 * gt_h
        dx = wx * (gt_cx - ref_cx) / ref_w
        dy = wy * (gt_cy - ref_cy) / ref_h
        dw = ww * torch.log(gt_w / ref_w)
        dh = wh * torch.log(gt_h / ref_h)
        return torch.stack((dx, dy, dw, dh), dim=1)

    def decode(self, deltas: Tensor, references: Tensor) -> Tensor:
        """(N, K*4) deltas (K boxes per reference, e.g. one per class), (N, 4) references -> (N, K, 4) boxes."""
        references = references.to(deltas.dtype)
        wx, wy, ww, wh = self.weights
        widths = references[:, 2] - references[:, 0]
        heights = references[:, 3] - references[:, 1]
        ctr_x = references[:, 0] + 0.5 * widths
        ctr_y = references[:, 1] + 0.5 * heights
        dx = deltas[:, 0::4] / wx  # (N, K)
        dy = deltas[:, 1::4] / wy
        dw = (deltas[:, 2::4] / ww).clamp(max=self.scale_clip)
        dh = (deltas[:, 3::4] / wh).clamp(max=self.scale_clip)
        pred_cx = dx * widths[:, None] + ctr_x[:, None]
        pred_cy = dy * heights[:, None] + ctr_y[:, None]
        half_w = 0.5 * torch.exp(dw) * widths[:, None]
        half_h = 0.5 * torch.exp(dh) * heights[:, None]
        return torch.stack((pred_cx - half_w, pred_cy - half_h, pred_cx + half_w, pred_cy + half_h), dim=2)
