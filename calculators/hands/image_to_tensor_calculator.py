"""``ImageToTensor``: crops an image (whole, letterboxed, or rotated ROIs) into a batched model input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from calculators.common.image_checks import check_rgb_image
from calculators.types import NormalizedRect
from graphflow import Calculator, Context, Input, Output, register_calculator

from .image_to_tensor import crop_roi, image_to_tensor


@register_calculator("ImageToTensor")
class ImageToTensorCalculator(Calculator):
    """Turns an image, or one crop per ROI, into a float32 NCHW tensor (MediaPipe's ImageToTensorCalculator).

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
             NORM_RECTS - list[NormalizedRect] (optional): one crop per rect; left unconnected, the whole image
                 is one crop. Connected, a frame without a packet here gives nothing (no ROIs, no crop), and an
                 empty list gives an empty (0, 3, h, w) batch.
    Outputs: TENSOR - np.ndarray (N, 3, height, width) float32 in [range_min, range_max], or with
                 ``output: uint8`` the crops' pixels (N, height, width, 3) uint8, for a model runner that scales
                 them itself (``calculators/hands/backends.py``: to [0, 1]; no float copy of the crop here)
             LETTERBOX_PADDING - np.ndarray (N, 4) float32 (left, top, right, bottom) fractions of the tensor
    Options: width, height - tensor size; keep_aspect_ratio - letterbox instead of stretching;
             border - "zero" (palm detection) or "replicate" (MediaPipe's default, hand landmark crop);
             range_min, range_max - value range the 0..255 pixels map to (float32 output);
             output - "float32" (default) or "uint8".
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
        output: Literal["float32", "uint8"] = "float32"

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        check_rgb_image(image)
        o = self.options
        if ctx.has("NORM_RECTS"):
            rects: list[NormalizedRect | None] = ctx.get("NORM_RECTS")
        elif ctx.input_count("NORM_RECTS"):
            return  # ROIs are wired but this frame has none: nothing to crop (not the whole image)
        else:
            rects = [None]
        if o.output == "uint8":  # every crop warped straight into one (N, h, w, 3) batch
            pixels = np.empty((len(rects), o.height, o.width, 3), np.uint8)
            paddings = np.zeros((len(rects), 4), np.float32)
            for i, r in enumerate(rects):
                paddings[i] = crop_roi(image, r, o.width, o.height, o.keep_aspect_ratio, o.border, pixels[i])[1]
            ctx.emit("TENSOR", pixels)
            ctx.emit("LETTERBOX_PADDING", paddings)
            return
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
