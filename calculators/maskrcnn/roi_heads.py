"""The second stage of Mask R-CNN: RoI pooling, the box branch, the mask branch, and detection selection.

Submodule names (``box_head``, ``box_predictor``, ``mask_head``, ``mask_predictor``) match torchvision's
``RoIHeads`` so ``roi_heads.*`` checkpoint tensors load unchanged. Boxes are pooled at 7x7 and masks at 14x14
(``sampling_ratio`` 2) from FPN levels "0".."3".
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .box_coder import BoxCoder
from .box_head import FastRCNNPredictor, TwoMLPHead
from .box_ops import clip_boxes_to_image
from .mask_head import MaskHead, MaskPredictor
from .multiscale_roi import MultiScaleRoIPooler
from .postprocess import select_class_masks, select_detections

POOLED_LEVELS = ("0", "1", "2", "3")
BOX_POOL_SIZE = 7
MASK_POOL_SIZE = 14


class RoIHeads(nn.Module):
    """Box and mask branches over FPN features for a set of proposals."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        representation_size: int = 1024,
        mask_layers: tuple[int, ...] = (256, 256, 256, 256),
        box_coder_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
        sampling_ratio: int = 2,
        aligned: bool = False,
        pool_mode: Literal["align", "pool"] = "align",
    ) -> None:
        super().__init__()
        self.box_roi_pool = MultiScaleRoIPooler(POOLED_LEVELS, BOX_POOL_SIZE, sampling_ratio, aligned, pool_mode)
        self.mask_roi_pool = MultiScaleRoIPooler(POOLED_LEVELS, MASK_POOL_SIZE, sampling_ratio, aligned, pool_mode)
        self.box_head = TwoMLPHead(in_channels * BOX_POOL_SIZE**2, representation_size)
        self.box_predictor = FastRCNNPredictor(representation_size, num_classes)
        self.mask_head = MaskHead(in_channels, mask_layers)
        self.mask_predictor = MaskPredictor(mask_layers[-1], mask_layers[-1], num_classes)
        self.box_coder = BoxCoder(box_coder_weights)

    def box_outputs(
        self, features: dict[str, Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per-image (P_i, 4) proposals -> pooled (P, C, 7, 7), class logits (P, K), box deltas (P, K*4)."""
        pooled = self.box_roi_pool(features, proposals, image_sizes)
        logits, deltas = self.box_predictor(self.box_head(pooled))
        return pooled, logits, deltas

    def mask_logits(
        self, features: dict[str, Tensor], boxes: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> tuple[Tensor, Tensor]:
        """Per-image (D_i, 4) boxes -> pooled (D, C, 14, 14) and mask logits (D, K, 28, 28)."""
        pooled = self.mask_roi_pool(features, boxes, image_sizes)
        return pooled, self.mask_predictor(self.mask_head(pooled))

    def refine_boxes(
        self, features: dict[str, Tensor], detections: list[dict[str, Tensor]], image_sizes: list[tuple[int, int]]
    ) -> None:
        """One step of iterative box regression: pool each detection's box, apply the box head again and replace
        the box by its regression for the detection's class (clipped to the image). Scores and labels stay."""
        boxes = [d["boxes"] for d in detections]
        if sum(len(b) for b in boxes) == 0:
            return
        _, _, deltas = self.box_outputs(features, boxes, image_sizes)
        refined = self.box_coder.decode(deltas, torch.cat(boxes))  # (D, K, 4)
        labels = torch.cat([d["labels"] for d in detections])
        refined = refined[torch.arange(len(labels)), labels]
        for det, new, size in zip(detections, refined.split([len(b) for b in boxes]), image_sizes, strict=True):
            det["boxes"] = clip_boxes_to_image(new, size)

    def detect(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_sizes: list[tuple[int, int]],
        score_thresh: float,
        nms_thresh: float,
        detections_per_img: int,
        refine_steps: int = 0,
    ) -> list[dict[str, Tensor]]:
        """Proposals -> per image {boxes (D, 4), scores (D,), labels (D,), masks (D, 1, 28, 28) probabilities},
        boxes in the resized image's pixels. ``refine_steps`` > 0 re-applies the box head (``refine_boxes``)."""
        _, logits, deltas = self.box_outputs(features, proposals, image_sizes)
        boxes = self.box_coder.decode(deltas, torch.cat(proposals))  # (P, K, 4)
        scores = torch.softmax(logits, dim=-1)  # (P, K)
        detections = []
        for b, s, size in zip(
            boxes.split([len(p) for p in proposals]),
            scores.split([len(p) for p in proposals]),
            image_sizes,
            strict=True,
        ):
            det_boxes, det_scores, det_labels = select_detections(
                b, s, size, score_thresh, nms_thresh, detections_per_img
            )
            detections.append({"boxes": det_boxes, "scores": det_scores, "labels": det_labels})
        for _ in range(refine_steps):
            self.refine_boxes(features, detections, image_sizes)
        _, mask_logits = self.mask_logits(features, [d["boxes"] for d in detections], image_sizes)
        masks = select_class_masks(mask_logits, torch.cat([d["labels"] for d in detections]))
        for det, m in zip(detections, masks.split([len(d["boxes"]) for d in detections]), strict=True):
            det["masks"] = m
        return detections
