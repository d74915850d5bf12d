"""Static hand gestures from 21 landmarks: finger states, then a rule table (the MediaPipe Hands paper's
real-time gesture recognition figure names gestures by which fingers are straight).

Finger states use image-plane geometry in pixels, so they work for any hand orientation within the image plane:

- index..pinky: a finger is *extended* when its tip is clearly farther from the wrist than its PIP joint
  (``|tip - wrist| / |pip - wrist| > FINGER_RATIO``); a curled finger's tip comes back towards the palm (< 1).
- thumb: *extended* when its tip is farther from the pinky MCP than the thumb MCP is
  (``|tip - pinky_mcp| / |thumb_mcp - pinky_mcp| > THUMB_RATIO``); a folded thumb crosses the palm (< 1).
- OK: thumb tip touches the index tip (closer than ``OK_TOUCH`` palm lengths) while the other three are extended.
- thumb up / down: only the thumb extended, pointing within 45 degrees of straight up / down in the image.

Thresholds were read off MediaPipe's landmarks of the shared sample images: clearly extended fingers measure about
1.15-1.6 and curled ones 0.45-0.95; extended thumbs 1.25-1.65, folded ones 0.5-0.8 (a few half-bent thumbs sit
near 1.0, which counts as folded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WRIST = 0
THUMB_MCP, THUMB_TIP = 2, 4
FINGER_JOINTS = {"index": (6, 8), "middle": (10, 12), "ring": (14, 16), "pinky": (18, 20)}  # (PIP, tip)
INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 5, 9, 17
INDEX_TIP = 8

FINGER_RATIO = 1.1
THUMB_RATIO = 1.2
OK_TOUCH = 0.45

GESTURES = (
    "open_palm", "four", "fist", "pointing", "victory", "three", "thumb_up", "thumb_down", "call", "rock", "ok", "none",
)


@dataclass(frozen=True)
class FingerStates:
    """Which fingers are straight."""

    thumb: bool
    index: bool
    middle: bool
    ring: bool
    pinky: bool

    def as_tuple(self) -> tuple[bool, bool, bool, bool, bool]:
        return (self.thumb, self.index, self.middle, self.ring, self.pinky)


def _pixels(landmarks: np.ndarray, image_size: tuple[int, int]) -> list[list[float]]:
    """(21, 2) pixel positions as Python floats (a few dozen distances: math.dist is 10x np.linalg.norm here)."""
    w, h = image_size
    return (np.asarray(landmarks, np.float64)[:, :2] * np.array([w, h], np.float64)).tolist()


def finger_states(landmarks: np.ndarray, image_size: tuple[int, int] = (1, 1)) -> FingerStates:
    """Finger states of one hand. landmarks: (21, 2+) normalized; image_size: (width, height) in pixels."""
    return _finger_states(_pixels(landmarks, image_size))


def _finger_states(p: list[list[float]]) -> FingerStates:
    def dist(a: int, b: int) -> float:
        return math.dist(p[a], p[b])

    straight = {
        name: dist(tip, WRIST) > FINGER_RATIO * dist(pip, WRIST) for name, (pip, tip) in FINGER_JOINTS.items()
    }
    thumb = dist(THUMB_TIP, PINKY_MCP) > THUMB_RATIO * dist(THUMB_MCP, PINKY_MCP)
    return FingerStates(thumb=thumb, **straight)


def classify_gesture(landmarks: np.ndarray, image_size: tuple[int, int] = (1, 1)) -> str:
    """Name of the gesture (one of ``GESTURES``). landmarks: (21, 2+) normalized; image_size: (width, height)."""
    p = _pixels(landmarks, image_size)
    s = _finger_states(p)
    palm = math.dist(p[MIDDLE_MCP], p[WRIST]) or 1.0
    touching = math.dist(p[THUMB_TIP], p[INDEX_TIP]) < OK_TOUCH * palm
    if touching and s.middle and s.ring and s.pinky:
        return "ok"
    fingers = (s.index, s.middle, s.ring, s.pinky)
    if all(fingers):
        return "open_palm" if s.thumb else "four"
    if not any(fingers):
        if not s.thumb:
            return "fist"
        dx, dy = p[THUMB_TIP][0] - p[THUMB_MCP][0], p[THUMB_TIP][1] - p[THUMB_MCP][1]
        if abs(dy) > abs(dx):
            return "thumb_up" if dy < 0 else "thumb_down"
        return "none"
    if fingers == (True, False, False, False):
        return "pointing"
    if fingers == (True, True, False, False):
        return "three" if s.thumb else "victory"
    if fingers == (False, False, False, True) and s.thumb:
        return "call"
    if fingers == (True, False, False, True) and not s.thumb:
        return "rock"
    return "none"
