"""Record torchvision's Mask R-CNN, stage by stage, on seeded weights: the parity fixture for our plain-torch model.

Runs in a separate environment that has torchvision (our package never imports it):

    python3 -m venv /work/tv-venv && /work/tv-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/tv-venv/bin/python tools/make_maskrcnn_fixture.py            # writes tests/fixtures/maskrcnn_parity.pt
    /work/tv-venv/bin/python tools/make_maskrcnn_fixture.py --check-full-resolution   # no file: prints JSON

``--check-full-resolution`` runs torchvision's model and ours (imported from this checkout; it needs only torch) on
the same seeded weights at torchvision's default 800-px resizing, end to end, and prints their differences and
timings (median of 3 runs each, 2 threads).

What it records (about 6 MB):
- ``maskrcnn_resnet50_fpn`` built as the COCO checkpoint is (frozen batch norm, 91 classes), every state-dict
  tensor filled by ``seeded_tensor`` below, which needs only torch: our test rebuilds the same weights from the
  stored seed and key list. ``box_score_thresh=0`` so the random-weight model still emits 100 detections.
- One seeded 120x150 image, resized to 128x160 (min_size 128, max_size 160) so the run takes seconds.
- Each stage: the normalised padded batch, FPN levels, RPN head outputs, proposals, pooled box features (every
  20th proposal), class logits and box deltas for all proposals, detections in the resized image, pooled mask
  features (first 8 detections), mask logits of the detected class, final boxes/labels/scores and the first 8
  pasted masks, then the full ``model([image])`` call.
- Training losses for one target under ``torch.manual_seed(seed)`` (the samplers draw with ``torch.randperm``).
- RoIAlign (aligned False/True, sampling_ratio -1/0/1/2, two output sizes), RoIPool, nms and batched_nms on
  seeded random inputs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

SEED = 1234
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "maskrcnn_parity.pt"


def seeded_tensor(key: str, shape: tuple[int, ...], index: int, seed: int, bn_prefixes: set[str]) -> torch.Tensor:
    """The weight-filling rule shared with tests/maskrcnn/test_parity.py (torch only, no torchvision).

    Keys are visited in sorted order; key ``index`` draws N(0, 1) from ``Generator().manual_seed(seed + index)``
    and is scaled by its role: BN running_var 0.5 + |z|/2 (positive), running_mean z/10, BN weight 1 + z/10,
    BN bias z/10, other biases z/20, weights z / sqrt(fan_in) with fan_in = prod(shape[1:]).
    """
    g = torch.Generator().manual_seed(seed + index)
    z = torch.randn(shape, generator=g)
    module, leaf = key.rsplit(".", 1)
    if leaf == "running_var":
        return 0.5 + 0.5 * z.abs()
    if leaf == "running_mean":
        return 0.1 * z
    if module in bn_prefixes:
        return 1.0 + 0.1 * z if leaf == "weight" else 0.1 * z
    if leaf == "bias":
        return 0.05 * z
    return z / math.sqrt(math.prod(shape[1:]))


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Fill every key of ``shapes`` by ``seeded_tensor``, keys in sorted order."""
    bn_prefixes = {k.rsplit(".", 1)[0] for k in shapes if k.endswith(".running_mean")}
    return {k: seeded_tensor(k, shapes[k], i, seed, bn_prefixes) for i, k in enumerate(sorted(shapes))}


def seeded_image(seed: int, height: int = 120, width: int = 150) -> torch.Tensor:
    """A smooth-ish random RGB image in [0, 1]: low-resolution noise upsampled, so features are not pure noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand((1, 3, height // 10, width // 10), generator=g)
    fine = torch.rand((1, 3, height, width), generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return (0.8 * smooth + 0.2 * fine)[0].clamp(0, 1)


def seeded_target(height: int = 120, width: int = 150) -> dict[str, torch.Tensor]:
    """Two objects with box-filling elliptic masks, in original-image pixels."""
    boxes = torch.tensor([[20.0, 15.0, 90.0, 80.0], [70.0, 40.0, 140.0, 110.0]])
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    masks = []
    for x1, y1, x2, y2 in boxes.tolist():
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        masks.append((((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1).to(torch.uint8))
    return {"boxes": boxes, "labels": torch.tensor([3, 17]), "masks": torch.stack(masks)}


def record_ops(seed: int) -> dict[str, object]:
    from torchvision.ops import batched_nms, nms, roi_align, roi_pool

    g = torch.Generator().manual_seed(seed + 100_000)
    features = torch.randn((2, 8, 20, 24), generator=g)
    xy = torch.rand((40, 2), generator=g) * torch.tensor([52.0, 44.0]) - 2.0
    wh = torch.rand((40, 2), generator=g) ** 2 * torch.tensor([40.0, 34.0])
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=g).float(), xy, xy + wh], dim=1)
    rois[0, 1:] = torch.tensor([3.2, 4.7, 3.3, 4.9])  # thinner than a cell
    rois[1, 1:] = torch.tensor([-5.0, -6.0, 60.0, 50.0])  # beyond the map on every side
    ops: dict[str, object] = {"features": features, "rois": rois, "spatial_scale": 0.5, "roi_align": {}}
    for aligned in (False, True):
        for ratio in (-1, 0, 1, 2):
            for size in ((7, 7), (3, 5)):
                out = roi_align(features, rois, size, spatial_scale=0.5, sampling_ratio=ratio, aligned=aligned)
                ops["roi_align"][(aligned, ratio, size)] = out  # type: ignore[index]
    ops["roi_pool"] = roi_pool(features, rois, (7, 7), spatial_scale=0.5)
    centres = torch.rand((600, 2), generator=g) * 200
    sizes = 10 + torch.rand((600, 2), generator=g) * 40
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], dim=1)
    scores = torch.rand(600, generator=g)
    groups = torch.randint(0, 5, (600,), generator=g)
    ops.update(nms_boxes=boxes, nms_scores=scores, nms_groups=groups)
    ops["nms"] = {t: nms(boxes, scores, t) for t in (0.3, 0.5, 0.7)}
    ops["batched_nms"] = {t: batched_nms(boxes, scores, groups, t) for t in (0.3, 0.5, 0.7)}
    return ops


def torchvision_model(**kwargs: object) -> torch.nn.Module:
    """torchvision's Mask R-CNN built as the COCO checkpoint is (frozen-BN ResNet-50, 3 trainable stages, FPN,
    default heads, 91 classes), filled with the seeded weights, in eval mode."""
    from torchvision.models import resnet50
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d), 3)
    model = MaskRCNN(backbone, num_classes=91, **kwargs)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state_dict(shapes, SEED), strict=True)
    return model.eval()


def check_full_resolution() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from calculators.maskrcnn.model import MaskRCNN as OurMaskRCNN
    from calculators.maskrcnn.model import MaskRCNNConfig

    torch.set_num_threads(2)
    theirs = torchvision_model(box_score_thresh=0.0)
    ours = OurMaskRCNN(MaskRCNNConfig(box_score_thresh=0.0))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    image = seeded_image(SEED + 7, 480, 640)
    report: dict[str, object] = {"image": [480, 640], "resized": "800x1066", "threads": 2}
    outputs = {}
    with torch.no_grad():
        for name, model in (("torchvision", theirs), ("ours", ours)):
            model([image])
            times = []
            for _ in range(3):
                start = time.perf_counter()
                outputs[name] = model([image])[0]
                times.append(time.perf_counter() - start)
            report[f"{name}_median_s"] = round(statistics.median(times), 2)
    a, b = outputs["ours"], outputs["torchvision"]
    report["detections"] = [len(a["labels"]), len(b["labels"])]
    report["labels_equal"] = bool(torch.equal(a["labels"], b["labels"]))
    if report["labels_equal"]:
        for key in ("boxes", "scores", "masks"):
            report[f"{key}_max_abs_diff"] = float((a[key] - b[key]).abs().max())
    print(json.dumps(report, indent=2))


def main() -> None:
    import torchvision
    from torchvision.models.detection.roi_heads import maskrcnn_inference

    torch.set_num_threads(2)
    min_size, max_size = 128, 160
    model = torchvision_model(min_size=min_size, max_size=max_size, box_score_thresh=0.0)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}

    image = seeded_image(SEED)
    fx: dict[str, object] = {
        "versions": {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__)},
        "seed": SEED,
        "keys": sorted(shapes),
        "shapes": shapes,
        "min_size": min_size,
        "max_size": max_size,
        "image": image,
    }
    with torch.no_grad():
        images, _ = model.transform([image])
        fx["batch"] = images.tensors
        fx["image_sizes"] = images.image_sizes
        features = model.backbone(images.tensors)
        fx["features"] = dict(features)
        logits, deltas = model.rpn.head(list(features.values()))
        fx["rpn_logits"], fx["rpn_deltas"] = logits, deltas
        proposals, _ = model.rpn(images, features)
        fx["proposals"] = proposals[0]
        pooled = model.roi_heads.box_roi_pool(features, proposals, images.image_sizes)
        fx["box_pooled_rows"] = torch.arange(0, pooled.shape[0], 20)
        fx["box_pooled"] = pooled[fx["box_pooled_rows"]]
        class_logits, box_deltas = model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
        fx["class_logits"], fx["box_deltas"] = class_logits, box_deltas
        boxes, scores, labels = model.roi_heads.postprocess_detections(
            class_logits, box_deltas, proposals, images.image_sizes
        )
        fx["det_boxes"], fx["det_scores"], fx["det_labels"] = boxes[0], scores[0], labels[0]
        mask_pooled = model.roi_heads.mask_roi_pool(features, boxes, images.image_sizes)
        fx["mask_pooled"] = mask_pooled[:8].clone()
        mask_logits = model.roi_heads.mask_predictor(model.roi_heads.mask_head(mask_pooled))
        fx["mask_logits"] = mask_logits[torch.arange(len(labels[0])), labels[0]]
        mask_probs = maskrcnn_inference(mask_logits, labels)
        fx["mask_probs"] = mask_probs[0]
        result = [{"boxes": boxes[0], "scores": scores[0], "labels": labels[0], "masks": mask_probs[0]}]
        final = model.transform.postprocess(result, images.image_sizes, [tuple(image.shape[-2:])])[0]
        fx["final_boxes"], fx["final_scores"], fx["final_labels"] = final["boxes"], final["scores"], final["labels"]
        fx["final_masks"] = final["masks"][:8].clone()
        full = model([image])[0]
        fx["full_boxes"], fx["full_scores"], fx["full_labels"] = full["boxes"], full["scores"], full["labels"]
        fx["full_masks"] = full["masks"][:8].clone()

    model.train()
    target = seeded_target()
    fx["target"] = target
    torch.manual_seed(SEED)
    losses = model([image], [target])
    fx["losses"] = {k: v.detach() for k, v in losses.items()}
    fx["ops"] = record_ops(SEED)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fx, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB); {len(shapes)} keys, {len(proposals[0])} proposals,")
    print(f"{len(boxes[0])} detections; losses { ({k: round(float(v), 5) for k, v in fx['losses'].items()}) }")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-full-resolution", action="store_true", help="compare end to end at 800 px")
    if parser.parse_args().check_full_resolution:
        check_full_resolution()
    else:
        main()
