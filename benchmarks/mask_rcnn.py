"""Mask R-CNN inference latency per image, split by stage, and against torchvision on the same weights and input.

    nice python benchmarks/mask_rcnn.py                      # R50-FPN and the small model at 512 and 800 px
    python benchmarks/mask_rcnn.py --models small --sizes 128 512 --runs 5 --no-torchvision

Models: ``r50_fpn`` = ``MaskRCNN(MaskRCNNConfig())`` (torchvision's maskrcnn_resnet50_fpn layout, 91 classes) with
seeded random weights, since no COCO weights can be had here; ``small`` = the committed shapes checkpoint
(EfficientNet-Lite0-FPN). Both run at ``--score-thresh`` (default 0.05, torchvision's ``box_score_thresh``). With
random R50 weights every class score is about 1/91 < 0.05, so the R50 rows have no detections and **exclude the
mask branch** (as the issue's first look at torchvision did); ``--score-thresh 0`` forces 100 detections through it,
but then per-class NMS sees all 1000 x 90 candidate boxes, which our plain-torch NMS pays for heavily. The number of
detections is reported per row.
Input: one S x S synthetic shapes scene (shapes scaled with S); the detector resizes it to min_size = S.

Stages (medians over ``--runs`` after one warm-up): ``preprocess`` (normalise, resize, pad), ``backbone`` (body +
FPN), ``rpn`` (head, decode, per-level top-n, NMS), ``box_branch`` (RoIAlign 7x7, two-FC head, per-class NMS; the
small model's box refinement),
``mask_branch`` (RoIAlign 14x14, mask head, class selection), ``paste`` (boxes and 28x28 masks back into the image).
``end_to_end`` is a separate ``model([image])`` call; ``stage_sum / end_to_end`` near 1 shows the split is faithful.

torchvision: when ``/work/tv-venv`` (torch + torchvision) exists (``python3.11 -m venv /work/tv-venv &&
/work/tv-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy``; the CUDA build runs on the CPU), the R50
weights are saved to a temporary file and
this script re-runs itself there (``--torchvision-worker``), loading them into ``torchvision.models.detection.
maskrcnn_resnet50_fpn`` with the same thresholds, sizes and thread count, on the same image. The ratio is ours /
torchvision's median end-to-end latency, measured in the same invocation; ``ratio_min_ours_over_min_torchvision``
the same with the fastest run of each (other jobs on a shared machine only add time). ``--interleave N`` also
times our model inside the torchvision process (same torch build), alternating with torchvision's run by run,
N each: ``interleaved_same_process`` (load drifts hit both alike; the fairest ratio on a shared machine).
``outputs_vs_torchvision`` compares the FPN features (max difference relative to torchvision's largest
value, per level), the RPN proposals (as sets: near-tied random-init scores may swap neighbours in order, or in
and out of the top-n cut) and the detections of both.
(The small model has no torchvision counterpart: its backbone is ours.) Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TV_PYTHON = Path("/work/tv-venv/bin/python")


def _median_time(fn, runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def torchvision_worker(args: argparse.Namespace) -> None:
    """Runs inside the torchvision venv: load our saved weights into torchvision's model and time it."""
    import numpy as np
    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.set_num_threads(args.threads)
    image = torch.from_numpy(np.load(args.image)).permute(2, 0, 1).float() / 255.0
    size = image.shape[-1]
    model = maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        min_size=size,
        max_size=round(size * 1333 / 800),
        box_score_thresh=args.score_thresh,
    )
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # weights=None builds plain BatchNorm (with a num_batches_tracked counter); eval mode makes it a frozen BN.
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise RuntimeError(f"torchvision load: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.eval()
    detections = 0
    outputs: dict = {}
    model.rpn.register_forward_hook(lambda module, inputs, out: outputs.update(proposals=out[0][0]))
    # references only (no copy inside the timed runs)
    model.backbone.register_forward_hook(lambda module, inputs, out: outputs.update(features=out))

    def run() -> None:
        nonlocal detections
        with torch.inference_mode():
            result = model([image])[0]
        detections = len(result["boxes"])
        outputs.update({k: result[k] for k in ("boxes", "scores", "labels")})

    median, times = _median_time(run, args.runs)
    interleaved = {}
    if args.interleave:
        # ours on the same torch in this process, alternating run by run with torchvision's: load drifts on a
        # shared machine hit both alike
        sys.path.insert(0, str(REPO))
        from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig

        ours = MaskRCNN(MaskRCNNConfig(box_score_thresh=args.score_thresh, min_size=size,
                                       max_size=round(size * 1333 / 800)))
        ours.load_state_dict(state, strict=True)
        ours.eval()
        runs: dict[str, list[float]] = {"ours": [], "torchvision": []}
        with torch.inference_mode():
            ours([image])
            for _ in range(args.interleave):
                for name, fn in (("ours", lambda: ours([image])), ("torchvision", lambda: model([image]))):
                    start = time.perf_counter()
                    fn()
                    runs[name].append(time.perf_counter() - start)
        interleaved = {
            "torch": torch.__version__,
            "runs_s": runs,
            "median_ratio": statistics.median(runs["ours"]) / statistics.median(runs["torchvision"]),
            "min_ratio": min(runs["ours"]) / min(runs["torchvision"]),
        }
    outputs["features"] = {k: v.contiguous() for k, v in outputs["features"].items()}
    torch.save(outputs, args.outputs)
    print(json.dumps({"end_to_end_s": median, "runs_s": times, "detections": detections, "interleaved": interleaved}))


def _stages(model, image, runs: int) -> dict:
    """Median seconds per stage of ``model`` on one (3, H, W) image (mirrors ``MaskRCNN.forward``)."""
    import torch

    from calculators.maskrcnn.postprocess import (
        paste_masks_in_image,
        resize_boxes,
        select_class_masks,
        select_detections,
    )

    c = model.config
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn):
        start = time.perf_counter()
        out = fn()
        timings.setdefault(name, []).append(time.perf_counter() - start)
        return out

    def one_pass() -> int:
        with torch.inference_mode():
            batch, sizes = timed("preprocess", lambda: model.preprocess([image]))
            features = timed("backbone", lambda: model.backbone(batch))
            rpn = timed(
                "rpn",
                lambda: model.rpn(
                    list(features.values()),
                    tuple(batch.shape[-2:]),
                    sizes,
                    c.rpn_pre_nms_top_n_test,
                    c.rpn_post_nms_top_n_test,
                ),
            )
            heads = model.roi_heads

            def box_branch():
                _, logits, deltas = heads.box_outputs(features, rpn.proposals, sizes)
                boxes = heads.box_coder.decode(deltas, torch.cat(rpn.proposals))
                scores = torch.softmax(logits, dim=-1)
                det_boxes, det_scores, det_labels = select_detections(
                    boxes, scores, sizes[0], c.box_score_thresh, c.box_nms_thresh, c.box_detections_per_img
                )
                detections = [{"boxes": det_boxes, "scores": det_scores, "labels": det_labels}]
                for _ in range(c.box_refine_steps):  # the small model's iterative box regression (R50: none)
                    heads.refine_boxes(features, detections, sizes)
                return detections[0]["boxes"], detections[0]["scores"], detections[0]["labels"]

            det_boxes, _, det_labels = timed("box_branch", box_branch)

            def mask_branch():
                _, logits = heads.mask_logits(features, [det_boxes], sizes)
                return select_class_masks(logits, det_labels)

            masks = timed("mask_branch", mask_branch)
            original = tuple(image.shape[-2:])

            def paste():
                boxes = resize_boxes(det_boxes, sizes[0], original)
                return paste_masks_in_image(masks, boxes, original)

            timed("paste", paste)
            return len(det_boxes)

    one_pass()  # warm-up
    timings.clear()
    detections = 0
    for _ in range(runs):
        detections = one_pass()
    medians = {k: statistics.median(v) for k, v in timings.items()}

    outputs: dict = {}

    def end_to_end():
        with torch.inference_mode():
            result = model([image])[0]
        outputs.update({k: result[k] for k in ("boxes", "scores", "labels")})
        return result

    e2e, e2e_runs = _median_time(end_to_end, runs)
    with torch.inference_mode():
        batch, sizes = model.preprocess([image])
        features = model.backbone(batch)
        rpn = model.rpn(list(features.values()), tuple(batch.shape[-2:]), sizes, c.rpn_pre_nms_top_n_test,
                        c.rpn_post_nms_top_n_test)
    outputs["proposals"] = rpn.proposals[0]
    outputs["features"] = {k: v.contiguous() for k, v in features.items()}
    return {
        "end_to_end_s": e2e,
        "end_to_end_runs_s": e2e_runs,
        "stages_s": medians,
        "stage_sum_over_end_to_end": sum(medians.values()) / e2e,
        "detections": detections,
        "outputs": outputs,
    }


def _compare(ours: dict, theirs: dict) -> dict:
    """Same proposals and detections as torchvision? Shapes, max |difference| and whether the labels agree."""
    import torch

    report = {}
    if "features" in ours and "features" in theirs:
        # FPN levels from the same weights and input: max |ours - theirs| relative to max |theirs|, per level
        report["fpn_features_max_rel_diff"] = {
            k: float((ours["features"][k] - v).abs().max() / v.abs().max().clamp(min=1e-12))
            for k, v in theirs["features"].items()
        }
    for key in ("proposals", "boxes", "scores", "labels"):
        a, b = ours[key], theirs[key]
        same_shape = tuple(a.shape) == tuple(b.shape)
        entry = {"ours": list(a.shape), "torchvision": list(b.shape)}
        if same_shape and a.numel():
            if key == "labels":
                entry["equal"] = bool((a == b).all())
            else:
                entry["max_abs_diff_same_order"] = float((a.float() - b.float()).abs().max())
            if key in ("proposals", "boxes"):
                # near-tied random-init scores may swap neighbours: match each box to its nearest counterpart
                nearest = torch.cdist(a.float(), b.float(), p=float("inf")).min(dim=1).values
                entry["max_nearest_box_diff_px"] = float(nearest.max())
                entry["fraction_within_1e-3_px"] = float((nearest <= 1e-3).float().mean())
        report[key] = entry
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["r50_fpn", "small"], choices=["r50_fpn", "small"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 800])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-thresh", type=float, default=0.05)
    parser.add_argument("--no-torchvision", action="store_true")
    parser.add_argument(
        "--interleave", type=int, default=0, metavar="N",
        help="also time ours and torchvision alternately, N runs each, in the torchvision process (same torch)",
    )
    parser.add_argument("--torchvision-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--weights", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--outputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torchvision_worker:
        torchvision_worker(args)
        return

    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch
    from tqdm import tqdm

    from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
    from calculators.maskrcnn.shapes_dataset import ShapesConfig, render_sample
    from calculators.maskrcnn.shapes_model import load_detector

    torch.set_num_threads(args.threads)
    use_tv = TV_PYTHON.exists() and not args.no_torchvision
    report = {
        "benchmark": "mask_rcnn_latency_per_image",
        "torch": torch.__version__,
        "threads": args.threads,
        "runs": args.runs,
        "score_thresh": args.score_thresh,
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "torchvision": "not run" if not use_tv else str(TV_PYTHON),
        "results": [],
    }
    jobs = [(m, s) for m in args.models for s in args.sizes]
    with tempfile.TemporaryDirectory() as tmp:
        for model_name, size in tqdm(jobs, desc="mask_rcnn bench"):
            scale = size / 128
            scene = render_sample(args.seed, 0, ShapesConfig(image_size=size, size_range=(12 * scale, 32 * scale)))
            image = torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255.0
            sizes = {"min_size": size, "max_size": round(size * 1333 / 800)}
            if model_name == "r50_fpn":
                torch.manual_seed(args.seed)
                model = MaskRCNN(MaskRCNNConfig(box_score_thresh=args.score_thresh, **sizes)).eval()
            else:
                model, _ = load_detector("shapes", box_score_thresh=args.score_thresh, **sizes)
            entry = {"model": model_name, "size": size, **_stages(model, image, args.runs)}
            ours = entry.pop("outputs")
            if use_tv and model_name == "r50_fpn":
                weights = Path(tmp) / "r50.pt"
                image_path = Path(tmp) / "image.npy"
                torch.save(model.state_dict(), weights)
                np.save(image_path, scene.image)
                cmd = [str(TV_PYTHON), __file__, "--torchvision-worker", "--image", str(image_path)]
                cmd += ["--weights", str(weights), "--runs", str(args.runs), "--threads", str(args.threads)]
                cmd += ["--score-thresh", str(args.score_thresh), "--outputs", str(Path(tmp) / "tv_outputs.pt")]
                cmd += ["--interleave", str(args.interleave)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    entry["torchvision_error"] = done.stderr.strip().splitlines()[-1:]
                else:
                    tv = json.loads(done.stdout.strip().splitlines()[-1])
                    entry["torchvision_end_to_end_s"] = tv["end_to_end_s"]
                    entry["torchvision_runs_s"] = tv["runs_s"]
                    entry["torchvision_detections"] = tv["detections"]
                    if tv["interleaved"]:
                        entry["interleaved_same_process"] = tv["interleaved"]
                    entry["ratio_ours_over_torchvision"] = entry["end_to_end_s"] / tv["end_to_end_s"]
                    # other jobs on a shared machine only add time: the fastest runs are the least disturbed
                    entry["ratio_min_ours_over_min_torchvision"] = min(entry["end_to_end_runs_s"]) / min(tv["runs_s"])
                    theirs = torch.load(Path(tmp) / "tv_outputs.pt", weights_only=True)
                    entry["outputs_vs_torchvision"] = _compare(ours, theirs)
            report["results"].append(entry)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
