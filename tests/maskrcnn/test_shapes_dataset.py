"""The synthetic shapes dataset: determinism, exact masks, occlusion and the AP evaluation on it."""

from __future__ import annotations

import numpy as np
import pytest

from calculators.maskrcnn.evaluate import Prediction, coco_evaluate
from calculators.maskrcnn.shapes_dataset import (
    CLASS_NAMES,
    ShapesConfig,
    ShapesDataset,
    masks_to_boxes,
    render_sample,
    shape_mask,
)


def test_same_seed_and_index_give_identical_samples_in_any_order():
    forward = [render_sample(7, i) for i in range(6)]
    backward = [render_sample(7, i) for i in reversed(range(6))][::-1]
    for a, b in zip(forward, backward, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_array_equal(a.labels, b.labels)
    other = render_sample(8, 0)
    assert not np.array_equal(other.image, forward[0].image), "a different seed must give a different scene"


def test_sample_layout():
    config = ShapesConfig()
    for sample in ShapesDataset(3, 20):
        n = len(sample.labels)
        assert config.min_objects <= n <= config.max_objects
        assert sample.image.shape == (128, 128, 3) and sample.image.dtype == np.uint8
        assert sample.masks.shape == (n, 128, 128) and sample.masks.dtype == np.uint8
        assert set(np.unique(sample.masks)) <= {0, 1}
        assert sample.labels.dtype == np.int64 and np.all((sample.labels >= 1) & (sample.labels < len(CLASS_NAMES)))
        assert sample.boxes.shape == (n, 4)
        assert np.all(sample.boxes[:, 2] > sample.boxes[:, 0]) and np.all(sample.boxes[:, 3] > sample.boxes[:, 1])


def test_masks_are_exact_disjoint_and_explain_every_pixel():
    """The image is a function of the masks: mask i is flat-coloured, the rest is the background colour."""
    for sample in ShapesDataset(11, 30):
        assert sample.masks.sum(axis=0).max() <= 1, "visible masks must not overlap"
        owner = np.full(sample.image.shape[:2], -1)
        for i, mask in enumerate(sample.masks):
            owner[mask.astype(bool)] = i
            colours = np.unique(sample.image[mask.astype(bool)], axis=0)
            assert len(colours) == 1, f"instance {i} is painted with {len(colours)} colours"
        background = np.unique(sample.image[owner == -1], axis=0)
        assert len(background) <= 1
        np.testing.assert_array_equal(masks_to_boxes(sample.masks), sample.boxes)


def test_occlusion_removes_hidden_pixels_and_slivers():
    config = ShapesConfig()
    occluded = 0
    for seed_index in range(60):
        sample = render_sample(5, seed_index)
        for mask in sample.masks:
            assert mask.sum() >= config.min_visible_pixels
        occluded += int(any(_touches(a, b) for a in sample.masks for b in sample.masks if a is not b))
    assert occluded >= 5, "the generator should produce shapes that touch or overlap"


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    grown = a.copy()
    grown[1:] |= a[:-1]
    grown[:-1] |= a[1:]
    grown[:, 1:] |= a[:, :-1]
    grown[:, :-1] |= a[:, 1:]
    return bool((grown & b).any())


@pytest.mark.parametrize(
    ("label", "expected_area"), [(1, np.pi * 20**2), (2, 2 * 20**2), (3, 3 * np.sqrt(3) / 4 * 20**2)]
)
def test_shape_areas_match_geometry(label, expected_area):
    """Pixel-centre rasterisation of a radius-20 shape covers its analytic area to within 2 %."""
    area = shape_mask(label, 64.0, 64.0, 20.0, 0.3, 128).sum()
    assert abs(area - expected_area) / expected_area < 0.02


def test_coco_evaluation_is_perfect_for_ground_truth_and_drops_for_shifted_masks():
    samples = list(ShapesDataset(2, 12))
    gt = [(s.masks, s.labels) for s in samples]
    perfect = [Prediction(s.boxes, s.labels, np.ones(len(s.labels)), s.masks.astype(np.float32)) for s in samples]
    stats = coco_evaluate(gt, perfect, CLASS_NAMES)
    assert stats["box_AP"] == pytest.approx(1.0) and stats["mask_AP"] == pytest.approx(1.0)
    shifted = [
        Prediction(s.boxes + 3, s.labels, np.ones(len(s.labels)), np.roll(s.masks, 3, axis=2).astype(np.float32))
        for s in samples
    ]
    stats = coco_evaluate(gt, shifted, CLASS_NAMES)
    assert 0.0 < stats["mask_AP"] < 0.9 and 0.0 < stats["box_AP"] < 0.9
    wrong_class = [Prediction(p.boxes, p.labels % 3 + 1, p.scores, p.masks) for p in perfect]
    assert coco_evaluate(gt, wrong_class, CLASS_NAMES)["mask_AP"] == pytest.approx(0.0)
