"""One check for the image convention every model calculator relies on: (H, W, 3) uint8 RGB, H and W >= 1.

A frame that breaks it fails with a ``ValueError`` that says what came in and how to convert it, instead of an
error from deep inside resizing or tensor code (a grayscale frame used to end in "axes don't match array", an
empty one in a division by zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_rgb_image(image: Any) -> np.ndarray:
    """Return ``image`` if it is an (H, W, 3) uint8 array with H, W >= 1; else raise ``ValueError`` with the fix."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image (np.ndarray), got {type(image).__name__}")
    shape, dtype = tuple(image.shape), image.dtype
    hint = ""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        hint = "; a grayscale frame: convert it with cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)"
    elif image.ndim == 3 and image.shape[2] == 4:
        hint = "; an RGBA frame: drop alpha with image[..., :3] (or cv2.cvtColor(image, cv2.COLOR_RGBA2RGB))"
    elif image.ndim == 3 and image.shape[2] == 3 and dtype != np.uint8:
        hint = "; scale and convert it: np.clip(image * 255, 0, 255).astype(np.uint8) for [0, 1] floats"
    if image.ndim != 3 or image.shape[2] != 3 or dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {shape} {dtype}{hint}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got an empty one {shape}")
    return image
