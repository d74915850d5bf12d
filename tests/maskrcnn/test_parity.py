"""Stage-by-stage parity with torchvision 0.29.1's maskrcnn_resnet50_fpn on seeded weights.

The fixture comes from tools/make_maskrcnn_fixture.py (run in a torchvision environment); here the same weights
are rebuilt from the stored seed and key list by the script's torch-only rule, loaded strictly into our model,
and each stage is fed the *stored* inputs of that stage (as torchvision computed them), so one stage's float
noise cannot reorder the next stage's top-k or NMS. Tolerance: max |ours - theirs| <= 1e-4 * max |theirs|.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from calculators.maskrcnn.model import MaskRCNN, MaskRCNNConfig
from calculators.maskrcnn.postprocess import paste_masks_in_image, resize_boxes, select_class_masks, select_detections

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "maskrcnn_parity.pt"
RTOL = 1e-4


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_maskrcnn_fixture", REPO / "tools" / "make_maskrcnn_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str, rtol: float = RTOL) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    if expected.numel() == 0:
        return
    scale = float(expected.abs().max().clamp(min=1e-6))
    err = float((actual.to(expected.dtype) - expected).abs().max())
    assert err <= rtol * scale, f"{what}: max abs diff {err:.3g} > {rtol} x max |expected| {scale:.3g}"


def assert_same_detections(out: dict, fx: dict, what: str) -> None:
    """The whole chain from the image against the stored end-to-end detections. Float noise accumulated over
    every stage may swap detections whose scores tie to ~1e-5 (two of the 100 here differ by 6e-6 once the body's
    batch norms are folded), so each of ours is matched to the reference detection of the same label with the
    nearest box; the matching must be one-to-one, and the matched boxes, scores (hence the order, up to such ties)
    and masks agree to the tolerance."""
    assert out["labels"].shape == fx["full_labels"].shape, what
    distance = torch.cdist(out["boxes"], fx["full_boxes"], p=float("inf"))
    distance[out["labels"][:, None] != fx["full_labels"][None, :]] = float("inf")
    match = distance.argmin(dim=1)
    assert sorted(match.tolist()) == list(range(len(fx["full_labels"]))), f"{what}: detections do not match 1:1"
    assert torch.equal(out["labels"], fx["full_labels"][match])
    assert_close(out["boxes"], fx["full_boxes"][match], f"{what} boxes")
    assert_close(out["scores"], fx["full_scores"][match], f"{what} scores")
    stored = torch.where(match < len(fx["full_masks"]))[0]  # the fixture keeps the first 8 masks
    assert len(stored) >= len(fx["full_masks"]) - 2
    assert_close(out["masks"][stored], fx["full_masks"][match[stored]], f"{what} masks")


@pytest.fixture(scope="module")
def fx() -> dict:
    torch.set_num_threads(1)
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def model(fx: dict) -> MaskRCNN:
    tool = _load_tool()
    config = MaskRCNNConfig(min_size=fx["min_size"], max_size=fx["max_size"], box_score_thresh=0.0)
    net = MaskRCNN(config)
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert sorted(ours) == fx["keys"], "state-dict keys differ from torchvision's"
    for key in fx["keys"]:
        assert ours[key] == tuple(fx["shapes"][key]), f"{key}: shape {ours[key]} != {fx['shapes'][key]}"
    net.load_state_dict(tool.seeded_state_dict(ours, fx["seed"]), strict=True)
    return net.eval()


def test_transform(model: MaskRCNN, fx: dict) -> None:
    batch, sizes = model.preprocess([fx["image"]])
    assert sizes == [tuple(s) for s in fx["image_sizes"]]
    assert_close(batch, fx["batch"], "normalised padded batch")


@torch.no_grad()
def test_backbone_fpn_levels(model: MaskRCNN, fx: dict) -> None:
    features = model.backbone(fx["batch"])
    assert list(features) == list(fx["features"])
    for name, level in fx["features"].items():
        assert_close(features[name], level, f"FPN level {name}")


@torch.no_grad()
def test_rpn_head_and_proposals(model: MaskRCNN, fx: dict) -> None:
    levels = list(fx["features"].values())
    logits, deltas = model.rpn.head(levels)
    for i, (lg, dl) in enumerate(zip(logits, deltas, strict=True)):
        assert_close(lg, fx["rpn_logits"][i], f"RPN objectness level {i}")
        assert_close(dl, fx["rpn_deltas"][i], f"RPN deltas level {i}")
    c = model.config
    out = model.rpn(
        levels, tuple(fx["batch"].shape[-2:]), fx["image_sizes"], c.rpn_pre_nms_top_n_test, c.rpn_post_nms_top_n_test
    )
    assert_close(out.proposals[0], fx["proposals"], "proposals")


@torch.no_grad()
def test_box_branch_on_stored_proposals(model: MaskRCNN, fx: dict) -> None:
    pooled, logits, deltas = model.roi_heads.box_outputs(fx["features"], [fx["proposals"]], fx["image_sizes"])
    assert_close(pooled[fx["box_pooled_rows"]], fx["box_pooled"], "RoIAlign 7x7 box features")
    assert_close(logits, fx["class_logits"], "class logits")
    assert_close(deltas, fx["box_deltas"], "box deltas")


@torch.no_grad()
def test_detection_selection(model: MaskRCNN, fx: dict) -> None:
    boxes = model.roi_heads.box_coder.decode(fx["box_deltas"], fx["proposals"])
    scores = torch.softmax(fx["class_logits"], dim=-1)
    c = model.config
    det_boxes, det_scores, det_labels = select_detections(
        boxes, scores, tuple(fx["image_sizes"][0]), c.box_score_thresh, c.box_nms_thresh, c.box_detections_per_img
    )
    assert torch.equal(det_labels, fx["det_labels"])
    assert_close(det_boxes, fx["det_boxes"], "detection boxes")
    assert_close(det_scores, fx["det_scores"], "detection scores")


@torch.no_grad()
def test_mask_branch_on_stored_detections(model: MaskRCNN, fx: dict) -> None:
    pooled, logits = model.roi_heads.mask_logits(fx["features"], [fx["det_boxes"]], fx["image_sizes"])
    assert_close(pooled[:8], fx["mask_pooled"], "RoIAlign 14x14 mask features")
    labels = fx["det_labels"]
    assert_close(logits[torch.arange(len(labels)), labels], fx["mask_logits"], "28x28 mask logits")
    assert_close(select_class_masks(logits, labels), fx["mask_probs"], "28x28 mask probabilities")


def test_paste_into_original_image(fx: dict) -> None:
    original = tuple(fx["image"].shape[-2:])
    boxes = resize_boxes(fx["det_boxes"], tuple(fx["image_sizes"][0]), original)
    assert_close(boxes, fx["final_boxes"], "boxes in the original image")
    pasted = paste_masks_in_image(fx["mask_probs"][:8], boxes[:8], original)
    assert_close(pasted, fx["final_masks"], "pasted masks")


@torch.no_grad()
def test_end_to_end(model: MaskRCNN, fx: dict) -> None:
    assert_same_detections(model([fx["image"]])[0], fx, "end-to-end")


def test_training_losses_match_under_the_same_seed(model: MaskRCNN, fx: dict) -> None:
    torch.manual_seed(fx["seed"])
    torch.empty(1).uniform_()  # torchvision's transform draws the training min_size from the RNG first
    losses = model.losses([fx["image"]], [fx["target"]])
    assert set(losses) == set(fx["losses"])
    for name, value in fx["losses"].items():
        assert_close(losses[name].detach(), value, name, rtol=1e-4)


def test_from_torchvision_checkpoint_loads_strictly(fx: dict, tmp_path: Path) -> None:
    tool = _load_tool()
    state = tool.seeded_state_dict({k: tuple(v) for k, v in fx["shapes"].items()}, fx["seed"])
    # a checkpoint saved from a model with trainable nn.BatchNorm2d also carries num_batches_tracked counters
    bn = [k.rsplit(".", 1)[0] for k in state if k.endswith(".running_mean")]
    state.update({f"{prefix}.num_batches_tracked": torch.tensor(0) for prefix in bn})
    path = tmp_path / "maskrcnn_seeded.pth"
    torch.save({"model": state}, path)  # the layout of torchvision's reference training checkpoints
    model = MaskRCNN.from_torchvision_checkpoint(
        path, min_size=fx["min_size"], max_size=fx["max_size"], box_score_thresh=0.0
    )
    assert model.config.num_classes == 91 and not model.training
    with torch.no_grad():
        out = model([fx["image"]])[0]
    assert_same_detections(out, fx, "after from_torchvision_checkpoint")

    del state["roi_heads.mask_predictor.conv5_mask.bias"]
    torch.save(state, path)
    with pytest.raises((RuntimeError, ValueError), match="conv5_mask.bias"):
        MaskRCNN.from_torchvision_checkpoint(path)
    with pytest.raises(ValueError, match="unknown MaskRCNNConfig"):
        MaskRCNN.from_torchvision_checkpoint(path, min_sise=10)
