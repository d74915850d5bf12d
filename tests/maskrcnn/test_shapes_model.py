"""The committed shapes checkpoint: its file format, and that it actually segments held-out synthetic scenes."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from calculators.common.boxes import box_iou
from calculators.maskrcnn.shapes_dataset import CLASS_NAMES, ShapesDataset
from calculators.maskrcnn.shapes_model import (
    CHECKPOINT_FORMAT,
    SHAPES_CHECKPOINT,
    build_shapes_model,
    load_detector,
    save_checkpoint,
    shapes_config,
)

EVAL_SEED = 1_000_003  # tools/train_shapes.py's held-out split


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def detector():
    model, names = load_detector("shapes")
    return model, names


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0


def test_checkpoint_is_small_and_loads_with_weights_only():
    assert SHAPES_CHECKPOINT.stat().st_size < 12 * 2**20
    payload = torch.load(SHAPES_CHECKPOINT, map_location="cpu", weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT
    assert payload["class_names"] == list(CLASS_NAMES)
    assert payload["training"]["mask_AP"] > 0.5, "the checkpoint records the AP its training run measured"


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_shapes_model(shapes_config(fpn_channels=16, representation_size=32, mask_layers=(16,))).eval()
    path = tmp_path / "tiny.pt"
    save_checkpoint(model, path, training={"note": "test"})
    loaded, names = load_detector(path)
    assert names == CLASS_NAMES
    reference = {k: v.half().float() for k, v in model.state_dict().items() if v.is_floating_point()}
    for key, value in loaded.state_dict().items():
        if key in reference:
            torch.testing.assert_close(value, reference[key], msg=f"{key} differs after a save/load round trip")
    assert loaded.config.min_size == 128 and loaded.config.num_classes == len(CLASS_NAMES)


def test_config_overrides_apply_and_unknown_ones_are_refused():
    model, _ = load_detector("shapes", box_score_thresh=0.9, min_size=160, max_size=160)
    assert model.config.box_score_thresh == 0.9 and model.config.min_size == 160
    with pytest.raises(ValueError, match="unknown"):
        load_detector("shapes", no_such_field=1)


def test_trained_checkpoint_segments_held_out_scenes(detector):
    """Ground-truth shapes are found with the right class and a tight mask (an untrained model: mean IoU ~0.1)."""
    model, _ = detector
    samples = list(ShapesDataset(EVAL_SEED + 1, 16))  # a split neither training nor the AP evaluation used
    with torch.inference_mode():
        outputs = model([_image_tensor(s.image) for s in samples])
    ious, correct = [], []
    for sample, out in zip(samples, outputs, strict=True):
        keep = out["scores"] >= 0.5
        pred_masks = (out["masks"][keep, 0] >= 0.5).numpy()
        pred_labels = out["labels"][keep].numpy()
        for gt_mask, gt_label in zip(sample.masks.astype(bool), sample.labels, strict=True):
            if len(pred_masks) == 0:
                ious.append(0.0)
                correct.append(False)
                continue
            inter = (pred_masks & gt_mask).sum(axis=(1, 2))
            union = (pred_masks | gt_mask).sum(axis=(1, 2))
            best = int(np.argmax(inter / union))
            ious.append(float(inter[best] / union[best]))
            correct.append(bool(pred_labels[best] == gt_label))
    ious_array = np.array(ious)
    summary = f"{len(ious)} shapes: median IoU {np.median(ious_array):.3f}, found {np.mean(ious_array > 0.5):.3f}"
    assert np.median(ious_array) > 0.85, summary
    assert np.mean(ious_array > 0.5) > 0.85, summary
    assert np.mean(correct) > 0.9, f"class accuracy of the best-matching instance {np.mean(correct):.3f}"


def test_box_refinement_tightens_boxes_and_keeps_scores():
    """Iterative box regression (``box_refine_steps``): the same detections, scores and labels, with boxes that
    fit the ground truth better on a split no choice looked at (compared with the single pass in the test)."""
    single, _ = load_detector("shapes", box_refine_steps=0)
    refined, _ = load_detector("shapes")
    assert refined.config.box_refine_steps == 1  # the shapes model's default, also for checkpoints predating it
    samples = list(ShapesDataset(EVAL_SEED + 2, 16))
    images = [_image_tensor(s.image) for s in samples]
    with torch.inference_mode():
        before, after = single(images), refined(images)
    ious = {"single": [], "refined": []}
    for sample, a, b in zip(samples, before, after, strict=True):
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["scores"], b["scores"])
        gt = torch.from_numpy(sample.boxes)
        for name, out in (("single", a), ("refined", b)):
            keep = out["scores"] >= 0.5
            ious[name] += box_iou(gt, out["boxes"][keep]).max(dim=1).values.tolist() if keep.any() else []
    assert len(ious["single"]) == len(ious["refined"]) > 20
    means = {k: round(float(np.mean(v)), 4) for k, v in ious.items()}
    assert means["refined"] > means["single"] + 0.002, means  # measured: 0.9490 against 0.9428


def _train_script():
    path = Path(__file__).resolve().parents[2] / "tools" / "train_shapes.py"
    spec = importlib.util.spec_from_file_location("train_shapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_script_is_reproducible_from_its_seed(tmp_path):
    """Two short runs with the same seed write identical weights; the loss is finite and the report complete."""
    script = _train_script()
    states, reports = [], []
    for run in range(2):
        args = argparse.Namespace(
            seed=3,
            iterations=2,
            batch=2,
            lr=0.01,
            warmup=1,
            fpn_channels=16,
            image_size=160,
            aligned=True,
            eval_images=2,
            eval_every=0,
            log_every=0,
            out=tmp_path / f"run{run}.pt",
        )
        reports.append(script.train(args))
        states.append(torch.load(args.out, weights_only=True)["state_dict"])
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), f"{key} differs between two runs with the same seed"
    assert {"box_AP", "mask_AP", "train_seconds", "curve"} <= set(reports[0])
