"""GT-known CAM localization on COCO photos with ImageNet EfficientNet-Lite0 (IoU >= 0.5), per category.

Pairs: (image, category) in ../shared/data/coco128_half where the category maps to ImageNet classes
(``calculators/cam/coco_to_imagenet.py``), the image has exactly one instance of it and its box covers at least
``--min-area`` of the image. The class is known: the best-scored ImageNet class of the category's set is mapped,
boxed (20% of max, largest connected component) and compared with the GT box. Prints JSON for each input mode
("full" = whole frame resized to 224, "center" = TF reference centre crop).

    python benchmarks/cam_localization.py [--min-area 0.1] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from calculators.cam.coco_to_imagenet import coco_to_imagenet
from calculators.cam.explainer import CamExplainer
from calculators.cam.localization import localization_pairs, localize, summarize
from calculators.cam.models import efficientnet_lite0_classifier

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco128_half"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-area", type=float, default=0.1, help="GT box area / image area, at least")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pairs = localization_pairs(args.data / "instances.json", coco_to_imagenet(), args.min_area)
    report: dict[str, object] = {"data": str(args.data.resolve()), "min_area_fraction": args.min_area,
                                 "iou_threshold": 0.5, "modes": {}}
    with CamExplainer(efficientnet_lite0_classifier()) as explainer:
        for crop in ("full", "center"):
            start = time.perf_counter()
            results = [localize(explainer, p, crop) for p in tqdm(pairs, desc=f"localize ({crop})")]
            summary = summarize(results)
            summary["seconds"] = round(time.perf_counter() - start, 2)
            summary["ious"] = {f"{r.pair.image_path.stem}:{r.pair.category}": round(r.iou, 3) for r in results}
            report["modes"][crop] = summary  # type: ignore[index]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
