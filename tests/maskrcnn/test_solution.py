"""InstanceSegmenter: the solution API over the MaskRcnn graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
from calculators.maskrcnn.shapes_dataset import CLASS_NAMES, ShapesDataset
from calculators.solutions import InstanceSegmenter
from calculators.types import Instances


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_segmenter_finds_the_shapes_of_a_scene():
    scenes = list(ShapesDataset(2_000_005, 4))
    found, total = 0, 0
    with InstanceSegmenter(checkpoint="shapes", score_threshold=0.5, max_detections=10) as segmenter:
        assert isinstance(segmenter.model, MaskRCNN) and isinstance(segmenter.model, nn.Module)
        assert segmenter.class_names == CLASS_NAMES
        for scene in scenes:
            inst = segmenter.process(scene.image)
            assert isinstance(inst, Instances)
            assert inst.masks.shape == (len(inst), 128, 128) and len(inst) <= 10
            binary = inst.masks >= 0.5
            for gt_mask, gt_label in zip(scene.masks.astype(bool), scene.labels, strict=True):
                ious = (binary & gt_mask).sum(axis=(1, 2)) / np.maximum((binary | gt_mask).sum(axis=(1, 2)), 1)
                total += 1
                found += bool(len(ious)) and ious.max() > 0.5 and inst.labels[int(np.argmax(ious))] == gt_label
            for mask, (x1, y1, x2, y2) in zip(binary, inst.boxes, strict=True):
                ys, xs = np.nonzero(mask)  # a mask is pasted into its box, enlarged by one 28x28 cell each side
                tol = 2 + max(x2 - x1, y2 - y1) / 14
                assert x1 - tol <= xs.min() and xs.max() + 1 <= x2 + tol, "the mask lies in its box"
                assert y1 - tol <= ys.min() and ys.max() + 1 <= y2 + tol, "the mask lies in its box"
    assert found / total >= 0.8, f"{found} of {total} shapes found with the right class"


def test_masks_come_back_at_the_input_resolution():
    wide = np.zeros((96, 200, 3), np.uint8)
    wide[:] = (30, 60, 90)
    wide[20:70, 40:90] = (250, 200, 20)  # a square
    with InstanceSegmenter(score_threshold=0.3) as segmenter:
        inst = segmenter.process(wide)
    assert inst.image_size == (96, 200) and inst.masks.shape[1:] == (96, 200)


def test_from_torchvision_checkpoint(tmp_path):
    """A torchvision-layout state dict (here: ours, seeded, 3 classes) loads through the solution."""
    torch.manual_seed(0)
    reference = MaskRCNN(MaskRCNNConfig(num_classes=3, min_size=64, max_size=64))
    path = tmp_path / "maskrcnn_resnet50_fpn.pth"
    torch.save(reference.state_dict(), path)
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with InstanceSegmenter.from_torchvision_checkpoint(
        path, score_threshold=0.0, max_detections=5, input_size=64
    ) as segmenter:
        assert segmenter.model.config.num_classes == 3 and segmenter.model.config.min_size == 64
        for name, tensor in reference.state_dict().items():
            assert torch.equal(segmenter.model.state_dict()[name], tensor), name
        inst = segmenter.process(image)
    assert len(inst) <= 5 and inst.masks.shape == (len(inst), 64, 64)
