"""The shared IoU (calculators/common/boxes.py) against a plain-Python reference and torchvision's recorded output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calculators.common.boxes import box_area, box_iou


def _reference_iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    corners = rng.uniform(0, 100, (n, 2))
    return np.concatenate([corners, corners + rng.uniform(0, 40, (n, 2))], axis=1)


def test_pairwise_iou_matches_the_plain_definition_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 40)
    expected = np.array([[_reference_iou(x, y) for y in b] for x in a])
    got = box_iou(a, b)
    assert isinstance(got, np.ndarray) and got.shape == (30, 40) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    got_t = box_iou(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
    np.testing.assert_allclose(got_t.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert expected.max() > 0.3 and (expected == 0).any()  # the draw has overlapping and disjoint pairs


def test_iou_edge_cases():
    unit = np.array([[0.0, 0.0, 10.0, 10.0]])
    assert box_iou(unit, unit)[0, 0] == 1.0
    assert box_iou(unit, np.array([[5.0, 0.0, 15.0, 10.0]]))[0, 0] == pytest.approx(50 / 150)
    assert box_iou(unit, np.array([[10.0, 0.0, 20.0, 10.0]]))[0, 0] == 0.0  # touching edges
    degenerate = np.array([[3.0, 3.0, 3.0, 3.0]])
    assert box_iou(degenerate, degenerate)[0, 0] == 0.0  # empty union: 0, not NaN
    assert box_iou(np.zeros((0, 4)), unit).shape == (0, 1)
    assert box_area(torch.tensor([[1.0, 2.0, 4.0, 6.0]])).tolist() == [12.0]
