"""One check for the image convention every model calculator and facade relies on: (H, W, 3) uint8 RGB, H, W >= 1.

A frame that breaks it fails with a ``ValueError`` that says what came in and how to convert it, instead of an
error from deep inside resizing or tensor code (a grayscale frame used to end in "axes don't match array", an
empty one in a division by zero). The facades' ``process(image)`` call it before anything reaches the graph, with
their own name as ``who``, so the facade stays usable (see ``calculators/solutions/session.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RGB_CHANNELS = 3


def _hint(image: np.ndarray) -> str:
    """How to convert a frame of the wrong kind ("" if there is no one-line fix)."""
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else None)
    if channels == 1:
        return "; a grayscale frame: convert it with cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)"
    if channels == 4:
        return "; an RGBA frame: drop alpha with image[..., :3] (or cv2.cvtColor(image, cv2.COLOR_RGBA2RGB))"
    if channels == RGB_CHANNELS and np.issubdtype(image.dtype, np.floating):
        return "; scale and convert it: np.clip(image * 255, 0, 255).astype(np.uint8) for [0, 1] floats"
    return ""


def check_rgb_image(image: Any, who: str | None = None) -> np.ndarray:
    """Return ``image`` if it is an (H, W, 3) uint8 array with H, W >= 1; else raise ``ValueError`` with the fix.
    ``who`` (e.g. "Hands.process()") starts the message: "<who> expects an (H, W, 3) uint8 RGB image, got ..."."""
    expected = f"{who} expects" if who else "expected"
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{expected} an (H, W, 3) uint8 RGB image (np.ndarray), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != RGB_CHANNELS or image.dtype != np.uint8:
        raise ValueError(f"{expected} an (H, W, 3) uint8 RGB image, got {tuple(image.shape)} {image.dtype}"
                         f"{_hint(image)}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{expected} an (H, W, 3) uint8 RGB image, got an empty one {tuple(image.shape)}")
    return image
