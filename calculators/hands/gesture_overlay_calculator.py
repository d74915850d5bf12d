"""``GestureOverlay``: writes each hand's gesture at the top of the frame."""

from __future__ import annotations

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator

from .gesture_overlay import draw_gesture_banner


@register_calculator("GestureOverlay")
class GestureOverlayCalculator(Calculator):
    """Draws "Left: victory | Right: fist" in a dark band across the top of the image (the paper's gesture demo).

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB (e.g. the Renderer's output; never modified)
             HANDS - list[HandLandmarks] with ``gesture`` set (HandGestures' output)
    Outputs: IMAGE_OUT - np.ndarray (H, W, 3) uint8 RGB, a copy with the banner (the input itself when no hand)
    Example:
      - calculator: GestureOverlay
        inputs: {IMAGE: rendered, HANDS: hands}
        outputs: {IMAGE_OUT: output_image}
    """

    IMAGE = Input(np.ndarray)
    HANDS = Input(list, optional=True)
    IMAGE_OUT = Output(np.ndarray)

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        hands = ctx.get("HANDS") or []
        if not any(h.gesture for h in hands):
            ctx.emit("IMAGE_OUT", image)
            return
        out = image.copy()
        draw_gesture_banner(out, hands)
        ctx.emit("IMAGE_OUT", out)
