"""Pure pre/post-processing of the hand pipeline: anchors, palm decoding, weighted NMS, ROI crops, ROIs, landmarks.

The ROI functions are also checked against every rect in MediaPipe's own reference outputs (images and video,
both complexities): palm detection -> hand ROI, and landmarks -> next-frame ROI, recomputed from MediaPipe's palm
detections and landmarks.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from calculators.common.boxes import box_iou
from calculators.hands.anchors import generate_anchors
from calculators.hands.image_to_tensor import crop_roi, image_to_tensor, pad_roi, roi_in_pixels
from calculators.hands.landmarks import (
    decode_landmarks,
    handedness,
    project_landmarks,
    project_world_landmarks,
    remove_letterbox,
)
from calculators.hands.nms import weighted_nms
from calculators.hands.palm_decode import DetectionArrays, decode_palm_tensors, sigmoid_scores
from calculators.hands.palm_decode import remove_letterbox as remove_detection_letterbox
from calculators.hands.roi import (
    associate_rects,
    landmarks_to_hand_roi,
    normalize_radians,
    palm_to_hand_roi,
    rect_iou,
)
from calculators.types import Detection, NormalizedRect

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hands"


@cache
def reference() -> dict:
    return json.loads((DATA / "mediapipe_reference.json").read_text())


def reference_results() -> list[tuple[int, int, dict]]:
    """(width, height, result) for every image and video frame of the reference, both complexities."""
    ref = reference()
    out = [(v["width"], v["height"], v[f"model_complexity_{c}"]) for v in ref["images"].values() for c in (0, 1)]
    video = ref["videos"]["hand_landmarker_test_video.mp4"]
    for c in (0, 1):
        out += [(640, 360, f) for f in video[f"model_complexity_{c}"]["frames"]]
    return out


def as_rect(r: dict) -> np.ndarray:
    return np.array([r["x_center"], r["y_center"], r["width"], r["height"], r["rotation"]])


def rect_array(r: NormalizedRect) -> np.ndarray:
    return np.array([r.x_center, r.y_center, r.width, r.height, r.rotation])


# ---- anchors ---------------------------------------------------------------------------------------------------
def test_anchors_match_the_palm_model_layout() -> None:
    a = generate_anchors()
    assert a.shape == (2016, 4)
    assert np.all(a[:, 2:] == 1.0), "fixed_anchor_size: every anchor is 1x1"
    # 24x24 cells with 2 anchors each, then 12x12 cells with 6 (three stride-16 layers merged)
    np.testing.assert_allclose(a[0, :2], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[1, :2], a[0, :2])
    np.testing.assert_allclose(a[2, :2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[1151, :2], [23.5 / 24, 23.5 / 24])
    np.testing.assert_allclose(a[1152:1158, :2], np.tile([0.5 / 12, 0.5 / 12], (6, 1)))
    np.testing.assert_allclose(a[1158, :2], [1.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(a[-1, :2], [11.5 / 12, 11.5 / 12])


# ---- palm decoding -------------------------------------------------------------------------------------------
def test_decode_applies_anchor_offsets_in_input_pixels() -> None:
    anchors = generate_anchors()
    raw = np.zeros((2016, 18), np.float32)
    logits = np.full((2016, 1), -10.0, np.float32)
    i = 1152 + 6 * 13  # a 12x12 cell: row 1, column 1 -> centre (1.5/12, 1.5/12)
    raw[i, :4] = [19.2, -9.6, 48.0, 24.0]  # xc, yc offsets and w, h in pixels of 192
    raw[i, 4:] = np.arange(14, dtype=np.float32)
    logits[i] = 2.0
    dets = decode_palm_tensors(raw, logits, anchors)
    assert len(dets) == 1
    xc, yc = 1.5 / 12 + 0.1, 1.5 / 12 - 0.05
    np.testing.assert_allclose(dets.boxes[0], [xc - 0.125, yc - 0.0625, xc + 0.125, yc + 0.0625], atol=1e-6)
    kx = np.arange(0, 14, 2) / 192 + 1.5 / 12
    ky = np.arange(1, 14, 2) / 192 + 1.5 / 12
    np.testing.assert_allclose(dets.keypoints[0], np.stack([kx, ky], 1), atol=1e-6)
    np.testing.assert_allclose(dets.scores, [1 / (1 + math.exp(-2.0))], rtol=1e-6)


def test_decode_threshold_clipping_and_negative_sizes() -> None:
    anchors = generate_anchors()
    raw = np.zeros((2016, 18), np.float32)
    raw[:, 2:4] = 20.0
    logits = np.full((2016, 1), -1.0, np.float32)
    logits[[0, 1, 2]] = [[1e6], [0.0], [3.0]]  # clipped to 100, exactly 0.5 (kept: >=), kept
    raw[2, 2] = -5.0  # a negative width is a bad regression: dropped
    with np.errstate(over="raise"):
        dets = decode_palm_tensors(raw, logits, anchors)
        assert sigmoid_scores(np.array([-1e6]), 100.0)[0] == pytest.approx(1 / (1 + math.exp(100)))
    np.testing.assert_allclose(dets.scores, [1.0, 0.5])


def test_detection_letterbox_removal_maps_back_to_the_image() -> None:
    dets = DetectionArrays(np.array([[0.2, 0.25, 0.6, 0.75]], np.float32), np.array([[[0.5, 0.5]]], np.float32),
                           np.array([0.9], np.float32))
    out = remove_detection_letterbox(dets, np.array([0.0, 0.25, 0.0, 0.25]))
    np.testing.assert_allclose(out.boxes[0], [0.2, 0.0, 0.6, 1.0], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 0], [0.5, 0.5], atol=1e-6)


# ---- weighted NMS --------------------------------------------------------------------------------------------
def _dets(boxes: list[list[float]], scores: list[float]) -> DetectionArrays:
    b = np.array(boxes, np.float32)
    kp = np.stack([b[:, :2], b[:, 2:]], axis=1)  # two keypoints: the corners
    return DetectionArrays(b, kp, np.array(scores, np.float32))


def test_weighted_nms_averages_boxes_but_keeps_the_top_score() -> None:
    dets = _dets([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]], [0.6, 0.9, 0.7])
    out = weighted_nms(dets, 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.7])  # top score kept, not averaged; best first
    merged_x = (0.6 * 0.0 + 0.9 * 0.1) / 1.5
    np.testing.assert_allclose(out.boxes[0], [merged_x, 0.0, merged_x + 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0], out.boxes[0].reshape(2, 2), atol=1e-6)
    np.testing.assert_allclose(out.boxes[1], [3.0, 3.0, 4.0, 4.0])


def test_weighted_nms_merges_only_above_the_threshold() -> None:
    # IoU of these two is exactly 1/3: merged at 0.3, not at 1/3 (strictly greater)
    dets = _dets([[0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.5, 1.0]], [0.9, 0.8])
    assert box_iou(dets.boxes[:1], dets.boxes[1:])[0, 0] == pytest.approx(1 / 3)
    assert len(weighted_nms(dets, 0.3)) == 1
    assert len(weighted_nms(dets, 1 / 3 + 1e-6)) == 2
    assert len(weighted_nms(dets, 0.3, max_num_detections=1)) == 1
    assert len(weighted_nms(_dets([[0, 0, 1, 1]], [0.5]).take(slice(0, 0)))) == 0


# ---- image to tensor -----------------------------------------------------------------------------------------
def test_pad_roi_letterboxes_the_short_axis() -> None:
    roi, padding = pad_roi(roi_in_pixels(None, 640, 360), 192, 192)
    assert (roi.width, roi.height) == (640, 640)
    np.testing.assert_allclose(padding, [0, (1 - 360 / 640) / 2, 0, (1 - 360 / 640) / 2], atol=1e-7)
    _, padding = pad_roi(roi_in_pixels(None, 300, 600), 192, 192)
    np.testing.assert_allclose(padding, [0.25, 0, 0.25, 0], atol=1e-7)


def test_letterboxed_tensor_has_zero_bars_and_keeps_the_image() -> None:
    image = np.full((96, 192, 3), 255, np.uint8)
    tensor, padding = image_to_tensor(image, None, 192, 192, border="zero")
    assert tensor.shape == (3, 192, 192) and tensor.dtype == np.float32
    np.testing.assert_allclose(padding, [0, 0.25, 0, 0.25])
    assert np.all(tensor[:, :47] == 0) and np.all(tensor[:, 145:] == 0), "zero bars above and below"
    assert np.all(tensor[:, 49:143] == 1.0), "the image itself, scaled to [0, 1]"
    tensor, _ = image_to_tensor(image, None, 192, 192, border="zero", value_range=(-1.0, 1.0))
    assert tensor.min() == -1.0 and tensor.max() == 1.0


def test_rotated_roi_crop_turns_the_image_and_replicates_borders() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 70:90] = 255  # a bright square right of the centre
    upright, _ = image_to_tensor(image, NormalizedRect(0.5, 0.5, 1.0, 1.0, 0.0), 100, 100)
    assert upright[0, 50, 80] == 1.0 and upright[0, 50, 20] == 0.0
    # rotation pi/2: the crop's "up" is the image's right, so the square ends up at the crop's top
    turned, _ = image_to_tensor(image, NormalizedRect(0.5, 0.5, 1.0, 1.0, math.pi / 2), 100, 100)
    assert turned[0, 20, 50] == 1.0 and turned[0, 80, 50] == 0.0 and turned[0, 50, 80] == 0.0
    # a ROI hanging off the right edge: replicate repeats the last column, zero leaves black
    edge = np.zeros((10, 10, 3), np.uint8)
    edge[:, -1] = 200
    outside = NormalizedRect(1.2, 0.5, 0.2, 0.2, 0.0)
    replicated, _ = image_to_tensor(edge, outside, 8, 8, border="replicate")
    zeroed, _ = image_to_tensor(edge, outside, 8, 8, border="zero")
    assert np.allclose(replicated, 200 / 255) and np.all(zeroed == 0)
    with pytest.raises(ValueError, match="border"):
        image_to_tensor(edge, None, 8, 8, border="reflect")


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_small_rotated_crops_match_a_warp_of_the_whole_image(border: str) -> None:
    """Crops of a small part of a frame are warped from a copy of their bounding box; the reference here warps the
    whole image with the plain matrix (boxPoints -> getPerspectiveTransform -> warpPerspective). ROIs inside the
    frame, across each edge and rotated: every value within 1 of the reference, and almost all equal."""
    import cv2

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    modes = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT}
    rois = [NormalizedRect(0.5, 0.5, 0.3, 0.4, 0.6), NormalizedRect(0.05, 0.5, 0.25, 0.3, -1.1),
            NormalizedRect(0.97, 0.9, 0.3, 0.3, 2.5), NormalizedRect(0.5, 0.02, 0.2, 0.35, 0.0),
            NormalizedRect(0.3, 0.7, 0.1, 0.1, 3.0)]
    differing = 0
    for rect in rois:
        roi = roi_in_pixels(rect, 640, 360)
        roi, _ = pad_roi(roi, 224, 224)
        crop, _ = crop_roi(image, rect, 224, 224, True, border)
        box = ((roi.center_x, roi.center_y), (roi.width, roi.height), np.float32(roi.rotation) * 180.0 / np.pi)
        src = cv2.boxPoints(box).astype(np.float32)
        dst = np.array([[0, 224], [0, 0], [224, 0], [224, 224]], np.float32)
        want = cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), (224, 224),
                                   flags=cv2.INTER_LINEAR, borderMode=modes[border])
        diff = np.abs(crop.astype(int) - want)
        assert diff.max() <= 1, rect
        differing += int((diff > 0).sum())
    assert differing < 0.01 * len(rois) * crop.size


# ---- ROIs ----------------------------------------------------------------------------------------------------
def test_palm_to_hand_roi_reproduces_mediapipe() -> None:
    worst, n = 0.0, 0
    for w, h, result in reference_results():
        for palm, want in zip(result["palm_detections"], result["hand_rects_from_palm_detections"], strict=True):
            b = palm["bbox"]
            det = Detection(box=np.array([b["xmin"], b["ymin"], b["xmin"] + b["width"], b["ymin"] + b["height"]]),
                            score=palm["score"][0], keypoints=np.array(palm["keypoints"]))
            worst = max(worst, float(np.abs(rect_array(palm_to_hand_roi(det, w, h)) - as_rect(want)).max()))
            n += 1
    assert n > 400 and worst < 1e-5, f"max diff {worst} over {n} rects"


def test_landmarks_to_next_roi_reproduces_mediapipe() -> None:
    worst, n = 0.0, 0
    for w, h, result in reference_results():
        for hand, want in zip(result["hands"], result["hand_rects_from_landmarks"], strict=True):
            got = landmarks_to_hand_roi(np.array(hand["landmarks"]), w, h)
            worst = max(worst, float(np.abs(rect_array(got) - as_rect(want)).max()))
            n += 1
    assert n > 400 and worst < 1e-5, f"max diff {worst} over {n} rects"


def test_normalize_radians_wraps_into_minus_pi_pi() -> None:
    assert normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert normalize_radians(-3 * math.pi / 2) == pytest.approx(math.pi / 2)
    assert normalize_radians(0.3) == pytest.approx(0.3)


def test_association_lets_later_rects_evict_overlapping_ones() -> None:
    a = NormalizedRect(0.3, 0.3, 0.2, 0.2)
    a_moved = NormalizedRect(0.31, 0.3, 0.2, 0.2, rotation=1.0)  # rotation is ignored by the IoU
    b = NormalizedRect(0.7, 0.7, 0.2, 0.2)
    assert rect_iou(a, a_moved) > 0.5 and rect_iou(a, b) == 0.0
    # palms [a, b], tracked [a_moved]: a is replaced by the tracked rect, b stays
    assert associate_rects([[a, b], [a_moved]], 0.5) == [1, 2]
    # within one list, a later overlapping rect replaces the earlier one
    assert associate_rects([[a, a_moved]], 0.5) == [1]
    assert associate_rects([[], []], 0.5) == []


# ---- landmarks -----------------------------------------------------------------------------------------------
def test_landmark_decoding_and_projection() -> None:
    raw = np.zeros(63, np.float32)
    raw[0:3] = [112, 112, 89.6]  # crop centre; z = 89.6 / 224 / 0.4 = 1
    raw[3:6] = [224, 112, 0]  # right edge of the crop
    local = decode_landmarks(raw)
    np.testing.assert_allclose(local[:2], [[0.5, 0.5, 1.0], [1.0, 0.5, 0.0]], atol=1e-6)
    roi = NormalizedRect(0.4, 0.6, 0.2, 0.3, math.pi / 2)
    image = project_landmarks(local, roi)
    np.testing.assert_allclose(image[0], [0.4, 0.6, 0.2], atol=1e-6)  # centre -> ROI centre, z scaled by width
    np.testing.assert_allclose(image[1, :2], [0.4, 0.6 + 0.5 * 0.3], atol=1e-6)  # crop x axis -> image down
    np.testing.assert_allclose(remove_letterbox(local, np.array([0.1, 0, 0.1, 0]))[1], [1.125, 0.5, 0.0], atol=1e-6)
    world = project_world_landmarks(np.tile([1.0, 0.0, 0.5], 21), roi)
    np.testing.assert_allclose(world[0], [0.0, 1.0, 0.5], atol=1e-6)


def test_handedness_convention() -> None:
    assert handedness(0.9) == ("Left", pytest.approx(0.9))
    assert handedness(0.2) == ("Right", pytest.approx(0.8))
    assert handedness(0.9, mirrored_input=False) == ("Right", pytest.approx(0.9))
