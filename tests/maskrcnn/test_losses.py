"""Loss terms on hand-made inputs, the matcher's rules, and a short training run that must lower the loss.

Parity of every loss term with torchvision under the same seed is in test_parity.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from calculators.maskrcnn.box_coder import BoxCoder
from calculators.maskrcnn.fpn import BackboneWithFPN
from calculators.maskrcnn.losses import box_head_losses, mask_loss, mask_targets, sample_proposals
from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
from calculators.maskrcnn.sampling import BELOW_LOW, BETWEEN, match
from calculators.maskrcnn.training import train_one_epoch


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def test_matcher_thresholds_and_low_quality_matches() -> None:
    iou = torch.tensor([[0.9, 0.5, 0.2, 0.1], [0.1, 0.6, 0.25, 0.0]])  # 2 gt x 4 predictions
    assert match(iou, 0.7, 0.3, allow_low_quality=False).tolist() == [0, BETWEEN, BELOW_LOW, BELOW_LOW]
    # gt 1's best prediction (IoU 0.6) becomes its match even though 0.6 < 0.7
    assert match(iou, 0.7, 0.3, allow_low_quality=True).tolist() == [0, 1, BELOW_LOW, BELOW_LOW]


def test_box_head_losses_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    deltas = torch.zeros((2, 12))
    deltas[1, 8:12] = torch.tensor([0.5, -0.05, 0.0, 0.0])  # class 2's deltas for the positive
    labels = torch.tensor([0, 2])
    targets = torch.zeros((2, 4))
    losses = box_head_losses(logits, deltas, labels, targets)
    expected_ce = 0.5 * (F.cross_entropy(logits[:1], labels[:1]) + F.cross_entropy(logits[1:], labels[1:]))
    assert float(losses["loss_classifier"]) == pytest.approx(float(expected_ce), rel=1e-6)
    # smooth-L1 with beta 1/9: |0.5| -> 0.5 - 1/18; |0.05| < 1/9 -> 0.5 * 0.05^2 * 9; divided by 2 sampled
    expected_box = ((0.5 - 1 / 18) + 0.5 * 0.05**2 * 9) / 2
    assert float(losses["loss_box_reg"]) == pytest.approx(expected_box, rel=1e-5)


def test_mask_loss_uses_the_ground_truth_class_map_only() -> None:
    logits = torch.zeros((1, 3, 28, 28))
    logits[0, 1] = 5.0  # a confident map for class 1
    logits[0, 2] = -7.0  # never read: the label is 1
    target = torch.ones((1, 28, 28))
    loss = mask_loss(logits, torch.tensor([1]), target)
    assert float(loss) == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-5)


def test_mask_loss_without_positives_is_zero_and_differentiable() -> None:
    logits = torch.randn((0, 3, 28, 28), requires_grad=True)
    loss = mask_loss(logits, torch.zeros(0, dtype=torch.int64), torch.zeros((0, 28, 28)))
    loss.backward()
    assert float(loss.detach()) == 0.0


def test_mask_targets_are_the_gt_mask_cropped_to_the_proposal() -> None:
    gt = torch.zeros((1, 64, 64), dtype=torch.uint8)
    gt[0, 16:48, 16:32] = 1  # left half of the box [16, 16, 48, 48]
    target = mask_targets(gt, torch.tensor([[16.0, 16.0, 48.0, 48.0]]), torch.tensor([0]), 28)
    assert target.shape == (1, 28, 28)
    # aligned=False samples the last row/column of bins at up to 47.9 px, blending in the zero row/column 48
    assert float(target[0, :27, :13].min()) > 0.99 and float(target[0, :, 15:].max()) < 0.01


def test_sampled_proposals_include_ground_truth_and_encode_their_targets() -> None:
    torch.manual_seed(0)
    gt = torch.tensor([[10.0, 10.0, 50.0, 50.0]])
    proposals = torch.tensor([[12.0, 11.0, 50.0, 52.0], [100.0, 100.0, 120.0, 130.0]])
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    sample = sample_proposals(proposals, gt, torch.tensor([4]), coder)
    assert sample.labels.tolist() == [4, 0, 4]  # the gt box itself is appended as a proposal
    assert torch.allclose(sample.regression_targets[2], torch.zeros(4), atol=1e-6)
    decoded = coder.decode(sample.regression_targets[:1], sample.boxes[:1])[0, 0]
    assert torch.allclose(decoded, gt[0], atol=1e-4)


class TinyBody(nn.Module):
    """Four stride-2 conv stages after a stride-2 stem: features at strides 4, 8, 16, 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1), nn.ReLU())
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.ReLU()) for a, b in [(8, 16), (16, 32), (32, 64)]
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = [self.stem(x)]
        for stage in self.stages:
            outputs.append(stage(outputs[-1]))
        return outputs


def tiny_model() -> MaskRCNN:
    config = MaskRCNNConfig(
        num_classes=3,
        min_size=64,
        max_size=64,
        anchor_sizes=((8,), (16,), (32,), (64,), (128,)),
        rpn_pre_nms_top_n_train=200,
        rpn_post_nms_top_n_train=100,
        rpn_pre_nms_top_n_test=100,
        rpn_post_nms_top_n_test=50,
        box_batch_size_per_image=64,
        representation_size=64,
        mask_layers=(16, 16),
    )
    return MaskRCNN(config, backbone=BackboneWithFPN(TinyBody(), [8, 16, 32, 64], 32))


def test_training_lowers_the_loss_and_forward_returns_detections() -> None:
    torch.manual_seed(0)
    image = torch.full((3, 64, 64), 0.2)
    image[:, 16:48, 8:40] = torch.tensor([0.9, 0.3, 0.1])[:, None, None]
    masks = torch.zeros((1, 64, 64), dtype=torch.uint8)
    masks[0, 16:48, 8:40] = 1
    target = {"boxes": torch.tensor([[8.0, 16.0, 40.0, 48.0]]), "labels": torch.tensor([2]), "masks": masks}
    model = tiny_model()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    batches = [([image], [target])] * 30
    first = train_one_epoch(model, batches[:1], optimizer, max_grad_norm=10.0, progress=False)
    train_one_epoch(model, batches, optimizer, max_grad_norm=10.0, warmup_iters=5, progress=False)
    last = train_one_epoch(model, batches[:1], optimizer, max_grad_norm=10.0, progress=False)
    assert last["loss"] < 0.6 * first["loss"], (first, last)
    model.eval()
    with torch.no_grad():
        out = model([image])[0]
    assert out["masks"].shape[1:] == (1, 64, 64) and out["boxes"].shape[1] == 4
    assert len(out["boxes"]) == len(out["scores"]) == len(out["labels"]) == len(out["masks"])


def test_non_finite_loss_stops_training() -> None:
    model = tiny_model()
    image = torch.rand((3, 64, 64))
    target = {
        "boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]),
        "labels": torch.tensor([1]),
        "masks": torch.ones((1, 64, 64), dtype=torch.uint8),
    }
    optimizer = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError):
        train_one_epoch(model, [([image], [target])] * 5, optimizer, progress=False)


def test_roi_pool_variant_trains_and_detects() -> None:
    torch.manual_seed(1)
    model = tiny_model()
    model.config.roi_pool = "pool"
    pooled_model = MaskRCNN(model.config, backbone=model.backbone)
    image = torch.rand((3, 64, 64))
    target = {
        "boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]),
        "labels": torch.tensor([1]),
        "masks": torch.ones((1, 64, 64), dtype=torch.uint8),
    }
    losses = pooled_model.losses([image], [target])
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        out = pooled_model.eval()([image])[0]
    assert len(out["boxes"]) == len(out["masks"])
