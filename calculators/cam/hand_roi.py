"""The hand landmark network's input crop and the way back: maps on the 224x224 rotated hand crop -> image pixels.

The crop is the hands pipeline's own (``calculators.hands.image_to_tensor``: ROI padded to a square, rotated,
bilinear, border replicated, values in [0, 1]); the inverse warp uses the same perspective matrix.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from calculators.hands.image_to_tensor import image_to_tensor, pad_roi, roi_in_pixels
from calculators.types import NormalizedRect

HAND_INPUT_SIZE = 224


def crop_matrix(rect: NormalizedRect, image_size: tuple[int, int], size: int = HAND_INPUT_SIZE) -> np.ndarray:
    """(3, 3) perspective matrix from image pixels to the (size x size) crop of ``rect`` (square-padded)."""
    H, W = image_size
    roi, _ = pad_roi(roi_in_pixels(rect, W, H), size, size)
    box = ((roi.center_x, roi.center_y), (roi.width, roi.height), float(np.float32(roi.rotation) * 180.0 / np.pi))
    src = cv2.boxPoints(box).astype(np.float32)  # corner order of cv2.boxPoints, as in image_to_tensor.warp_roi
    dst = np.array([[0.0, size], [0.0, 0.0], [size, 0.0], [size, size]], np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def hand_input(image: np.ndarray, rect: NormalizedRect, size: int = HAND_INPUT_SIZE) -> torch.Tensor:
    """(H, W, 3) uint8 RGB + hand ROI -> (1, 3, size, size) float32 in [0, 1]."""
    tensor, _ = image_to_tensor(image, rect, size, size, keep_aspect_ratio=True, border="replicate")
    return torch.from_numpy(tensor).unsqueeze(0)


def crop_maps_to_image(maps: np.ndarray, matrix: np.ndarray, image_size: tuple[int, int],
                       size: int = HAND_INPUT_SIZE) -> np.ndarray:
    """(K, h, w) maps over the crop -> (K, H, W) float32 in image pixels (0 outside the crop)."""
    H, W = image_size
    out = np.zeros((len(maps), H, W), np.float32)
    for i, m in enumerate(np.asarray(maps, np.float32)):
        on_crop = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)
        out[i] = cv2.warpPerspective(on_crop, matrix, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out
