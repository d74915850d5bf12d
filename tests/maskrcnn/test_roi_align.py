"""RoIAlign and RoIPool: parity with torchvision's kernels, hand-computed values, gradients, and the misalignment
of quantised RoIPool that RoIAlign removes (He et al. 2017, section 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from calculators.maskrcnn import roi_align as roi_align_module
from calculators.maskrcnn.multiscale_roi import assign_fpn_levels
from calculators.maskrcnn.roi_align import roi_align
from calculators.maskrcnn.roi_pool import roi_pool

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "maskrcnn_parity.pt"


@pytest.fixture(scope="module")
def ops() -> dict:
    torch.set_num_threads(1)
    return torch.load(FIXTURE, weights_only=True)["ops"]


def test_roi_align_matches_torchvision_for_every_mode(ops: dict) -> None:
    assert len(ops["roi_align"]) == 16
    for (aligned, ratio, size), expected in ops["roi_align"].items():
        got = roi_align(ops["features"], ops["rois"], size, ops["spatial_scale"], ratio, aligned)
        err = float((got - expected).abs().max())
        assert err < 1e-5, f"aligned={aligned} sampling_ratio={ratio} size={size}: max abs diff {err:.3g}"


def test_roi_pool_matches_torchvision(ops: dict) -> None:
    got = roi_pool(ops["features"], ops["rois"], (7, 7), ops["spatial_scale"])
    assert torch.equal(got, ops["roi_pool"])


def test_roi_align_hand_computed_bilinear_sample() -> None:
    # one sample (sampling_ratio 1, 1x1 output) at the RoI centre (1.25, 2.5) of a 3x4 map with value 10*y + x
    feature = (10 * torch.arange(3.0)[:, None] + torch.arange(4.0)[None, :])[None, None]
    rois = torch.tensor([[0.0, 1.0, 0.5, 4.0, 2.0]])  # centre x = 2.5, y = 1.25 (aligned=False: no half-pixel shift)
    out = roi_align(feature, rois, (1, 1), 1.0, 1, aligned=False)
    assert out.shape == (1, 1, 1, 1)
    assert float(out) == pytest.approx(10 * 1.25 + 2.5, abs=1e-6)


def test_roi_align_chunking_does_not_change_results(ops: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    full = roi_align(ops["features"], ops["rois"], (7, 7), 0.5, -1, False)
    monkeypatch.setattr(roi_align_module, "MAX_TAPS_PER_CHUNK", 500)
    chunked = roi_align(ops["features"], ops["rois"], (7, 7), 0.5, -1, False)
    assert torch.allclose(full, chunked, atol=1e-6)


def test_roi_align_gradient_reaches_features() -> None:
    g = torch.Generator().manual_seed(0)
    feature = torch.randn((1, 2, 6, 7), generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0.0, 0.7, 1.2, 5.1, 4.4], [0.0, 2.0, 0.3, 6.5, 5.9]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, (3, 2), 1.0, 2, True), (feature,))


def test_grid_sample_path_equals_the_sparse_path(ops: dict) -> None:
    """The fixed-sampling fast path (batched separable products) against the sparse-matrix path, same samples."""
    features, rois = ops["features"], ops["rois"]
    edge = torch.tensor([[0, -30.0, -30.0, 5.0, 5.0], [0, 10.0, 10.0, 400.0, 400.0], [0, 3.0, 4.0, 3.2, 4.1]])
    rois = torch.cat([rois, edge.to(rois)])  # partly outside the map, beyond it, thinner than a cell
    for aligned in (False, True):
        for ratio in (1, 2, 3):
            for size in ((7, 7), (14, 14), (3, 5)):
                fast = roi_align(features, rois, size, 0.25, ratio, aligned)
                sparse = roi_align_module._roi_align_chunk(features, rois, size, 0.25, ratio, aligned)
                torch.testing.assert_close(fast, sparse, rtol=1e-5, atol=1e-5)
    two = torch.cat([features, features.flip(-1)])  # a batch of two images: RoIs read their own image
    rois2 = torch.cat([rois, rois.clone().index_fill_(1, torch.tensor([0]), 1.0)])
    torch.testing.assert_close(roi_align(two, rois2, (7, 7), 0.25, 2), roi_align_module._roi_align_chunk(
        two, rois2, (7, 7), 0.25, 2, False), rtol=1e-5, atol=1e-5)


def test_roi_align_no_rois() -> None:
    assert roi_align(torch.zeros((1, 3, 5, 5)), torch.zeros((0, 5)), (7, 7)).shape == (0, 3, 7, 7)


def test_roi_pool_rounding_loses_a_sub_cell_shift_that_roi_align_keeps() -> None:
    # horizontal ramp: cell (y, x) holds x; with aligned=True its value sits at continuous x + 0.5
    ramp = torch.arange(16.0).expand(16, 16)[None, None].contiguous()
    align, pool = [], []
    for shift in (0.0, 0.25, 0.5, 0.75):
        rois = torch.tensor([[0.0, 4.0 + shift, 4.0, 8.0 + shift, 8.0]])
        align.append(float(roi_align(ramp, rois, (1, 1), 1.0, 2, aligned=True)))
        pool.append(float(roi_pool(ramp, rois, (1, 1), 1.0)))
    # RoIAlign returns the exact mean of the ramp over the RoI, 5.5 + shift: it follows every sub-cell shift
    assert align == pytest.approx([5.5, 5.75, 6.0, 6.25], abs=1e-5)
    # RoIPool snaps the RoI to cells: a quarter-cell shift changes nothing, half a cell jumps a whole cell
    assert pool == [8.0, 8.0, 9.0, 9.0]


def test_roi_pool_rounding_drops_an_activation_inside_the_roi() -> None:
    feature = torch.zeros((1, 1, 8, 8))
    feature[0, 0, 3, 5] = 1.0  # cell (3, 5) spans x in [5, 6), y in [3, 4) with aligned=True
    rois = torch.tensor([[0.0, 5.6, 3.0, 7.4, 4.0]])  # covers 40 % of that cell
    # RoIPool rounds x1 = 5.6 up to cell 6 and never sees cell 5
    assert float(roi_pool(feature, rois, (1, 1), 1.0)) == 0.0
    # RoIAlign's samples at x = 5.55 weight cell 5 by 0.45; rows 2.75 and 3.25 weight row 3 by 0.75: 2 of 4
    # samples see it, so the bin mean is 2 * 0.45 * 0.75 / 4
    assert float(roi_align(feature, rois, (1, 1), 1.0, 2, aligned=True)) == pytest.approx(0.16875, abs=1e-6)


def test_fpn_level_assignment_follows_eq1() -> None:
    # k = floor(4 + log2(sqrt(wh) / 224)) clamped to [2, 5]; returned relative to level 2
    sizes = torch.tensor([16.0, 111.9, 112.0, 223.9, 224.0, 448.0, 2000.0])
    boxes = torch.stack([torch.zeros(7), torch.zeros(7), sizes, sizes], dim=1)
    assert assign_fpn_levels(boxes, 2, 5).tolist() == [0, 0, 1, 1, 2, 3, 3]


def test_fast_path_on_channels_last_features_and_small_batches(ops: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels-last features (the R50 body's in eval mode) and RoIs split over many window groups and batches."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn((2, 8, 40, 52), generator=g)
    xy = torch.rand((300, 2), generator=g) * 180
    wh = 1 + torch.rand((300, 2), generator=g) ** 2 * 120
    batch = (torch.arange(300) % 2).to(torch.float32)[:, None]
    rois = torch.cat([batch, xy - 20, xy + wh], dim=1)  # some start left of / above the map
    sparse = roi_align_module._roi_align_chunk(features, rois, (7, 7), 0.25, 2, True)
    channels_last = features.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(roi_align(channels_last, rois, (7, 7), 0.25, 2, True), sparse, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(roi_align_module, "MAX_WINDOW_VALUES", 1000)  # a few RoIs per batched product
    torch.testing.assert_close(roi_align(features, rois, (7, 7), 0.25, 2, True), sparse, rtol=1e-5, atol=1e-5)
