"""COCO-style box and mask AP with pycocotools, for ground truth and predictions held in numpy arrays.

Ground truth: a list of ``(masks (N, H, W) uint8, labels (N,) int)`` per image (boxes are derived from the masks, as
COCO does). Predictions: a list of ``Prediction`` per image, same order. Predicted masks are binarised at
``mask_threshold`` before RLE encoding, like torchvision's reference evaluation.

The result dict holds the twelve standard COCO numbers for each IoU type, named ``box_AP``, ``box_AP50``,
``box_AP75``, ``box_APs``, ``box_APm``, ``box_APl``, ``box_AR1``, ... and the same with ``mask_``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
"""Names of ``COCOeval.stats`` entries, in order."""


@dataclass(frozen=True)
class Prediction:
    """Detections for one image.

    boxes: (N, 4) float pixels [x1, y1, x2, y2]; labels: (N,) int; scores: (N,) float;
    masks: (N, H, W) float probabilities (or binary) at the image's resolution.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray


def _encode(mask: np.ndarray) -> dict:
    """(H, W) binary -> COCO RLE with a str ``counts`` (JSON-friendly)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _xywh(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def build_coco_ground_truth(ground_truth: Sequence[tuple[np.ndarray, np.ndarray]], class_names: Sequence[str]) -> COCO:
    """An in-memory ``COCO`` object; image ids are 1-based positions, category ids are the labels."""
    images, annotations = [], []
    for image_id, (masks, labels) in enumerate(ground_truth, start=1):
        height, width = masks.shape[1:] if masks.ndim == 3 else (0, 0)
        images.append({"id": image_id, "height": int(height), "width": int(width)})
        for mask, label in zip(masks, labels, strict=True):
            rle = _encode(mask)
            ys, xs = np.nonzero(mask)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "segmentation": rle,
                    "area": float(mask.sum()),
                    "bbox": _xywh(box),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": name} for i, name in enumerate(class_names) if i > 0]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def predictions_to_coco_results(predictions: Sequence[Prediction], mask_threshold: float = 0.5) -> list[dict]:
    """COCO result records (one per detection) with both ``bbox`` and ``segmentation``."""
    results = []
    for image_id, pred in enumerate(predictions, start=1):
        for box, label, score, mask in zip(pred.boxes, pred.labels, pred.scores, pred.masks, strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(label),
                    "score": float(score),
                    "bbox": _xywh(box),
                    "segmentation": _encode(mask >= mask_threshold),
                }
            )
    return results


def coco_evaluate(
    ground_truth: Sequence[tuple[np.ndarray, np.ndarray]],
    predictions: Sequence[Prediction],
    class_names: Sequence[str],
    mask_threshold: float = 0.5,
) -> dict[str, float]:
    """Box and mask AP/AR (COCO protocol, all 12 numbers each). Empty predictions give zeros, not an error."""
    if len(ground_truth) != len(predictions):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(predictions)} predictions")
    coco_gt = build_coco_ground_truth(ground_truth, class_names)
    results = predictions_to_coco_results(predictions, mask_threshold)
    stats: dict[str, float] = {}
    for iou_type, prefix in (("bbox", "box"), ("segm", "mask")):
        if not results:
            stats.update({f"{prefix}_{name}": 0.0 for name in STAT_NAMES})
            continue
        # one field per IoU type: loadRes derives ``area`` from the box when a record has one, and from the mask
        # otherwise, so each evaluation sees the area of its own geometry.
        drop = "segmentation" if iou_type == "bbox" else "bbox"
        records = [{k: v for k, v in r.items() if k != drop} for r in results]
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = coco_gt.loadRes(records)
            evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        stats.update({f"{prefix}_{name}": float(v) for name, v in zip(STAT_NAMES, evaluator.stats, strict=True)})
    return stats
