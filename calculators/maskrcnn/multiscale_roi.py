"""Pooling RoIs from an FPN: pick each RoI's level, then RoIAlign (or RoIPool) on that level.

FPN paper eq. (1): an RoI of width w and height h goes to level k = floor(k0 + log2(sqrt(w h) / 224)), with
k0 = 4 (a 224^2 RoI, ImageNet's size, pools from C4/P4), clamped to the available levels. torchvision adds 1e-6
inside the floor. Each level's scale (1/4 ... 1/32) is inferred from its size against the largest image size,
rounded to a power of two, as torchvision's ``MultiScaleRoIAlign`` does.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from calculators.common.boxes import box_area

from .roi_align import roi_align
from .roi_pool import roi_pool

CANONICAL_SIZE = 224
CANONICAL_LEVEL = 4
LEVEL_EPS = 1e-6


def assign_fpn_levels(boxes: Tensor, min_level: int, max_level: int) -> Tensor:
    """(K, 4) boxes in pixels -> (K,) int64 level index counted from ``min_level`` (0 = finest)."""
    size = torch.sqrt(box_area(boxes))
    level = torch.floor(CANONICAL_LEVEL + torch.log2(size / CANONICAL_SIZE) + torch.tensor(LEVEL_EPS, dtype=size.dtype))
    return (level.clamp(min=min_level, max=max_level) - min_level).to(torch.int64)


def infer_scale(feature_size: tuple[int, int], image_size: tuple[int, int]) -> float:
    """Power-of-two scale of a feature map relative to the image, from the heights (torchvision's rule)."""
    approx = float(feature_size[0]) / float(image_size[0])
    return 2 ** float(torch.tensor(approx).log2().round())


class MultiScaleRoIPooler:
    """Pools (K, C, out, out) features for boxes from the FPN levels named ``level_names``. Holds no weights."""

    def __init__(
        self,
        level_names: tuple[str, ...],
        output_size: int,
        sampling_ratio: int,
        aligned: bool = False,
        mode: Literal["align", "pool"] = "align",
    ) -> None:
        if mode not in ("align", "pool"):
            raise ValueError(f"roi pooling mode must be 'align' or 'pool', got {mode!r}")
        self.level_names = level_names
        self.output_size = (output_size, output_size)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.mode = mode

    def _pool(self, feature: Tensor, rois: Tensor, scale: float) -> Tensor:
        if self.mode == "pool":
            return roi_pool(feature, rois, self.output_size, scale)
        return roi_align(feature, rois, self.output_size, scale, self.sampling_ratio, self.aligned)

    def __call__(self, features: dict[str, Tensor], boxes: list[Tensor], image_sizes: list[tuple[int, int]]) -> Tensor:
        """FPN levels, per-image (K_i, 4) boxes, resized image sizes (h, w) -> (sum K_i, C, out, out)."""
        levels = [features[name] for name in self.level_names]
        largest = (max(s[0] for s in image_sizes), max(s[1] for s in image_sizes))
        scales = [infer_scale(tuple(f.shape[-2:]), largest) for f in levels]
        rois = torch.cat(
            [torch.cat([torch.full((len(b), 1), i, dtype=b.dtype), b], dim=1) for i, b in enumerate(boxes)]
        )  # (K, 5)
        if len(levels) == 1:
            return self._pool(levels[0], rois, scales[0])
        min_level, max_level = -math.log2(scales[0]), -math.log2(scales[-1])
        level_of_roi = assign_fpn_levels(rois[:, 1:], int(min_level), int(max_level))
        channels = levels[0].shape[1]
        pooled = levels[0].new_zeros((rois.shape[0], channels, *self.output_size))
        for index, (feature, scale) in enumerate(zip(levels, scales, strict=True)):
            in_level = torch.where(level_of_roi == index)[0]
            if in_level.numel():
                pooled[in_level] = self._pool(feature, rois[in_level], scale)
        return pooled
