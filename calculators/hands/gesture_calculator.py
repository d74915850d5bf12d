"""``HandGestures``: names each hand's gesture from its landmarks."""

from __future__ import annotations

import dataclasses

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator

from .gestures import classify_gesture


@register_calculator("HandGestures")
class HandGesturesCalculator(Calculator):
    """Sets ``HandLandmarks.gesture`` (open_palm, four, fist, pointing, victory, thumb_up, call, rock, ok, ...).

    Inputs:  HANDS - list[HandLandmarks]
             IMAGE - np.ndarray (H, W, 3): only its size is used (finger geometry is measured in pixels)
    Outputs: HANDS_OUT - list[HandLandmarks], the same hands with ``gesture`` filled in
             GESTURES - list[str], one name per hand
    Example:
      - calculator: HandGestures
        inputs: {HANDS: hands_raw, IMAGE: image}
        outputs: {HANDS_OUT: hands, GESTURES: gestures}
    """

    HANDS = Input(list)
    IMAGE = Input(np.ndarray)
    HANDS_OUT = Output(list)
    GESTURES = Output(list)

    def process(self, ctx: Context) -> None:
        hands, image = ctx.get("HANDS"), ctx.get("IMAGE")
        if hands is None or image is None:
            return
        size = (image.shape[1], image.shape[0])
        named = [dataclasses.replace(h, gesture=classify_gesture(h.landmarks, size)) for h in hands]
        ctx.emit("HANDS_OUT", named)
        ctx.emit("GESTURES", [h.gesture for h in named])
