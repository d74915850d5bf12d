"""GT-known weakly supervised localization of CAM boxes on COCO-annotated photos.

Protocol (CAM paper, adapted to COCO): keep (image, category) pairs whose category maps to ImageNet classes, that
have exactly one instance of the category (no crowd region) and whose box covers at least ``min_area_fraction`` of
the image. The class is known: among the category's ImageNet classes take the one the network scores highest, box its
CAM (20% of max, largest connected component) and count the pair correct when IoU >= 0.5 with the GT box.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .cam import box_iou
from .explainer import CamExplainer
from .pipeline import finish_maps
from .preprocess import preprocess_imagenet

IOU_THRESHOLD = 0.5  # ILSVRC localization rule


@dataclass(frozen=True)
class LocalizationPair:
    """One (image, category) to localize. gt_box: (4,) float pixels [x1, y1, x2, y2]."""

    image_path: Path
    category: str
    gt_box: np.ndarray
    imagenet_classes: tuple[int, ...]


@dataclass(frozen=True)
class LocalizationResult:
    pair: LocalizationPair
    predicted_class: int
    box: np.ndarray
    iou: float
    top1_in_set: bool  # the network's overall top-1 class belongs to the category's set

    @property
    def correct(self) -> bool:
        return self.iou >= IOU_THRESHOLD


def localization_pairs(instances_json: Path, mapping: Mapping[str, Sequence[int]],
                       min_area_fraction: float = 0.1) -> list[LocalizationPair]:
    """Pairs of a COCO instances file (images next to it in ``images/``) that satisfy the protocol above."""
    coco = json.loads(Path(instances_json).read_text())
    images = {im["id"]: im for im in coco["images"]}
    categories = {c["id"]: c["name"] for c in coco["categories"]}
    by_image_category: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for ann in coco["annotations"]:
        by_image_category[(ann["image_id"], categories[ann["category_id"]])].append(ann)
    pairs = []
    for (image_id, category), anns in sorted(by_image_category.items()):
        if category not in mapping or len(anns) != 1 or anns[0].get("iscrowd", 0):
            continue
        im = images[image_id]
        x, y, w, h = anns[0]["bbox"]
        if w * h < min_area_fraction * im["width"] * im["height"]:
            continue
        pairs.append(LocalizationPair(Path(instances_json).parent / "images" / im["file_name"], category,
                                      np.array([x, y, x + w, y + h], np.float32), tuple(mapping[category])))
    return pairs


def localize(explainer: CamExplainer, pair: LocalizationPair, crop: str = "full") -> LocalizationResult:
    """Run the GT-known protocol on one pair."""
    bgr = cv2.imread(str(pair.image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(pair.image_path)
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    x, region = preprocess_imagenet(image, crop)
    out = explainer.explain(x, classes=pair.imagenet_classes)  # raw maps of every class of the set
    best = int(np.argmax(out.scores[out.classes]))
    activation = finish_maps(out.logits, out.scores, out.classes[best:best + 1], out.maps[best:best + 1],
                             image.shape[:2], region, explainer.model.class_names)
    box = activation.boxes[0]
    return LocalizationResult(pair, int(out.classes[best]), box, box_iou(box, pair.gt_box),
                              int(np.argmax(out.logits)) in pair.imagenet_classes)


def summarize(results: Sequence[LocalizationResult]) -> dict:
    """Overall and per-category GT-known localization accuracy (IoU >= 0.5), and top-1-in-set rate."""
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        per_category[r.pair.category][0] += int(r.correct)
        per_category[r.pair.category][1] += 1
    n = len(results)
    return {
        "pairs": n,
        "gt_known_loc": sum(r.correct for r in results) / n if n else 0.0,
        "top1_in_set": sum(r.top1_in_set for r in results) / n if n else 0.0,
        "mean_iou": float(np.mean([r.iou for r in results])) if n else 0.0,
        "per_category": {k: f"{c}/{t}" for k, (c, t) in sorted(per_category.items())},
    }
