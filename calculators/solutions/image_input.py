"""The input rule of every facade's ``process(image)``: an (H, W, 3) uint8 RGB array with H, W >= 1.

Checked before anything reaches the graph, so a bad image is a ``ValueError`` that says how to convert it, and
the facade stays usable (see ``session.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RGB_CHANNELS = 3
_CONVERSIONS = {  # channel count -> how to make RGB of it
    1: "cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)",
    4: "cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)",
}


def check_rgb_image(image: Any, who: str) -> np.ndarray:
    """``image`` if it is an (H, W, 3) uint8 array with H, W >= 1, else a ``ValueError`` naming ``who``."""
    expected = f"{who} expects an (H, W, 3) uint8 RGB array"
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{expected}, got {type(image).__name__}")
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else None)
    if channels != RGB_CHANNELS:
        fix = _CONVERSIONS.get(channels or 0, "")
        raise ValueError(f"{expected}, got shape {image.shape}" + (f"; convert it with {fix}" if fix else ""))
    if image.dtype != np.uint8:
        fix = "; scale a [0, 1] float image with (image * 255).round().astype(np.uint8)" \
            if np.issubdtype(image.dtype, np.floating) else ""
        raise ValueError(f"{expected}, got dtype {image.dtype}{fix}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{expected}, got an empty image of shape {image.shape}")
    return image
