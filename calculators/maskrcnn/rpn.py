"""Region Proposal Network (Ren et al. 2015) over FPN levels, and its proposal layer.

The head is shared by all levels: a 3x3 conv + ReLU, then 1x1 convs giving A objectness logits and 4A box deltas
per cell. The proposal layer (torchvision's ``RegionProposalNetwork.filter_proposals``), per image:
top ``pre_nms_top_n`` anchors by objectness *per level* -> decode -> clip to the image -> drop boxes with a side
under 1e-3 px -> drop scores under ``score_thresh`` -> NMS at ``nms_thresh`` within each level -> keep the best
``post_nms_top_n`` over all levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .anchors import AnchorGenerator
from .box_coder import BoxCoder
from .box_ops import clip_boxes_to_image, remove_small_boxes
from .inference_ops import pointwise_conv
from .nms import batched_nms

MIN_PROPOSAL_SIZE = 1e-3


class RPNHead(nn.Module):
    """Shared conv head. Per level (N, C, H, W) -> logits (N, A, H, W), deltas (N, 4A, H, W)."""

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        # nested Sequential so the names read conv.0.0 like torchvision's Conv2dNormActivation
        self.conv = nn.Sequential(
            nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.ReLU(inplace=True))
        )
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, deltas = [], []
        for feature in features:
            hidden = self.conv(feature)
            # 1x1 convs; on channels-last features (the R50 body's, in eval mode) one matrix product each
            logits.append(pointwise_conv(hidden, self.cls_logits.weight, self.cls_logits.bias))
            deltas.append(pointwise_conv(hidden, self.bbox_pred.weight, self.bbox_pred.bias))
        return logits, deltas


def flatten_level_outputs(logits: list[Tensor], deltas: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Per level (N, A, H, W) and (N, 4A, H, W) -> (N, sum H*W*A) logits and (N, sum H*W*A, 4) deltas,
    ordered cell-major, anchor-minor like ``AnchorGenerator``."""
    flat_logits, flat_deltas = [], []
    for lg, dl in zip(logits, deltas, strict=True):
        n, a, h, w = lg.shape
        flat_logits.append(lg.permute(0, 2, 3, 1).reshape(n, h * w * a))
        flat_deltas.append(dl.reshape(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * a, 4))
    return torch.cat(flat_logits, dim=1), torch.cat(flat_deltas, dim=1)


@dataclass
class RPNOutput:
    """Everything the RPN computed for a batch: proposals for the heads, raw outputs for the losses."""

    proposals: list[Tensor]  # per image (P_i, 4) pixels in the resized image, by decreasing objectness
    scores: list[Tensor]  # per image (P_i,) objectness probabilities
    anchors: Tensor  # (A_total, 4), shared by all images of the padded batch
    logits: Tensor  # (N, A_total)
    deltas: Tensor  # (N, A_total, 4)


class RegionProposalNetwork(nn.Module):
    """RPN head + anchors + proposal layer. Only ``head`` has weights."""

    def __init__(
        self,
        in_channels: int,
        anchor_generator: AnchorGenerator,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = RPNHead(in_channels, anchor_generator.num_anchors_per_location()[0])
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh

    def forward(
        self,
        features: list[Tensor],
        padded_size: tuple[int, int],
        image_sizes: list[tuple[int, int]],
        pre_nms_top_n: int,
        post_nms_top_n: int,
    ) -> RPNOutput:
        """FPN levels (incl. "pool"), padded batch (H, W), each image's resized (h, w) -> ``RPNOutput``."""
        level_logits, level_deltas = self.head(features)
        anchors = self.anchor_generator(padded_size, [tuple(f.shape[-2:]) for f in features])
        anchors_per_level = [lg.shape[1] * lg.shape[2] * lg.shape[3] for lg in level_logits]
        logits, deltas = flatten_level_outputs(level_logits, level_deltas)
        num_images = logits.shape[0]
        boxes = self.box_coder.decode(deltas.detach().reshape(-1, 4), anchors.repeat(num_images, 1))
        boxes = boxes.reshape(num_images, -1, 4)
        proposals, scores = [], []
        for i in range(num_images):
            p, s = self.select_proposals(
                boxes[i], logits[i].detach(), anchors_per_level, image_sizes[i], pre_nms_top_n, post_nms_top_n
            )
            proposals.append(p)
            scores.append(s)
        return RPNOutput(proposals, scores, anchors, logits, deltas)

    def select_proposals(
        self,
        boxes: Tensor,
        logits: Tensor,
        anchors_per_level: list[int],
        image_size: tuple[int, int],
        pre_nms_top_n: int,
        post_nms_top_n: int,
    ) -> tuple[Tensor, Tensor]:
        """One image's decoded (A_total, 4) boxes and (A_total,) logits -> (P, 4) proposals, (P,) probabilities."""
        picked, levels = [], []
        offset = 0
        for level, count in enumerate(anchors_per_level):
            top = logits[offset : offset + count].topk(min(pre_nms_top_n, count)).indices + offset
            picked.append(top)
            levels.append(torch.full_like(top, level))
            offset += count
        index = torch.cat(picked)
        level_of = torch.cat(levels)
        boxes = clip_boxes_to_image(boxes[index], image_size)
        scores = torch.sigmoid(logits[index])
        keep = remove_small_boxes(boxes, MIN_PROPOSAL_SIZE)
        boxes, scores, level_of = boxes[keep], scores[keep], level_of[keep]
        keep = torch.where(scores >= self.score_thresh)[0]
        boxes, scores, level_of = boxes[keep], scores[keep], level_of[keep]
        keep = batched_nms(boxes, scores, level_of, self.nms_thresh)[:post_nms_top_n]
        return boxes[keep], scores[keep]
