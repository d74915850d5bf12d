"""Shared fixtures of the CAM tests: one ImageNet EfficientNet-Lite0 per session, torch on one thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
COCO128_HALF = SHARED / "data" / "coco128_half"


@pytest.fixture(scope="session")
def lite0_classifier():
    from calculators.cam.models import efficientnet_lite0_classifier

    return efficientnet_lite0_classifier()


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    import skimage.data

    return skimage.data.chelsea()  # (300, 451, 3) uint8 RGB, a tabby cat


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    import skimage.data

    return skimage.data.coffee()  # (400, 600, 3) uint8 RGB, a cup of espresso
