"""Cost of class activation maps on top of classification (EfficientNet-Lite0, 224x224, CPU).

Measures, interleaved in one process so machine load hits all variants alike:
  classify      - features -> GAP -> fc -> softmax -> top-k (no maps)
  maps_only     - the extra work of CAM alone: the maps of the top-1/5 classes from precomputed features
  cam_top1/5    - the same forward plus the maps of the top-1 / top-5 classes (CamExplainer.explain)
  grad_cam_top1 - Grad-CAM on the same features (a backward pass), for comparison
and, separately, the post-processing of the maps for a 480x640 frame: normalisation + bilinear upsampling, and the
20%-of-max / largest-connected-component boxes. Prints JSON: medians in ms and ratios against ``classify``.

    python benchmarks/cam.py [--runs 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from calculators.cam.cam import boxes_from_maps, class_activation_maps, normalize_maps, upsample_maps
from calculators.cam.explainer import CamExplainer
from calculators.cam.models import efficientnet_lite0_classifier
from calculators.cam.preprocess import preprocess_imagenet


def _time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import skimage.data

    image = skimage.data.coffee()  # (400, 600, 3)
    frame = np.ascontiguousarray(np.resize(image, (480, 640, 3)))
    x, _ = preprocess_imagenet(image, "full")
    model = efficientnet_lite0_classifier()
    cam = CamExplainer(model)
    grad = CamExplainer(model, grad_cam_layer="head_act")

    def classify() -> None:
        with torch.inference_mode():
            logits = model.linear(model.features(x).mean(dim=(2, 3)))[0]
            torch.topk(torch.softmax(logits, -1), 5)

    maps5 = cam.explain(x, top_k=5).maps  # (5, 7, 7)
    with torch.inference_mode():
        features = model.features(x)[0]  # (1280, 7, 7)
    top5 = torch.topk(model.linear(features.mean(dim=(1, 2))), 5).indices

    def maps_only(k: int) -> None:
        with torch.inference_mode():
            class_activation_maps(features, model.linear.weight, top5[:k])
    variants: dict[str, Callable[[], object]] = {
        "classify": classify,
        "cam_top1": lambda: cam.explain(x, top_k=1),
        "cam_top5": lambda: cam.explain(x, top_k=5),
        "grad_cam_top1": lambda: grad.explain(x, top_k=1),
        "maps_only_top1": lambda: maps_only(1),
        "maps_only_top5": lambda: maps_only(5),
        "upsample_top1_480x640": lambda: upsample_maps(normalize_maps(maps5[:1]), frame.shape[:2]),
        "upsample_top5_480x640": lambda: upsample_maps(normalize_maps(maps5), frame.shape[:2]),
    }
    up1 = upsample_maps(normalize_maps(maps5[:1]), frame.shape[:2])
    up5 = upsample_maps(normalize_maps(maps5), frame.shape[:2])
    variants["boxes_top1_480x640"] = lambda: boxes_from_maps(up1)
    variants["boxes_top5_480x640"] = lambda: boxes_from_maps(up5)

    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(0)
    for i in tqdm(range(args.warmup + args.runs), desc="cam benchmark"):
        rng.shuffle(order)  # the CPU is shared: spread load changes over every variant
        for name in order:
            t = _time_ms(variants[name])
            if i >= args.warmup:
                times[name].append(t)
    cam.close()
    grad.close()

    median = {name: statistics.median(ts) for name, ts in times.items()}
    base = median["classify"]
    report = {
        "device": "cpu",
        "threads": args.threads,
        "runs": args.runs,
        "input": "224x224 (coffee, whole frame)",
        "median_ms": {k: round(v, 3) for k, v in median.items()},
        "min_ms": {k: round(min(ts), 3) for k, ts in times.items()},
        "ratio_vs_classify": {k: round(median[k] / base, 4) for k in ("cam_top1", "cam_top5", "grad_cam_top1")},
        "cam_overhead_percent": {k: round(100 * (median[k] / base - 1), 2) for k in ("cam_top1", "cam_top5")},
        # the only extra work of CAM: one (K, 1280) x (1280, 49) matmul, as a share of the classification time
        "maps_only_percent_of_classify": {k: round(100 * median[f"maps_only_{k}"] / base, 3) for k in ("top1", "top5")},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
