"""Hand landmark model outputs -> landmarks in the image (``hand_landmark_cpu.pbtxt``, MediaPipe v0.10.21).

Per hand: the presence score (the model already applies the sigmoid) gates everything; handedness is a binary
classifier whose output p is the score of "Left" (label map index 0) and 1 - p of "Right"; landmarks are pixels of
the 224x224 crop: ``x/224, y/224, z/224/0.4`` (``normalize_z 0.4``), then letterbox removal, then projection from
the rotated ROI onto the image (``z *= roi.width``). World landmarks (metres) are only rotated by the ROI rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calculators.types import NormalizedRect

NUM_LANDMARKS = 21
HANDEDNESS_LABELS = ("Left", "Right")  # handedness.txt


@dataclass(frozen=True)
class LandmarkDecodeOptions:
    """``TensorsToLandmarksCalculator`` constants for the hand landmark model."""

    input_width: int = 224
    input_height: int = 224
    normalize_z: float = 0.4


def decode_landmarks(raw: np.ndarray, opts: LandmarkDecodeOptions | None = None) -> np.ndarray:
    """(63,) crop pixels -> (21, 3) float32 normalized to the crop (x, y in [0, 1]; z scaled like x)."""
    o = opts or LandmarkDecodeOptions()
    lm = np.asarray(raw, np.float32).reshape(NUM_LANDMARKS, 3)
    scale = np.array([o.input_width, o.input_height, o.input_width * o.normalize_z], np.float32)
    return lm / scale


def remove_letterbox(landmarks: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """(21, 3) crop-normalized landmarks -> the ROI's own frame, undoing (left, top, right, bottom) padding."""
    left, top, right, bottom = (float(v) for v in padding)
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    out = np.empty_like(landmarks)
    out[:, 0] = (landmarks[:, 0] - left) / sx
    out[:, 1] = (landmarks[:, 1] - top) / sy
    out[:, 2] = landmarks[:, 2] / sx
    return out


def project_landmarks(landmarks: np.ndarray, roi: NormalizedRect) -> np.ndarray:
    """(21, 3) ROI-normalized landmarks -> image-normalized (``LandmarkProjectionCalculator``, NORM_RECT)."""
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    x = landmarks[:, 0] - 0.5
    y = landmarks[:, 1] - 0.5
    out = np.empty_like(landmarks)
    out[:, 0] = (c * x - s * y) * roi.width + roi.x_center
    out[:, 1] = (s * x + c * y) * roi.height + roi.y_center
    out[:, 2] = landmarks[:, 2] * roi.width
    return out


def project_world_landmarks(world: np.ndarray, roi: NormalizedRect) -> np.ndarray:
    """(63,) or (21, 3) metres -> (21, 3) rotated by the ROI rotation (``WorldLandmarkProjectionCalculator``)."""
    w = np.asarray(world, np.float32).reshape(NUM_LANDMARKS, 3)
    c, s = np.cos(roi.rotation), np.sin(roi.rotation)
    out = w.copy()
    out[:, 0] = c * w[:, 0] - s * w[:, 1]
    out[:, 1] = s * w[:, 0] + c * w[:, 1]
    return out


def handedness(p_left: float, mirrored_input: bool = True) -> tuple[str, float]:
    """Top-1 label and score of the binary handedness output.

    ``mirrored_input=True`` is MediaPipe's convention (it assumes a selfie camera: the label names the hand as seen
    in a mirror). With ``False`` the label is swapped, naming the anatomical hand of a non-mirrored image.
    """
    p = float(p_left)
    index = 0 if p >= 1.0 - p else 1
    score = p if index == 0 else 1.0 - p
    if not mirrored_input:
        index = 1 - index
    return HANDEDNESS_LABELS[index], score


def left_probability(label: str, score: float) -> float:
    """The handedness output p (P of "Left") back from the top-1 (label, score) of ``handedness`` (MediaPipe's
    mirrored convention, as its outputs and ours report it)."""
    return score if label == HANDEDNESS_LABELS[0] else 1.0 - score
