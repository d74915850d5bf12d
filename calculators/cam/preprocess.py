"""ImageNet preprocessing of the TensorFlow EfficientNet(-Lite) reference, as a pure function.

The reference evaluation crops the centre ``image_size / (image_size + 32)`` of the short side (224/256 for
Lite0), resizes it bicubically to 224x224 and normalises RGB as ``(x - 127) / 128`` (Lite's MEAN_RGB = 127,
STDDEV_RGB = 128). ``crop="full"`` resizes the whole frame instead (aspect not kept), so that a class activation map
covers every pixel of the image.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from calculators.common.image_checks import check_rgb_image

INPUT_SIZE = 224
CROP_PADDING = 32  # centre crop = INPUT_SIZE / (INPUT_SIZE + CROP_PADDING) of the short side
MEAN_RGB = 127.0
STDDEV_RGB = 128.0


def crop_region(image_size: tuple[int, int], crop: str = "center",
                input_size: int = INPUT_SIZE) -> tuple[int, int, int, int]:
    """[x1, y1, x2, y2] pixels of an (H, W) image that the network will see. crop: "center" or "full"."""
    H, W = image_size
    if crop == "full":
        return 0, 0, W, H
    if crop != "center":
        raise ValueError(f"crop must be 'center' or 'full', not {crop!r}")
    side = max(1, int(round(input_size / (input_size + CROP_PADDING) * min(H, W))))
    y1, x1 = (H - side) // 2, (W - side) // 2
    return x1, y1, x1 + side, y1 + side


def preprocess_imagenet(image: np.ndarray, crop: str = "center",
                        input_size: int = INPUT_SIZE) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """(H, W, 3) uint8 RGB -> ((1, 3, input_size, input_size) float32 in about [-1, 1], crop box in pixels)."""
    check_rgb_image(image)
    x1, y1, x2, y2 = crop_region(image.shape[:2], crop, input_size)
    patch = np.ascontiguousarray(image[y1:y2, x1:x2])
    resized = cv2.resize(patch, (input_size, input_size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    normalized = (resized - MEAN_RGB) / STDDEV_RGB  # (S, S, 3)
    return torch.from_numpy(normalized).permute(2, 0, 1).unsqueeze(0).contiguous(), (x1, y1, x2, y2)
