"""GT-known CAM localization on real COCO photos (../shared/data/coco128_half), against a measured floor.

Measured with ``benchmarks/cam_localization.py`` (whole-frame input): 19 of 32 pairs correct (59.4%); the floor
leaves room for float-level differences between machines, not for a broken map or box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calculators.cam.coco_to_imagenet import coco_to_imagenet
from calculators.cam.explainer import CamExplainer
from calculators.cam.localization import localization_pairs, localize, summarize

COCO128_HALF = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "coco128_half"

FLOOR = 0.53  # 17/32


def test_gt_known_localization_floor(lite0_classifier):
    pairs = localization_pairs(COCO128_HALF / "instances.json", coco_to_imagenet(), min_area_fraction=0.1)
    assert len(pairs) == 32
    with CamExplainer(lite0_classifier) as explainer:
        results = [localize(explainer, pair, crop="full") for pair in pairs]
    summary = summarize(results)
    assert summary["gt_known_loc"] >= FLOOR, summary
    # every box lies inside its image and is not empty
    for r in results:
        assert (r.box[2:] > r.box[:2]).all(), r


def test_pairs_follow_the_protocol():
    mapping = coco_to_imagenet()
    pairs = localization_pairs(COCO128_HALF / "instances.json", mapping, min_area_fraction=0.1)
    loose = localization_pairs(COCO128_HALF / "instances.json", mapping, min_area_fraction=0.0)
    assert len(loose) > len(pairs)
    for p in pairs:
        assert p.category in mapping and p.image_path.exists()
        assert np.all(p.gt_box[2:] > p.gt_box[:2])
