"""Mask R-CNN's training targets and multi-task loss (He et al. 2017, section 3): L = L_cls + L_box + L_mask,
plus the RPN's objectness and box losses (Ren et al. 2015).

Conventions follow torchvision: the RPN samples 256 anchors per image (half positive at most; IoU >= 0.7 or best
for some object is positive, < 0.3 negative), objectness is binary cross-entropy, its box loss smooth-L1
(beta 1/9) summed and divided by the number of sampled anchors. The box head samples 512 proposals per image
(ground-truth boxes included, 25% positive at IoU >= 0.5), cross-entropy over classes, smooth-L1 on the
ground-truth class's deltas divided by the number of sampled proposals. The mask loss is the mean per-pixel
binary cross-entropy of the ground-truth class's 28x28 logit map against the ground-truth mask RoIAligned onto the
proposal (positives only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from calculators.common.boxes import box_iou

from .box_coder import BoxCoder
from .roi_align import roi_align
from .sampling import BELOW_LOW, BETWEEN, match, sample_balanced

SMOOTH_L1_BETA = 1.0 / 9


def rpn_losses(
    anchors: Tensor,
    logits: Tensor,
    deltas: Tensor,
    gt_boxes: list[Tensor],
    coder: BoxCoder,
    fg_iou: float = 0.7,
    bg_iou: float = 0.3,
    batch_size_per_image: int = 256,
    positive_fraction: float = 0.5,
) -> dict[str, Tensor]:
    """(A, 4) anchors, (N, A) logits, (N, A, 4) deltas, per-image (G_i, 4) gt boxes -> objectness and box losses."""
    labels, targets = [], []
    for boxes in gt_boxes:
        if boxes.shape[0] == 0:
            labels.append(torch.zeros(anchors.shape[0]))
            targets.append(torch.zeros_like(anchors))
            continue
        matches = match(box_iou(boxes, anchors), fg_iou, bg_iou, allow_low_quality=True)
        label = (matches >= 0).to(torch.float32)
        label[matches == BETWEEN] = -1.0
        labels.append(label)
        targets.append(coder.encode(boxes[matches.clamp(min=0)], anchors))
    positive, negative = [], []
    offset = 0
    for label in labels:
        pos, neg = sample_balanced(label, batch_size_per_image, positive_fraction)
        positive.append(pos + offset)
        negative.append(neg + offset)
        offset += label.shape[0]
    pos_idx = torch.cat(positive)
    sampled = torch.cat([pos_idx, torch.cat(negative)])
    all_labels = torch.cat(labels)
    all_targets = torch.cat(targets)
    flat_deltas = deltas.reshape(-1, 4)
    box_loss = F.smooth_l1_loss(flat_deltas[pos_idx], all_targets[pos_idx], beta=SMOOTH_L1_BETA, reduction="sum") / max(
        sampled.numel(), 1
    )
    objectness_loss = F.binary_cross_entropy_with_logits(logits.reshape(-1)[sampled], all_labels[sampled])
    return {"loss_objectness": objectness_loss, "loss_rpn_box_reg": box_loss}


@dataclass
class ProposalSample:
    """The proposals the box head trains on, for one image."""

    boxes: Tensor  # (S, 4) proposals (ground-truth boxes included)
    labels: Tensor  # (S,) int64 class, 0 background
    matched_gt: Tensor  # (S,) int64 index of the matched ground-truth box (0 for background)
    regression_targets: Tensor  # (S, 4) deltas from each proposal to its matched box


def sample_proposals(
    proposals: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    coder: BoxCoder,
    fg_iou: float = 0.5,
    bg_iou: float = 0.5,
    batch_size_per_image: int = 512,
    positive_fraction: float = 0.25,
) -> ProposalSample:
    """One image's (P, 4) proposals and its (G, 4) boxes / (G,) labels -> a balanced labelled sample."""
    proposals = torch.cat([proposals.detach(), gt_boxes])
    if gt_boxes.shape[0] == 0:
        matched = torch.zeros(proposals.shape[0], dtype=torch.int64)
        labels = torch.zeros(proposals.shape[0], dtype=torch.int64)
        gt_boxes = torch.zeros((1, 4))
    else:
        matches = match(box_iou(gt_boxes, proposals), fg_iou, bg_iou, allow_low_quality=False)
        matched = matches.clamp(min=0)
        labels = gt_labels[matched].to(torch.int64)
        labels[matches == BELOW_LOW] = 0
        labels[matches == BETWEEN] = -1
    pos, neg = sample_balanced(labels, batch_size_per_image, positive_fraction)
    picked = torch.where(torch.zeros_like(labels, dtype=torch.bool).index_fill(0, torch.cat([pos, neg]), True))[0]
    boxes, labels, matched = proposals[picked], labels[picked], matched[picked]
    return ProposalSample(boxes, labels, matched, coder.encode(gt_boxes[matched], boxes))


def box_head_losses(
    class_logits: Tensor, box_deltas: Tensor, labels: Tensor, regression_targets: Tensor
) -> dict[str, Tensor]:
    """(S, K) logits, (S, K*4) deltas, (S,) labels, (S, 4) targets -> classification and box-regression losses."""
    classification = F.cross_entropy(class_logits, labels)
    positive = torch.where(labels > 0)[0]
    deltas = box_deltas.reshape(box_deltas.shape[0], -1, 4)
    box_loss = F.smooth_l1_loss(
        deltas[positive, labels[positive]], regression_targets[positive], beta=SMOOTH_L1_BETA, reduction="sum"
    ) / max(labels.numel(), 1)
    return {"loss_classifier": classification, "loss_box_reg": box_loss}


def mask_targets(gt_masks: Tensor, boxes: Tensor, matched_gt: Tensor, size: int) -> Tensor:
    """(G, H, W) masks, (P, 4) positive proposals, (P,) their gt index -> (P, size, size) soft targets in [0, 1]."""
    rois = torch.cat([matched_gt[:, None].to(boxes.dtype), boxes], dim=1)
    return roi_align(gt_masks[:, None].to(boxes.dtype), rois, (size, size), 1.0)[:, 0]


def mask_loss(mask_logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """(P, K, M, M) logits, (P,) gt classes, (P, M, M) targets -> mean binary cross-entropy of the gt class map."""
    if targets.numel() == 0:
        return mask_logits.sum() * 0
    picked = mask_logits[torch.arange(labels.shape[0]), labels]
    return F.binary_cross_entropy_with_logits(picked, targets)
