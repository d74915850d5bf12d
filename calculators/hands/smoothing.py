"""One-Euro landmark smoothing (Casiez et al., CHI 2012), for optional use after hand tracking.

MediaPipe's hand graph has no smoothing (v0.10.21); its pose graph uses the same filter with the landmarks
scaled by the object's size, which is what ``LandmarkSmoother`` does: coordinates are converted to pixels and
divided by the hand's size, so ``min_cutoff``/``beta`` do not depend on how large the hand appears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """Filter constants. Defaults are MediaPipe pose's for visible landmarks (pose_landmark_filtering.pbtxt)."""

    min_cutoff: float = 0.05  # Hz; lower = smoother when still
    beta: float = 80.0  # speed coefficient; higher = less lag when moving
    derivate_cutoff: float = 1.0  # Hz, for the speed estimate


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One-Euro filter over arrays of a fixed shape."""

    def __init__(self, params: OneEuroParams) -> None:
        self.params = params
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def __call__(self, value: np.ndarray, t: float, value_scale: float = 1.0) -> np.ndarray:
        """Filter ``value`` observed at time ``t`` (seconds); ``value_scale`` multiplies the speed estimate."""
        value = np.asarray(value, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            self.x, self.dx, self.t = value.copy(), np.zeros_like(value), t
            return value.copy()
        dt = t - self.t
        p = self.params
        dx = (value - self.x) * value_scale / dt
        self.dx = self.dx + _alpha(p.derivate_cutoff, dt) * (dx - self.dx)
        cutoff = p.min_cutoff + p.beta * np.abs(self.dx)
        a = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))
        self.x = self.x + a * (value - self.x)
        self.t = t
        return self.x.copy()


class LandmarkSmoother:
    """Smooths one hand's (21, 3) normalized landmarks over time, scale-invariantly."""

    def __init__(self, params: OneEuroParams, image_size: tuple[int, int]) -> None:
        self.filter = OneEuroFilter(params)
        self.scale = np.array([image_size[0], image_size[1], image_size[0]], np.float64)

    def __call__(self, landmarks: np.ndarray, t: float) -> np.ndarray:
        px = np.asarray(landmarks, np.float64) * self.scale
        extent = px[:, :2].max(0) - px[:, :2].min(0)
        object_scale = max(float(extent.mean()), 1e-3)
        return (self.filter(px, t, 1.0 / object_scale) / self.scale).astype(np.float32)

    def center(self) -> np.ndarray | None:
        """Last smoothed landmark centroid (normalized x, y), for matching hands between frames."""
        if self.filter.x is None:
            return None
        return (self.filter.x[:, :2] / self.scale[:2]).mean(0)
