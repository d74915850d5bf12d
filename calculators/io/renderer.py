"""Renderer: draws hands, palms, ROIs, instance masks, CAM heat maps, classes and a fps/latency HUD on a frame."""

from __future__ import annotations

import time

import numpy as np

from graphflow import Context, Input, Output, register_calculator

from .drawing import RenderOptions, render_frame
from .result_ports import ResultInputs


@register_calculator("Renderer")
class RendererCalculator(ResultInputs):
    """Annotates each frame with whatever results arrived at its timestamp (all drawing is in ``drawing.py``).

    Inputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB (not modified; the output is a new array)
      HANDS - list[HandLandmarks] (optional)
      PALMS - list[Detection] (optional): palm detections, normalized boxes
      ROIS - list[NormalizedRect] (optional): hand regions of interest
      INSTANCES - Instances (optional): masks, boxes (pixels) and labels
      CAM - ClassActivation (optional): the top class's map is drawn as a heat map
      CLASSES - list[Classification] (optional): top-k lines in the top-right corner
      CAPTURE_TIME - float (optional): time.monotonic() seconds when the frame was captured; gives the HUD's
          latency (render time minus capture time)
    Outputs:
      IMAGE_OUT - np.ndarray (H, W, 3) uint8 RGB
    Options: see ``drawing.RenderOptions`` (palms, rois, hud, hand_labels, mask_alpha, cam_alpha, mask_threshold,
      score_threshold, top_k). The HUD's fps is the rate at which this node renders frames (wall clock, smoothed).
    Example:
      - calculator: Renderer
        inputs: {IMAGE: image, HANDS: hands, PALMS: palm_detections, ROIS: hand_rois}
        outputs: {IMAGE_OUT: annotated}
        options: {rois: false}
    """

    IMAGE = Input(np.ndarray)
    CAPTURE_TIME = Input(float, optional=True)
    IMAGE_OUT = Output(np.ndarray)

    Options = RenderOptions

    def open(self, ctx: Context) -> None:
        self._last_render: float | None = None
        self._fps: float | None = None

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        now = time.monotonic()
        if self._last_render is not None and now > self._last_render:
            rate = 1.0 / (now - self._last_render)
            # exponential smoothing over ~10 frames
            self._fps = rate if self._fps is None else 0.9 * self._fps + 0.1 * rate
        self._last_render = now
        capture_time = ctx.get("CAPTURE_TIME")
        latency_ms = (now - capture_time) * 1000.0 if capture_time is not None else None
        out = render_frame(
            image,
            hands=ctx.get("HANDS") or (),
            palms=ctx.get("PALMS") or (),
            rois=ctx.get("ROIS") or (),
            instances=ctx.get("INSTANCES"),
            cam=ctx.get("CAM"),
            classes=ctx.get("CLASSES") or (),
            fps=self._fps,
            latency_ms=latency_ms,
            options=self.options,
        )
        ctx.emit("IMAGE_OUT", out)
