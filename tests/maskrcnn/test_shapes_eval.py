"""postprocess.paste_masks_subpixel inverts the training targets' geometry (what the shapes model pastes with)."""

from __future__ import annotations

import numpy as np
import torch

from calculators.maskrcnn.losses import mask_targets
from calculators.maskrcnn.postprocess import paste_masks_in_image, paste_masks_subpixel
from calculators.maskrcnn.shapes_dataset import ShapesDataset


def _iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return (pred & gt).sum(axis=(1, 2)) / (pred | gt).sum(axis=(1, 2))


def test_subpixel_paste_recovers_ground_truth_from_its_28x28_targets():
    """Perfect 28x28 mask targets pasted back: near-exact with the sub-pixel paste, lossy with integer boxes."""
    subpixel, integer = [], []
    for sample in ShapesDataset(4, 10):
        gt = sample.masks.astype(bool)
        boxes = torch.from_numpy(sample.boxes)
        targets = mask_targets(torch.from_numpy(sample.masks).float(), boxes, torch.arange(len(boxes)), 28)
        subpixel += list(_iou(paste_masks_subpixel(targets[:, None], boxes, (128, 128))[:, 0].numpy() >= 0.5, gt))
        integer += list(_iou(paste_masks_in_image(targets[:, None], boxes, (128, 128))[:, 0].numpy() >= 0.5, gt))
    assert np.mean(subpixel) > 0.98, f"sub-pixel paste round trip: mean IoU {np.mean(subpixel):.3f}"
    assert np.mean(integer) < np.mean(subpixel), "the integer-box paste is the lossy one"
