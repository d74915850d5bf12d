"""Mask R-CNN (He et al. 2017) in plain PyTorch, weight-compatible with torchvision's ``maskrcnn_resnet50_fpn``.

The pipeline, as ``forward`` reads:
    normalise + resize + pad -> backbone + FPN -> RPN proposals -> box branch + per-class NMS -> mask branch
    -> boxes and masks back in the original image.
Images are float (3, H, W) RGB in [0, 1]; ``forward`` always returns detections (never losses, in any mode);
``losses`` computes the training loss dict.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from calculators.common.checkpoints import load_checked, read_state_dict

from .anchors import AnchorGenerator
from .backbones import build_backbone
from .losses import box_head_losses, mask_loss, mask_targets, rpn_losses, sample_proposals
from .postprocess import paste_masks_in_image, paste_masks_subpixel, resize_boxes
from .roi_heads import RoIHeads
from .rpn import RegionProposalNetwork
from .transform import MaskResize, batch_images, prepare_image, resize_masks


@dataclass
class MaskRCNNConfig:
    """Hyper-parameters; defaults are torchvision's ``maskrcnn_resnet50_fpn`` (COCO: 91 classes incl. background)."""

    num_classes: int = 91  # including background (label 0)
    backbone: str = "resnet50"  # a name in backbones.BACKBONES; ignored when a backbone module is passed in
    trainable_backbone_layers: int = 3
    fpn_channels: int = 256
    min_size: int = 800  # shorter side after resizing, unless the longer would exceed max_size
    max_size: int = 1333
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    anchor_sizes: tuple[tuple[int, ...], ...] = ((32,), (64,), (128,), (256,), (512,))  # one group per level
    aspect_ratios: tuple[tuple[float, ...], ...] = ((0.5, 1.0, 2.0),) * 5  # height / width
    rpn_pre_nms_top_n_train: int = 2000  # per FPN level
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_train: int = 2000  # per image
    rpn_post_nms_top_n_test: int = 1000
    rpn_nms_thresh: float = 0.7
    rpn_fg_iou_thresh: float = 0.7
    rpn_bg_iou_thresh: float = 0.3
    rpn_batch_size_per_image: int = 256
    rpn_positive_fraction: float = 0.5
    rpn_score_thresh: float = 0.0
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 100
    box_fg_iou_thresh: float = 0.5
    box_bg_iou_thresh: float = 0.5
    box_batch_size_per_image: int = 512
    box_positive_fraction: float = 0.25
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    representation_size: int = 1024  # box head FC width
    mask_layers: tuple[int, ...] = (256, 256, 256, 256)  # mask head conv widths (the CPU cost lever)
    roi_pool: Literal["align", "pool"] = "align"  # "pool" = Fast R-CNN's quantised RoIPool, for ablations
    sampling_ratio: int = 2
    aligned: bool = False  # torchvision's MultiScaleRoIAlign; Detectron2's ROIAlignV2 is True
    mask_paste: Literal["torchvision", "subpixel"] = "torchvision"  # "subpixel": no rounding of boxes to pixels
    gt_mask_resize: MaskResize = "nearest"  # training targets; "nearest-exact" keeps masks on their boxes at 1.5x
    # inference: re-apply the box head to its own detections this many times (iterative box regression, Gidaris
    # & Komodakis 2015); 0 = torchvision's single pass
    box_refine_steps: int = 0

    @classmethod
    def from_fields(cls, **values: object) -> MaskRCNNConfig:
        """The config with ``values`` set (the rest default); a name that is no field is a ``ValueError``
        listing every unknown one (a typo in an override must not be dropped silently)."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MaskRCNNConfig fields: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]


class MaskRCNN(nn.Module):
    """Mask R-CNN; submodules ``backbone``, ``rpn``, ``roi_heads`` carry torchvision's checkpoint names."""

    def __init__(self, config: MaskRCNNConfig, backbone: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        if backbone is None:
            backbone = build_backbone(config.backbone, config.fpn_channels, config.trainable_backbone_layers)
        channels = int(backbone.out_channels)
        self.backbone = backbone
        self.rpn = RegionProposalNetwork(
            channels,
            AnchorGenerator(config.anchor_sizes, config.aspect_ratios),
            config.rpn_nms_thresh,
            config.rpn_score_thresh,
        )
        self.roi_heads = RoIHeads(
            channels,
            config.num_classes,
            config.representation_size,
            config.mask_layers,
            config.bbox_reg_weights,
            config.sampling_ratio,
            config.aligned,
            config.roi_pool,
        )

    def preprocess(self, images: list[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
        """[(3, H_i, W_i)] in [0, 1] -> (N, 3, H, W) normalised padded batch and resized sizes [(h_i, w_i)]."""
        c = self.config
        return batch_images([prepare_image(img, c.image_mean, c.image_std, c.min_size, c.max_size) for img in images])

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """[(3, H_i, W_i)] float RGB in [0, 1] -> per image {boxes (D, 4) x1y1x2y2 pixels of the original image,
        labels (D,) int64, scores (D,), masks (D, 1, H_i, W_i) probabilities}."""
        c = self.config
        original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        batch, sizes = self.preprocess(images)
        features = self.backbone(batch)
        rpn = self.rpn(
            list(features.values()), tuple(batch.shape[-2:]), sizes, c.rpn_pre_nms_top_n_test, c.rpn_post_nms_top_n_test
        )
        detections = self.roi_heads.detect(
            features, rpn.proposals, sizes, c.box_score_thresh, c.box_nms_thresh, c.box_detections_per_img,
            c.box_refine_steps,
        )
        for det, size, original in zip(detections, sizes, original_sizes, strict=True):
            det["boxes"] = resize_boxes(det["boxes"], size, original)
            paste = paste_masks_subpixel if c.mask_paste == "subpixel" else paste_masks_in_image
            det["masks"] = paste(det["masks"], det["boxes"], original)
        return detections

    def losses(self, images: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Training loss terms for images and targets {boxes (G, 4) pixels, labels (G,) int64 >= 1,
        masks (G, H, W) uint8}: loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg, loss_mask."""
        c = self.config
        batch, sizes = self.preprocess(images)
        gt_boxes, gt_masks = [], []
        for img, target, size in zip(images, targets, sizes, strict=True):
            h, w = int(img.shape[-2]), int(img.shape[-1])
            gt_boxes.append(resize_boxes(target["boxes"].to(torch.float32), (h, w), size))
            gt_masks.append(resize_masks(target["masks"], h, w, c.min_size, c.max_size, c.gt_mask_resize))
        features = self.backbone(batch)
        rpn = self.rpn(
            list(features.values()),
            tuple(batch.shape[-2:]),
            sizes,
            c.rpn_pre_nms_top_n_train,
            c.rpn_post_nms_top_n_train,
        )
        losses = rpn_losses(
            rpn.anchors,
            rpn.logits,
            rpn.deltas,
            gt_boxes,
            self.rpn.box_coder,
            c.rpn_fg_iou_thresh,
            c.rpn_bg_iou_thresh,
            c.rpn_batch_size_per_image,
            c.rpn_positive_fraction,
        )
        samples = [
            sample_proposals(
                p,
                b,
                t["labels"],
                self.roi_heads.box_coder,
                c.box_fg_iou_thresh,
                c.box_bg_iou_thresh,
                c.box_batch_size_per_image,
                c.box_positive_fraction,
            )
            for p, b, t in zip(rpn.proposals, gt_boxes, targets, strict=True)
        ]
        _, logits, deltas = self.roi_heads.box_outputs(features, [s.boxes for s in samples], sizes)
        losses.update(
            box_head_losses(
                logits,
                deltas,
                torch.cat([s.labels for s in samples]),
                torch.cat([s.regression_targets for s in samples]),
            )
        )
        positives = [torch.where(s.labels > 0)[0] for s in samples]
        _, mask_logits = self.roi_heads.mask_logits(
            features, [s.boxes[p] for s, p in zip(samples, positives, strict=True)], sizes
        )
        targets_28 = [
            mask_targets(m, s.boxes[p], s.matched_gt[p], mask_logits.shape[-1])
            for m, s, p in zip(gt_masks, samples, positives, strict=True)
        ]
        labels = torch.cat([s.labels[p] for s, p in zip(samples, positives, strict=True)])
        losses["loss_mask"] = mask_loss(mask_logits, labels, torch.cat(targets_28))
        return losses

    @classmethod
    def from_torchvision_checkpoint(cls, path: str | Path, **config_overrides: object) -> MaskRCNN:
        """Build the ResNet-50-FPN model and load a torchvision ``maskrcnn_resnet50_fpn`` state dict strictly.

        ``path`` holds a state dict (or a dict with a "model" entry, as torchvision's reference training scripts
        save). ``num_classes`` is read from the checkpoint unless overridden.
        """
        state = read_state_dict(path, nested_key="model")  # weights_only; one-line errors
        # checkpoints saved from trainable nn.BatchNorm2d carry step counters; frozen BN has no use for them
        state = {k: v for k, v in state.items() if not k.endswith(".num_batches_tracked")}
        cls_score = state.get("roi_heads.box_predictor.cls_score.weight")
        if cls_score is not None:
            config_overrides.setdefault("num_classes", int(cls_score.shape[0]))
        model = cls(MaskRCNNConfig.from_fields(**config_overrides))
        load_checked(model, state, "MaskRCNN (torchvision maskrcnn_resnet50_fpn names)", path)
        return model.eval()
