"""NMS: the vectorised block algorithm against torchvision's kernel (fixture) and against the textbook loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from calculators.common.boxes import box_iou
from calculators.maskrcnn import nms as nms_module
from calculators.maskrcnn.nms import batched_nms, nms, nms_loop

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "maskrcnn_parity.pt"


@pytest.fixture(scope="module")
def ops() -> dict:
    torch.set_num_threads(1)
    return torch.load(FIXTURE, weights_only=True)["ops"]


def random_boxes(seed: int, n: int, spread: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand((n, 2), generator=g) * spread
    sizes = 5 + torch.rand((n, 2), generator=g) * 30
    return torch.cat([centres - sizes / 2, centres + sizes / 2], dim=1), torch.rand(n, generator=g)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_torchvision(ops: dict, threshold: float) -> None:
    keep = nms(ops["nms_boxes"], ops["nms_scores"], threshold)
    assert torch.equal(keep, ops["nms"][threshold])


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_batched_nms_matches_torchvision(ops: dict, threshold: float) -> None:
    keep = batched_nms(ops["nms_boxes"], ops["nms_scores"], ops["nms_groups"], threshold)
    assert torch.equal(keep, ops["batched_nms"][threshold])


@pytest.mark.parametrize("seed", range(6))
def test_block_nms_equals_the_greedy_loop(seed: int) -> None:
    boxes, scores = random_boxes(seed, 700, spread=60.0)  # dense: long suppression chains across blocks
    for block in (1, 7, 64, 256, 1024):
        assert torch.equal(nms(boxes, scores, 0.5, block_size=block), nms_loop(boxes, scores, 0.5)), block


def test_kept_boxes_do_not_overlap_and_every_dropped_box_has_a_better_kept_neighbour() -> None:
    boxes, scores = random_boxes(7, 400)
    keep = nms(boxes, scores, 0.4)
    iou = box_iou(boxes[keep], boxes[keep])
    assert not (torch.triu(iou, diagonal=1) > 0.4).any()
    dropped = torch.ones(400, dtype=torch.bool)
    dropped[keep] = False
    cover = box_iou(boxes[dropped], boxes[keep]) > 0.4
    better = scores[keep][None, :] >= scores[dropped][:, None]
    assert (cover & better).any(dim=1).all()


def test_equal_scores_keep_input_order() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]])
    assert nms(boxes, torch.ones(3), 0.5).tolist() == [0, 2]


def test_per_group_path_equals_the_offset_path(monkeypatch: pytest.MonkeyPatch) -> None:
    boxes, scores = random_boxes(3, 1500)
    groups = torch.randint(0, 9, (1500,), generator=torch.Generator().manual_seed(3))
    per_group = batched_nms(boxes, scores, groups, 0.5)
    monkeypatch.setattr(nms_module, "PER_GROUP_ABOVE", 10_000)
    assert torch.equal(per_group, batched_nms(boxes, scores, groups, 0.5))


def test_empty_input() -> None:
    assert nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5).shape == (0,)
