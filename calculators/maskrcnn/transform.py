"""Image preparation for the detector and the way back: normalise, resize, pad into a batch.

Follows torchvision's ``GeneralizedRCNNTransform``: ImageNet mean/std on [0, 1] RGB; resize by
s = min(min_size / short_side, max_size / long_side) (computed in float32) with bilinear interpolation,
``align_corners=False`` and the output size floor(side * s); zero-pad every image to the batch's largest
height and width, rounded up to a multiple of 32 so every FPN stride divides it.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

SIZE_DIVISIBLE = 32


def resize_scale(height: int, width: int, min_size: int, max_size: int) -> float:
    """The resize factor for an (height, width) image (float32 arithmetic, like torchvision)."""
    shape = torch.tensor([height, width], dtype=torch.float32)
    short, long = shape.min(), shape.max()
    return float(torch.min(min_size / short, max_size / long).item())


def prepare_image(
    image: Tensor, mean: tuple[float, ...], std: tuple[float, ...], min_size: int, max_size: int
) -> Tensor:
    """(3, H, W) float in [0, 1] -> (3, h, w) normalised and resized."""
    mean_t = torch.as_tensor(mean, dtype=image.dtype)[:, None, None]
    std_t = torch.as_tensor(std, dtype=image.dtype)[:, None, None]
    image = (image - mean_t) / std_t
    scale = resize_scale(image.shape[-2], image.shape[-1], min_size, max_size)
    return F.interpolate(
        image[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True, align_corners=False
    )[0]


MaskResize = Literal["nearest", "nearest-exact"]


def resize_masks(masks: Tensor, height: int, width: int, min_size: int, max_size: int,
                 mode: MaskResize = "nearest") -> Tensor:
    """(N, H, W) uint8 instance masks -> (N, h, w) uint8, nearest-neighbour, same scale as the image.

    ``mode``: "nearest" (torchvision's training transform) reads source pixel floor(d / s) for output pixel d, which
    shifts masks up-left by up to a source pixel at non-integer scales (e.g. 1.5x) against the exactly scaled
    boxes; "nearest-exact" reads floor((d + 0.5) / s), the pixel whose centre is nearest. Equal at integer scales.
    """
    scale = resize_scale(height, width, min_size, max_size)
    if masks.shape[0] == 0:
        h, w = math.floor(height * scale), math.floor(width * scale)
        return masks.new_zeros((0, h, w))
    resized = F.interpolate(
        masks[:, None].float(), scale_factor=scale, mode=mode, recompute_scale_factor=True
    )
    return resized[:, 0].to(torch.uint8)


def batch_images(images: list[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
    """[(3, h_i, w_i)] -> (N, 3, H, W) zero-padded batch (H, W multiples of 32) and the [(h_i, w_i)] sizes."""
    height = max(img.shape[-2] for img in images)
    width = max(img.shape[-1] for img in images)
    height = int(math.ceil(height / SIZE_DIVISIBLE) * SIZE_DIVISIBLE)
    width = int(math.ceil(width / SIZE_DIVISIBLE) * SIZE_DIVISIBLE)
    batch = images[0].new_zeros((len(images), images[0].shape[0], height, width))
    for slot, img in zip(batch, images, strict=True):
        slot[:, : img.shape[-2], : img.shape[-1]] = img
    return batch, [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
