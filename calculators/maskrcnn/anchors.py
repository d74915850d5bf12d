"""Anchor boxes for the RPN: one size per FPN level, several aspect ratios, one set per feature-map cell.

Follows torchvision's ``AnchorGenerator``: a base anchor of size s and ratio r = h / w has
w = s / sqrt(r), h = s * sqrt(r), centred on (0, 0) and rounded to integers; cell (i, j) of a level whose
stride is (padded image size // feature size) shifts it by (j * stride_x, i * stride_y). Anchors are ordered
cell-major, ratio-minor, matching the (N, A*C, H, W) -> (N, H*W*A, C) flattening of the RPN head outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def base_anchors(sizes: tuple[int, ...], aspect_ratios: tuple[float, ...]) -> Tensor:
    """(len(ratios) * len(sizes), 4) anchors centred on the origin, [x1, y1, x2, y2], rounded."""
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


class AnchorGenerator:
    """Anchors of every FPN level for one padded image size. Holds no weights."""

    def __init__(self, sizes: tuple[tuple[int, ...], ...], aspect_ratios: tuple[tuple[float, ...], ...]) -> None:
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"{len(sizes)} anchor size groups but {len(aspect_ratios)} aspect-ratio groups")
        self.cell_anchors = [base_anchors(s, r) for s, r in zip(sizes, aspect_ratios, strict=True)]

    def num_anchors_per_location(self) -> list[int]:
        return [a.shape[0] for a in self.cell_anchors]

    def __call__(self, image_size: tuple[int, int], feature_sizes: list[tuple[int, int]]) -> Tensor:
        """Padded image (H, W) and each level's (h, w) -> (sum_l h_l * w_l * A_l, 4) anchors in pixels."""
        if len(feature_sizes) != len(self.cell_anchors):
            raise ValueError(f"{len(feature_sizes)} feature levels but {len(self.cell_anchors)} anchor groups")
        per_level = []
        for (fh, fw), cell in zip(feature_sizes, self.cell_anchors, strict=True):
            stride_y, stride_x = image_size[0] // fh, image_size[1] // fw
            shift_x = torch.arange(fw, dtype=torch.int64) * stride_x
            shift_y = torch.arange(fh, dtype=torch.int64) * stride_y
            grid_y, grid_x = torch.meshgrid(shift_y, shift_x, indexing="ij")
            grid_x, grid_y = grid_x.reshape(-1), grid_y.reshape(-1)
            shifts = torch.stack((grid_x, grid_y, grid_x, grid_y), dim=1)  # (h*w, 4)
            per_level.append((shifts[:, None, :] + cell[None, :, :]).reshape(-1, 4))  # (h*w*A, 4)
        return torch.cat(per_level)
