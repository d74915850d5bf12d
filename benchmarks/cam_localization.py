"""GT-known CAM localization on COCO photos with ImageNet EfficientNet-Lite0 (IoU >= 0.5): a table of variants.

Pairs (``calculators/cam/localization.py``): (image, category) in ../shared/data/coco128_half whose category maps to
ImageNet classes (``calculators/cam/coco_to_imagenet.py``). "single_large": one instance covering >= ``--min-area``
of the image; "all_pairs": every pair, the best IoU over the category's instances. The class is known: the best-scored
ImageNet class of the category's set is mapped and boxed.

Each variant is a ``CamSettings`` (input size, flip averaging, threshold rule, components). The rows go from what
the ``ClassActivation`` facade did before (min-max normalised map, 224 px) through the plain recipe of the paper
(raw map, 20% of its max, largest component, 224 px) to the node's defaults (``CamSettings()``), one change at a
time, then neighbours of the chosen settings. Choose settings on this (shared) half only. Prints JSON.

    python benchmarks/cam_localization.py [--min-area 0.1] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from calculators.cam.coco_to_imagenet import coco_to_imagenet
from calculators.cam.explainer import CamExplainer, CamOutput
from calculators.cam.localization import (
    LocalizationPair,
    LocalizationResult,
    localization_pairs,
    read_rgb,
    score_box,
    summarize,
)
from calculators.cam.models import efficientnet_lite0_classifier
from calculators.cam.pipeline import PAPER_SETTINGS, CamSettings, finish_maps
from calculators.cam.preprocess import preprocess_imagenet

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco128_half"
CHOSEN = CamSettings()

VARIANTS: tuple[tuple[str, CamSettings], ...] = (
    ("before: 224, min-max normalised map, 20%, largest",
     dataclasses.replace(PAPER_SETTINGS, threshold_on="normalized")),
    ("plain recipe: 224, raw map, 20% of max, largest", PAPER_SETTINGS),
    ("plain, centre crop (map on the crop region)", dataclasses.replace(PAPER_SETTINGS, crop="center")),
    ("plain + flip", dataclasses.replace(PAPER_SETTINGS, flip=True)),
    ("plain at 320", dataclasses.replace(PAPER_SETTINGS, input_size=320)),
    ("plain at 384", dataclasses.replace(PAPER_SETTINGS, input_size=384)),
    ("plain at 448", dataclasses.replace(PAPER_SETTINGS, input_size=448)),
    ("384, 25%, largest", dataclasses.replace(CHOSEN, component_fraction=1.0)),
    ("384, 20%, components >= 20% of largest", dataclasses.replace(CHOSEN, box_threshold=0.2)),
    ("chosen: 384, 25%, components >= 20% of largest", CHOSEN),
    ("chosen, min-max normalised map", dataclasses.replace(CHOSEN, threshold_on="normalized")),
    ("chosen + flip", dataclasses.replace(CHOSEN, flip=True)),
    ("chosen, 30%", dataclasses.replace(CHOSEN, box_threshold=0.3)),
    ("chosen, components >= 10%", dataclasses.replace(CHOSEN, component_fraction=0.1)),
    ("chosen, components >= 50%", dataclasses.replace(CHOSEN, component_fraction=0.5)),
    ("chosen at 320", dataclasses.replace(CHOSEN, input_size=320)),
    ("chosen at 448", dataclasses.replace(CHOSEN, input_size=448)),
    ("chosen at 448 + flip", dataclasses.replace(CHOSEN, input_size=448, flip=True)),
)


class CachedExplainer:
    """One forward pass per (image, input size, crop, flip) for the union of the classes its pairs need."""

    def __init__(self, explainer: CamExplainer, pairs: Sequence[LocalizationPair]) -> None:
        self.explainer = explainer
        self.classes: dict[Path, list[int]] = {}
        for p in pairs:
            self.classes[p.image_path] = sorted(set(self.classes.get(p.image_path, [])) | set(p.imagenet_classes))
        self._images: dict[Path, np.ndarray] = {}
        self._outputs: dict[tuple, tuple[CamOutput, tuple]] = {}

    def image(self, path: Path) -> np.ndarray:
        if path not in self._images:
            self._images[path] = read_rgb(path)
        return self._images[path]

    def explain(self, path: Path, settings: CamSettings) -> tuple[CamOutput, tuple]:
        key = (path, settings.input_size, settings.crop, settings.flip)
        if key not in self._outputs:
            x, region = preprocess_imagenet(self.image(path), settings.crop, settings.input_size)
            self._outputs[key] = (self.explainer.explain(x, classes=self.classes[path], flip=settings.flip), region)
        return self._outputs[key]


def localize_cached(cache: CachedExplainer, pair: LocalizationPair, settings: CamSettings) -> LocalizationResult:
    """``localization.localize`` on a cached forward pass (same maps, same class choice, same box)."""
    out, region = cache.explain(pair.image_path, settings)
    rows = np.array([int(np.where(out.classes == c)[0][0]) for c in pair.imagenet_classes])
    best = rows[int(np.argmax(out.scores[out.classes[rows]]))]
    image = cache.image(pair.image_path)
    activation = finish_maps(out.logits, out.scores, out.classes[best:best + 1], out.maps[best:best + 1],
                             image.shape[:2], region, cache.explainer.model.class_names, settings)
    return score_box(pair, int(out.classes[best]), activation.boxes[0], int(np.argmax(out.logits)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-area", type=float, default=0.1, help="GT box area / image area, at least")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pairs = localization_pairs(args.data / "instances.json", coco_to_imagenet(), args.min_area, single_large_only=False)
    single = [p for p in pairs if p.single_large]
    report: dict[str, object] = {
        "data": str(args.data.resolve()), "min_area_fraction": args.min_area, "iou_threshold": 0.5,
        "single_large_pairs": len(single), "all_pairs": len(pairs), "variants": [],
    }
    start = time.perf_counter()
    with CamExplainer(efficientnet_lite0_classifier()) as explainer:
        cache = CachedExplainer(explainer, pairs)
        for name, settings in tqdm(VARIANTS, desc="variants"):
            results = [localize_cached(cache, p, settings) for p in pairs]
            sl = summarize([r for r in results if r.pair.single_large])
            al = summarize(results)
            report["variants"].append({  # type: ignore[attr-defined]
                "name": name, "settings": dataclasses.asdict(settings),
                "single_large": round(sl["gt_known_loc"], 4),
                "single_large_correct": round(sl["gt_known_loc"] * len(single)),
                "all_pairs": round(al["gt_known_loc"], 4),
                "all_pairs_correct": round(al["gt_known_loc"] * len(pairs)),
                "mean_iou_single_large": round(sl["mean_iou"], 4),
            })
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
