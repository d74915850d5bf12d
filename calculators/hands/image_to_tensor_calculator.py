"""``ImageToTensor``: crops an image (whole, letterboxed, or rotated ROIs) into a batched model input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from calculators.common.image_checks import check_rgb_image
from calculators.types import NormalizedRect
from graphflow import Calculator, Context, Input, Output, register_calculator

from .image_to_tensor import image_to_tensor


@register_calculator("ImageToTensor")
class ImageToTensorCalculator(Calculator):
    """Turns an image, or one crop per ROI, into a float32 NCHW tensor (MediaPipe's ImageToTensorCalculator).

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
             NORM_RECTS - list[NormalizedRect] (optional): one crop per rect; without a packet here, the whole
                 image is one crop. An empty list gives an empty (0, 3, h, w) batch.
    Outputs: TENSOR - np.ndarray (N, 3, height, width) float32 in [range_min, range_max]
             LETTERBOX_PADDING - np.ndarray (N, 4) float32 (left, top, right, bottom) fractions of the tensor
    Options: width, height - tensor size; keep_aspect_ratio - letterbox instead of stretching;
             border - "zero" (palm detection) or "replicate" (MediaPipe's default, hand landmark crop);
             range_min, range_max - value range the 0..255 pixels map to.
    Example:
      - calculator: ImageToTensor
        inputs: {IMAGE: image}
        outputs: {TENSOR: palm_input, LETTERBOX_PADDING: palm_padding}
        options: {width: 192, height: 192, border: zero}
    """

    IMAGE = Input(np.ndarray)
    NORM_RECTS = Input(list, optional=True)
    TENSOR = Output(np.ndarray)
    LETTERBOX_PADDING = Output(np.ndarray)

    @dataclass
    class Options:
        width: int = 224
        height: int = 224
        keep_aspect_ratio: bool = True
        border: Literal["zero", "replicate"] = "replicate"
        range_min: float = 0.0
        range_max: float = 1.0

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        check_rgb_image(image)
        o = self.options
        rects: list[NormalizedRect | None] = ctx.get("NORM_RECTS") if ctx.has("NORM_RECTS") else [None]
        crops = [
            image_to_tensor(image, r, o.width, o.height, o.keep_aspect_ratio, o.border, (o.range_min, o.range_max))
            for r in rects
        ]
        if len(crops) == 1:  # the common case: a view, no copy
            tensors, paddings = crops[0][0][None], crops[0][1][None]
        elif crops:
            tensors, paddings = np.stack([c[0] for c in crops]), np.stack([c[1] for c in crops])
        else:
            tensors, paddings = np.zeros((0, 3, o.height, o.width), np.float32), np.zeros((0, 4), np.float32)
        ctx.emit("TENSOR", tensors)
        ctx.emit("LETTERBOX_PADDING", paddings)
