"""One image in, one ``graphflow.types.ClassActivation`` out: preprocess -> classify + CAM -> upsample -> boxes.

Shared by the ``ClassActivationMap`` calculator and the benchmarks; the steps themselves are the pure functions of
``cam.py`` and ``preprocess.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphflow.types import ClassActivation, Classification, Detection, NormalizedRect

from .cam import BOX_THRESHOLD, boxes_from_maps, normalize_maps, upsample_maps
from .explainer import CamExplainer
from .preprocess import INPUT_SIZE, preprocess_imagenet


def explain_image(explainer: CamExplainer, image: np.ndarray, top_k: int = 5, classes: Sequence[int] | None = None,
                  crop: str = "full", input_size: int = INPUT_SIZE,
                  box_threshold: float = BOX_THRESHOLD) -> ClassActivation:
    """image: (H, W, 3) uint8 RGB. Returns the classes (top-k, or ``classes``), logits, raw maps at feature
    resolution, [0, 1] maps at the image's resolution and one pixel box per map."""
    x, region = preprocess_imagenet(image, crop, input_size)
    out = explainer.explain(x, top_k, classes)
    return finish_maps(out.logits, out.scores, out.classes, out.maps, image.shape[:2], region,
                       explainer.model.class_names, box_threshold)


def finish_maps(logits: np.ndarray, scores: np.ndarray, classes: np.ndarray, maps: np.ndarray,
                image_size: tuple[int, int], region: tuple[float, float, float, float] | None,
                class_names: Sequence[str], box_threshold: float = BOX_THRESHOLD) -> ClassActivation:
    """Raw (K, h, w) maps -> ClassActivation with (K, H, W) [0, 1] maps on ``region`` of the image and boxes."""
    cams = upsample_maps(normalize_maps(maps), image_size, region)  # (K, H, W)
    return assemble(logits, scores, classes, maps, cams, class_names, box_threshold)


def assemble(logits: np.ndarray, scores: np.ndarray, classes: np.ndarray, maps: np.ndarray, cams: np.ndarray,
             class_names: Sequence[str], box_threshold: float = BOX_THRESHOLD) -> ClassActivation:
    """Raw maps (K, h, w) and their [0, 1] versions placed on the image (K, H, W) -> ClassActivation with boxes."""
    boxes = boxes_from_maps(cams, box_threshold)  # (K, 4) pixels
    picked = tuple(Classification(int(c), str(class_names[c]), float(scores[c])) for c in classes)
    return ClassActivation(classes=picked, logits=logits, cams_raw=maps, cams=cams, boxes=boxes)


def explain_hand(explainer: CamExplainer, image: np.ndarray, rect: NormalizedRect, top_k: int = 2,
                 classes: Sequence[int] | None = None, box_threshold: float = BOX_THRESHOLD) -> ClassActivation:
    """The hand landmark network on the crop of ``rect``: maps of its presence/handedness heads, in image pixels."""
    from .hand_roi import crop_maps_to_image, crop_matrix, hand_input

    out = explainer.explain(hand_input(image, rect), top_k, classes)
    cams = crop_maps_to_image(normalize_maps(out.maps), crop_matrix(rect, image.shape[:2]), image.shape[:2])
    return assemble(out.logits, out.scores, out.classes, out.maps, cams, explainer.model.class_names, box_threshold)


def activation_detections(activation: ClassActivation, image_size: tuple[int, int]) -> list[Detection]:
    """One Detection per mapped class: its CAM box (normalised to the image), score and label."""
    H, W = image_size
    scale = np.array([W, H, W, H], np.float32)
    return [
        Detection(box=(box / scale).astype(np.float32), score=c.score, label=c.name, label_id=c.index)
        for c, box in zip(activation.classes, activation.boxes, strict=True)
    ]
