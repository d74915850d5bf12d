"""The ``CamOverlay`` calculator: paints a ClassActivation over its frame (heat map, box, label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator
from graphflow.types import ClassActivation

from .overlay import draw_cam_overlay


@register_calculator("CamOverlay")
class CamOverlayCalculator(Calculator):
    """Draws the class activation map of one mapped class over the frame.

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
             CAM - graphflow.types.ClassActivation of that frame (maps at the frame's resolution)
    Outputs: IMAGE_OUT - np.ndarray (H, W, 3) uint8 RGB: JET heat map blended at ``alpha``, CAM box, "name score"
    Options: index - which mapped class to draw (0 = the best)
             alpha - heat map opacity in [0, 1]
    Example:
      - calculator: CamOverlay
        inputs: {IMAGE: image, CAM: cam}
        outputs: {IMAGE_OUT: overlay}
        options: {alpha: 0.5}
    """

    IMAGE = Input(np.ndarray)
    CAM = Input(ClassActivation)
    IMAGE_OUT = Output(np.ndarray)

    @dataclass
    class Options:
        index: int = 0
        alpha: float = 0.5

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        activation = ctx.get("CAM")
        if activation is None or self.options.index >= len(activation.classes):
            ctx.emit("IMAGE_OUT", image)  # nothing to draw at this timestamp: pass the frame through
            return
        ctx.emit("IMAGE_OUT", draw_cam_overlay(image, activation, self.options.index, self.options.alpha))
