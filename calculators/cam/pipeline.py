"""One image in, one ``calculators.types.ClassActivation`` out: preprocess -> classify + CAM -> upsample -> boxes.

Shared by the ``ClassActivationMap`` calculator and the benchmarks; the steps themselves are the pure functions of
``cam.py`` and ``preprocess.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from calculators.types import ClassActivation, Classification, Detection, NormalizedRect

from .cam import BOX_THRESHOLD, LARGEST_COMPONENT_ONLY, boxes_from_maps, normalize_maps, upsample_maps
from .explainer import CamExplainer
from .preprocess import INPUT_SIZE, preprocess_imagenet


@dataclass(frozen=True)
class CamSettings:
    """How an image becomes maps and boxes. The defaults are the ``ClassActivationMap`` node's, chosen on the
    shared half of COCO128 (``benchmarks/cam_localization.py`` prints the table of variants they were chosen from;
    its "map_variants" rows, rules outside these fields such as multi-scale averaging, a class-set map, bicubic
    upsampling or a threshold per component, did not beat them on both figures and were not adopted).

    input_size: side of the square network input. Lite0 has stride 32: 224 -> 7x7 maps, 384 -> 12x12.
    flip: average the maps (and logits) of the image and its mirror image.
    box_threshold: pixels >= this fraction of the map's maximum are foreground.
    component_fraction: box every foreground component of at least this fraction of the largest's area
        (1.0 = the largest component only).
    threshold_on: "raw" = the fraction of the raw map's maximum (the paper); "normalized" = of the min-max
        normalised map, i.e. min + fraction * (max - min) (what this node did before; kept for the ablation).
    crop: "full" (whole frame, aspect not kept) or "center" (TF reference 224/256 centre crop).
    """

    input_size: int = 384
    flip: bool = False
    box_threshold: float = 0.25
    component_fraction: float = 0.2
    threshold_on: Literal["raw", "normalized"] = "raw"
    crop: Literal["full", "center"] = "full"


DEFAULT_SETTINGS = CamSettings()
"""The ``ClassActivationMap`` node's defaults."""
PAPER_SETTINGS = CamSettings(input_size=INPUT_SIZE, box_threshold=BOX_THRESHOLD,
                             component_fraction=LARGEST_COMPONENT_ONLY)
"""Zhou et al.'s recipe: 224 px, 20% of the raw map's max, largest connected component."""


def explain_image(explainer: CamExplainer, image: np.ndarray, top_k: int = 5, classes: Sequence[int] | None = None,
                  settings: CamSettings = DEFAULT_SETTINGS) -> ClassActivation:
    """image: (H, W, 3) uint8 RGB. Returns the classes (top-k, or ``classes``), logits, raw maps at feature
    resolution, [0, 1] maps at the image's resolution and one pixel box per map."""
    x, region = preprocess_imagenet(image, settings.crop, settings.input_size)
    out = explainer.explain(x, top_k, classes, flip=settings.flip)
    return finish_maps(out.logits, out.scores, out.classes, out.maps, image.shape[:2], region,
                       explainer.model.class_names, settings)


def finish_maps(logits: np.ndarray, scores: np.ndarray, classes: np.ndarray, maps: np.ndarray,
                image_size: tuple[int, int], region: tuple[float, float, float, float] | None,
                class_names: Sequence[str], settings: CamSettings = DEFAULT_SETTINGS) -> ClassActivation:
    """Raw (K, h, w) maps -> ClassActivation with (K, H, W) [0, 1] maps on ``region`` of the image and boxes.

    Boxes come from the raw maps upsampled bilinearly (or from the normalised ones, ``threshold_on``); the [0, 1]
    maps of the payload are the min-max normalised raw maps, upsampled (0 outside ``region``).
    """
    cams = upsample_maps(normalize_maps(maps), image_size, region)  # (K, H, W)
    boxed = cams if settings.threshold_on == "normalized" else upsample_maps(maps, image_size, region)
    boxes = boxes_from_maps(boxed, settings.box_threshold, settings.component_fraction)  # (K, 4) pixels
    return assemble(logits, scores, classes, maps, cams, boxes, class_names)


def assemble(logits: np.ndarray, scores: np.ndarray, classes: np.ndarray, maps: np.ndarray, cams: np.ndarray,
             boxes: np.ndarray, class_names: Sequence[str]) -> ClassActivation:
    """Raw maps (K, h, w), their [0, 1] versions on the image (K, H, W) and boxes (K, 4) -> ClassActivation."""
    picked = tuple(Classification(int(c), str(class_names[c]), float(scores[c])) for c in classes)
    return ClassActivation(classes=picked, logits=logits, cams_raw=maps, cams=cams, boxes=boxes)


def explain_hand(explainer: CamExplainer, image: np.ndarray, rect: NormalizedRect, top_k: int = 2,
                 classes: Sequence[int] | None = None, box_threshold: float = BOX_THRESHOLD,
                 component_fraction: float = LARGEST_COMPONENT_ONLY) -> ClassActivation:
    """The hand landmark network on the crop of ``rect``: maps of its presence/handedness heads, in image pixels.
    Boxes are thresholded on the [0, 1] maps (0 outside the crop)."""
    from .hand_roi import crop_maps_to_image, crop_matrix, hand_input

    out = explainer.explain(hand_input(image, rect), top_k, classes)
    cams = crop_maps_to_image(normalize_maps(out.maps), crop_matrix(rect, image.shape[:2]), image.shape[:2])
    boxes = boxes_from_maps(cams, box_threshold, component_fraction)
    return assemble(out.logits, out.scores, out.classes, out.maps, cams, boxes, explainer.model.class_names)


def activation_detections(activation: ClassActivation, image_size: tuple[int, int]) -> list[Detection]:
    """One Detection per mapped class: its CAM box (normalised to the image), score and label."""
    H, W = image_size
    scale = np.array([W, H, W, H], np.float32)
    return [
        Detection(box=(box / scale).astype(np.float32), score=c.score, label=c.name, label_id=c.index)
        for c, box in zip(activation.classes, activation.boxes, strict=True)
    ]
