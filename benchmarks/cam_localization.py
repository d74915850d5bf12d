"""GT-known CAM localization on COCO photos with ImageNet EfficientNet-Lite0 (IoU >= 0.5): a table of variants.

Pairs (``calculators/cam/localization.py``): (image, category) in ../shared/data/coco128_half whose category maps to
ImageNet classes (``calculators/cam/coco_to_imagenet.py``). "single_large": one instance covering >= ``--min-area``
of the image; "all_pairs": every pair, the best IoU over the category's instances. The class is known: the best-scored
ImageNet class of the category's set is mapped and boxed.

Each variant is a ``CamSettings`` (input size, flip averaging, threshold rule, components). The rows go from what
the ``ClassActivation`` facade did before (min-max normalised map, 224 px) through the plain recipe of the paper
(raw map, 20% of its max, largest component, 224 px) to the node's defaults (``CamSettings()``), one change at a
time, then neighbours of the chosen settings. Choose settings on this (shared) half only. Prints JSON.

The protocol scores one box per pair (the best IoU of that box over the category's instances), so a variant may
not emit several boxes and be scored on the best one. "map_variants" are rules outside ``CamSettings`` measured on
the same raw maps (multi-scale averaging, flip at each scale, the class-set rule, bicubic upsampling, a threshold
per component); none was adopted (docs/notes/2026-12-02-s3-issue-14.md). "one_component_bounds" is not a rule: per
pair, the best IoU of any single connected component's box at any of a few thresholds, i.e. the most that choosing
one component (or one threshold) per pair could give at that input size. Every row also counts the two kinds of
pair behind "all pairs" that are not single large: one small instance, several instances.

    python benchmarks/cam_localization.py [--min-area 0.1] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from tqdm import tqdm

from calculators.cam.cam import box_from_map, upsample_maps
from calculators.cam.coco_to_imagenet import coco_to_imagenet
from calculators.cam.explainer import CamExplainer, CamOutput
from calculators.cam.localization import (
    IOU_THRESHOLD,
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
from calculators.common.boxes import box_iou

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


@dataclass(frozen=True)
class MapVariant:
    """A rule outside ``CamSettings``: raw maps of several input sizes (each optionally flip-averaged) upsampled to
    the image and averaged, then ``box_from_map``.

    class_rule: "best" = the map of the set's best class (by the logits averaged over sizes; the protocol's rule),
        "set_mean" = the mean of the maps of every class of the set, "set_prob" = their mean weighted by softmax
        probability. interpolation: of the upsampling. scale_norm: divide each size's map by its max before
        averaging (so that no size dominates). component_rethreshold: > 0 = each kept component contributes only its
        pixels >= this fraction of its own peak to the box (a threshold per component).
    """

    sizes: tuple[int, ...] = (CHOSEN.input_size,)
    flip: bool = False
    class_rule: Literal["best", "set_mean", "set_prob"] = "best"
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    scale_norm: bool = False
    box_threshold: float = CHOSEN.box_threshold
    component_fraction: float = CHOSEN.component_fraction
    component_rethreshold: float = 0.0


MAP_VARIANTS: tuple[tuple[str, MapVariant], ...] = (
    ("chosen, recomputed here (must equal the chosen row)", MapVariant()),
    ("chosen, bicubic upsampling", MapVariant(interpolation="bicubic")),
    ("chosen, bicubic, 30%", MapVariant(interpolation="bicubic", box_threshold=0.3)),
    ("chosen, class set: mean of its maps", MapVariant(class_rule="set_mean")),
    ("chosen, class set: probability-weighted maps", MapVariant(class_rule="set_prob")),
    ("chosen, each component re-thresholded at 30% of its own peak", MapVariant(component_rethreshold=0.3)),
    ("chosen, each component re-thresholded at 50% of its own peak", MapVariant(component_rethreshold=0.5)),
    ("chosen at 512", MapVariant(sizes=(512,))),
    ("chosen at 640", MapVariant(sizes=(640,))),
    ("320+384+448 mean", MapVariant(sizes=(320, 384, 448))),
    ("320+384+448 mean, flip at each", MapVariant(sizes=(320, 384, 448), flip=True)),
    ("320+384+448, each / its max", MapVariant(sizes=(320, 384, 448), scale_norm=True)),
    ("320+384+448, each / its max, 40%", MapVariant(sizes=(320, 384, 448), scale_norm=True, box_threshold=0.4)),
    ("384+448 mean", MapVariant(sizes=(384, 448))),
    ("384+448+512 mean", MapVariant(sizes=(384, 448, 512))),
    ("384+448+512 mean, flip at each", MapVariant(sizes=(384, 448, 512), flip=True)),
    ("384+512, each / its max, 30%", MapVariant(sizes=(384, 512), scale_norm=True, box_threshold=0.3)),
)
BOUND_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
BOUND_SETTINGS: tuple[tuple[int, bool], ...] = ((224, False), (384, False), (448, True), (640, False))


def variant_map(cache: CachedExplainer, pair: LocalizationPair, v: MapVariant) -> tuple[int, np.ndarray]:
    """(class, (H, W) raw map on the image) of a MapVariant."""
    image_size = cache.image(pair.image_path).shape[:2]
    outs = [cache.explain(pair.image_path, dataclasses.replace(CHOSEN, input_size=s, flip=v.flip))[0]
            for s in v.sizes]
    rows = np.array([int(np.where(outs[0].classes == c)[0][0]) for c in pair.imagenet_classes])
    logits = np.mean([o.logits for o in outs], axis=0)
    in_set = logits[outs[0].classes[rows]]
    if v.class_rule == "best":
        weights = (np.arange(len(rows)) == np.argmax(in_set)).astype(np.float32)
    elif v.class_rule == "set_mean":
        weights = np.full(len(rows), 1.0 / len(rows), np.float32)
    else:
        p = np.exp(in_set - in_set.max())
        weights = (p / p.sum()).astype(np.float32)
    total = np.zeros(image_size, np.float32)
    for o in outs:
        raw = np.tensordot(weights, o.maps[rows], axes=1).astype(np.float32)  # (h, w)
        if v.interpolation == "bilinear":
            up = upsample_maps(raw[None], image_size)[0]
        else:
            up = cv2.resize(raw, image_size[::-1], interpolation=cv2.INTER_CUBIC)
        total += up / max(float(up.max()), 1e-12) if v.scale_norm else up
    return int(outs[0].classes[rows[int(np.argmax(in_set))]]), total / len(outs)


def rethresholded_box(cam: np.ndarray, v: MapVariant) -> np.ndarray:
    """``box_from_map``'s components, each shrunk to its pixels >= ``component_rethreshold`` of its own peak."""
    peak = float(cam.max())
    if peak <= 0:
        return np.zeros(4, np.float32)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((cam >= v.box_threshold * peak).astype(np.uint8),
                                                                connectivity=8)
    areas = stats[1:count, cv2.CC_STAT_AREA]
    kept = np.nonzero(areas >= v.component_fraction * areas.max())[0] + 1
    xs, ys = [], []
    for label in kept:
        inside = labels == label
        rows, cols = np.nonzero(inside & (cam >= v.component_rethreshold * cam[inside].max()))
        xs += [cols.min(), cols.max() + 1]
        ys += [rows.min(), rows.max() + 1]
    return np.array([min(xs), min(ys), max(xs), max(ys)], np.float32)


def localize_variant(cache: CachedExplainer, pair: LocalizationPair, v: MapVariant) -> LocalizationResult:
    cls, cam = variant_map(cache, pair, v)
    box = (rethresholded_box(cam, v) if v.component_rethreshold > 0
           else box_from_map(cam, v.box_threshold, v.component_fraction))
    top1 = int(np.argmax(cache.explain(pair.image_path, dataclasses.replace(CHOSEN, input_size=v.sizes[0]))[0].logits))
    return score_box(pair, cls, box, top1)


def one_component_bound(cache: CachedExplainer, pair: LocalizationPair, size: int, flip: bool) -> float:
    """The best IoU of any single component's box, at any of BOUND_THRESHOLDS, of the best class's map."""
    _, cam = variant_map(cache, pair, MapVariant(sizes=(size,), flip=flip))
    best = 0.0
    for t in BOUND_THRESHOLDS:
        count, _, stats, _ = cv2.connectedComponentsWithStats((cam >= t * cam.max()).astype(np.uint8), connectivity=8)
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:count]], np.float32)
        best = max(best, float(box_iou(boxes, pair.gt_boxes).max()))
    return best


def pair_kind_counts(results: Sequence[LocalizationResult]) -> dict[str, int]:
    """Correct pairs of the two kinds that are in "all pairs" but not single large."""
    small = [r for r in results if not r.pair.single_large and len(r.pair.gt_boxes) == 1]
    several = [r for r in results if len(r.pair.gt_boxes) > 1]
    return {"one_small_instance_correct": sum(r.correct for r in small), "one_small_instance_pairs": len(small),
            "several_instances_correct": sum(r.correct for r in several), "several_instances_pairs": len(several)}


def row(name: str, settings: dict, results: Sequence[LocalizationResult], n_single: int, n_all: int) -> dict:
    sl = summarize([r for r in results if r.pair.single_large])
    al = summarize(results)
    return {
        "name": name, "settings": settings,
        "single_large": round(sl["gt_known_loc"], 4), "single_large_correct": round(sl["gt_known_loc"] * n_single),
        "all_pairs": round(al["gt_known_loc"], 4), "all_pairs_correct": round(al["gt_known_loc"] * n_all),
        "mean_iou_single_large": round(sl["mean_iou"], 4), **pair_kind_counts(results),
    }


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
            report["variants"].append(  # type: ignore[attr-defined]
                row(name, dataclasses.asdict(settings), results, len(single), len(pairs)))
        report["map_variants"] = [
            row(name, dataclasses.asdict(v), [localize_variant(cache, p, v) for p in pairs], len(single), len(pairs))
            for name, v in tqdm(MAP_VARIANTS, desc="map variants")
        ]
        bounds = []
        for size, flip in BOUND_SETTINGS:
            ious = np.array([one_component_bound(cache, p, size, flip) for p in pairs])
            large = np.array([p.single_large for p in pairs])
            bounds.append({"input_size": size, "flip": flip, "thresholds": list(BOUND_THRESHOLDS),
                           "single_large_correct": int((ious[large] >= IOU_THRESHOLD).sum()),
                           "all_pairs_correct": int((ious >= IOU_THRESHOLD).sum())})
        report["one_component_bounds"] = bounds
    report["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
