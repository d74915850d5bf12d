"""GT-known weakly supervised localization of CAM boxes on COCO-annotated photos.

Protocol (CAM paper, adapted to COCO): (image, category) pairs whose category maps to ImageNet classes. The class is
known: among the category's ImageNet classes take the one the network scores highest, box its CAM (``CamSettings``;
the paper: 20% of max, largest connected component) and count the pair correct when its IoU with a GT box of the
category is >= 0.5. Two subsets:

- "single large" (``localization_pairs``): exactly one instance of the category (no crowd region), whose box covers
  at least ``min_area_fraction`` of the image;
- "all pairs" (``localization_pairs(..., single_large_only=False)``): every pair with a non-crowd instance; the best
  IoU over the category's instances counts (ILSVRC's rule for images with several objects of the class).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from calculators.common.boxes import box_iou

from .explainer import CamExplainer
from .pipeline import DEFAULT_SETTINGS, CamSettings, finish_maps
from .preprocess import preprocess_imagenet

IOU_THRESHOLD = 0.5  # ILSVRC localization rule


@dataclass(frozen=True)
class LocalizationPair:
    """One (image, category) to localize. gt_boxes: (G, 4) float pixels [x1, y1, x2, y2], G >= 1 non-crowd
    instances; single_large: G == 1, no crowd region and the box covers at least the minimum area fraction."""

    image_path: Path
    category: str
    gt_boxes: np.ndarray
    imagenet_classes: tuple[int, ...]
    single_large: bool


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


def localization_pairs(instances_json: Path, mapping: Mapping[str, Sequence[int]], min_area_fraction: float = 0.1,
                       single_large_only: bool = True) -> list[LocalizationPair]:
    """Pairs of a COCO instances file (images next to it in ``images/``): the single-large subset, or all pairs."""
    coco = json.loads(Path(instances_json).read_text())
    images = {im["id"]: im for im in coco["images"]}
    categories = {c["id"]: c["name"] for c in coco["categories"]}
    by_image_category: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for ann in coco["annotations"]:
        by_image_category[(ann["image_id"], categories[ann["category_id"]])].append(ann)
    pairs = []
    for (image_id, category), anns in sorted(by_image_category.items()):
        instances = [a for a in anns if not a.get("iscrowd", 0)]
        if category not in mapping or not instances:
            continue
        im = images[image_id]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in instances)], np.float32)
        w, h = instances[0]["bbox"][2:]
        single_large = len(anns) == 1 and w * h >= min_area_fraction * im["width"] * im["height"]
        if single_large_only and not single_large:
            continue
        pairs.append(LocalizationPair(Path(instances_json).parent / "images" / im["file_name"], category, boxes,
                                      tuple(mapping[category]), single_large))
    return pairs


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; FileNotFoundError naming it when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def score_box(pair: LocalizationPair, predicted_class: int, box: np.ndarray, top1: int) -> LocalizationResult:
    """The result of one pair: best IoU of ``box`` over the pair's GT boxes."""
    iou = float(box_iou(np.asarray(box, np.float32)[None], pair.gt_boxes).max())
    return LocalizationResult(pair, predicted_class, box, iou, top1 in pair.imagenet_classes)


def localize(explainer: CamExplainer, pair: LocalizationPair, settings: CamSettings = DEFAULT_SETTINGS,
             image: np.ndarray | None = None) -> LocalizationResult:
    """Run the GT-known protocol on one pair (``image``: the pair's pixels if already read)."""

    image = read_rgb(pair.image_path) if image is None else image
    x, region = preprocess_imagenet(image, settings.crop, settings.input_size)
    out = explainer.explain(x, classes=pair.imagenet_classes, flip=settings.flip)  # raw maps of the whole set
    best = int(np.argmax(out.scores[out.classes]))
    activation = finish_maps(out.logits, out.scores, out.classes[best:best + 1], out.maps[best:best + 1],
                             image.shape[:2], region, explainer.model.class_names, settings)
    return score_box(pair, int(out.classes[best]), activation.boxes[0], int(np.argmax(out.logits)))


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
