"""Draw the recognised gestures as a banner at the top of the frame (pure; the caller owns the image)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from calculators.types import HandLandmarks

FONT = cv2.FONT_HERSHEY_SIMPLEX
BANNER_COLOR = (0, 0, 0)
TEXT_COLOR = (255, 255, 255)


def gesture_text(hands: Sequence[HandLandmarks]) -> str:
    """``"Left: victory | Right: thumb up"``; empty when no hand has a gesture."""
    parts = [f"{h.handedness}: {h.gesture.replace('_', ' ')}" for h in hands if h.gesture]
    return " | ".join(parts)


def draw_gesture_banner(image: np.ndarray, hands: Sequence[HandLandmarks]) -> int:
    """Write the gestures of ``hands`` centred in a dark band across the top of ``image`` (in place).

    image: (H, W, 3) uint8 RGB. Returns the band's height in pixels (0 when there is nothing to write).
    """
    text = gesture_text(hands)
    if not text:
        return 0
    h, w = image.shape[:2]
    scale = max(0.4, min(w, h) / 600.0)
    thickness = max(1, round(2 * scale))
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    if tw > w - 8:  # shrink long lines to fit the frame
        scale *= (w - 8) / tw
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    band = min(h, th + base + 2 * max(3, round(6 * scale)))
    image[:band] = (image[:band].astype(np.uint16) * 3 // 10).astype(np.uint8)  # darken, keep a hint of the frame
    x = max(0, (w - tw) // 2)
    y = (band + th - base) // 2
    cv2.putText(image, text, (x, y), FONT, scale, TEXT_COLOR, thickness, cv2.LINE_AA)
    return band
