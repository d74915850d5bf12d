"""Each hand calculator alone, through ``graphflow.testing.run_calculator`` (no models unless named)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from calculators.hands import CALCULATORS
from calculators.hands.anchors import generate_anchors
from calculators.types import Detection, HandLandmarks, NormalizedRect
from graphflow.errors import GraphError
from graphflow.registry import resolve
from graphflow.testing import run_calculator

IMAGE = np.zeros((360, 640, 3), np.uint8)


def payloads(packets: list) -> list:
    return [p.payload for p in packets]


def test_every_listed_calculator_resolves_and_documents_its_ports() -> None:
    for name, target in CALCULATORS.items():
        cls = resolve(name)
        assert f"{cls.__module__}:{cls.__name__}" == target
        doc = cls.__doc__ or ""
        for tag in list(cls.input_ports()) + list(cls.output_ports()):
            assert tag in doc, f"{name}: port {tag} is not documented"


def test_image_to_tensor_whole_image_and_rois() -> None:
    node = {"calculator": "ImageToTensor", "options": {"width": 192, "height": 192, "border": "zero"}}
    out = run_calculator(node, {"IMAGE": [(0, IMAGE)]})
    assert out["TENSOR"][0].payload.shape == (1, 3, 192, 192)
    np.testing.assert_allclose(out["LETTERBOX_PADDING"][0].payload, [[0, 0.21875, 0, 0.21875]])
    rois = [NormalizedRect(0.5, 0.5, 0.2, 0.3), NormalizedRect(0.2, 0.2, 0.1, 0.1, 1.0)]
    out = run_calculator({"calculator": "ImageToTensor"}, {"IMAGE": [(0, IMAGE), (1, IMAGE)],
                                                          "NORM_RECTS": [(0, rois), (1, [])]})
    shapes = [p.payload.shape for p in out["TENSOR"]]
    assert shapes == [(2, 3, 224, 224), (0, 3, 224, 224)]


def test_image_to_tensor_uint8_output_is_the_unscaled_crop_and_wired_rois_without_a_packet_crop_nothing() -> None:
    image = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    rois = [NormalizedRect(0.5, 0.5, 0.2, 0.3, 0.4), NormalizedRect(0.9, 0.1, 0.3, 0.3, 1.0)]  # one crosses the edge
    inputs = {"IMAGE": [(0, image), (1, image)], "NORM_RECTS": [(0, rois)]}
    floats = run_calculator({"calculator": "ImageToTensor"}, inputs)
    pixels = run_calculator({"calculator": "ImageToTensor", "options": {"output": "uint8"}}, inputs)
    assert [int(p.timestamp) for p in pixels["TENSOR"]] == [0]  # frame 1 has no ROI packet: no crop at all
    (crop,), (tensor,) = payloads(pixels["TENSOR"]), payloads(floats["TENSOR"])
    assert crop.shape == (2, 224, 224, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255), tensor)
    np.testing.assert_array_equal(payloads(pixels["LETTERBOX_PADDING"])[0], payloads(floats["LETTERBOX_PADDING"])[0])


def test_palm_gate_runs_detection_only_while_hands_are_missing() -> None:
    rect = NormalizedRect(0.5, 0.5, 0.2, 0.2)
    inputs = {"IMAGE": [(0, IMAGE), (1, IMAGE), (2, IMAGE)], "PREV_ROIS": [(1, [rect]), (2, [rect, rect])]}
    out = run_calculator({"calculator": "PalmDetectionGate", "options": {"max_num_hands": 2}}, inputs)
    assert [int(p.timestamp) for p in out["PALM_IMAGE"]] == [0, 1]  # frame 2 tracks 2 hands: no detection
    assert [len(p.payload) for p in out["TRACKED_ROIS"]] == [0, 1, 2]
    static = run_calculator({"calculator": "PalmDetectionGate", "options": {"static_image_mode": True}}, inputs)
    assert len(static["PALM_IMAGE"]) == 3 and all(p.payload == [] for p in static["TRACKED_ROIS"])


def test_association_prefers_tracked_rois_and_keeps_palm_links() -> None:
    palm_a, palm_b = NormalizedRect(0.3, 0.3, 0.2, 0.2), NormalizedRect(0.7, 0.7, 0.2, 0.2)
    tracked = NormalizedRect(0.31, 0.3, 0.2, 0.2)
    det_a = Detection(box=np.array([0.25, 0.25, 0.35, 0.35]), score=0.9)
    det_b = Detection(box=np.array([0.65, 0.65, 0.75, 0.75]), score=0.8)
    out = run_calculator({"calculator": "AssociateHandRois"}, {
        "PALM_ROIS": [(0, [palm_a, palm_b])], "PALMS": [(0, [det_a, det_b])], "TRACKED_ROIS": [(0, [tracked])]})
    assert payloads(out["ROIS"]) == [[palm_b, tracked]]
    assert payloads(out["ROI_PALMS"]) == [[det_b, None]]
    assert payloads(out["NEW_ROIS"]) == [[palm_b]] and payloads(out["NEW_ROI_PALMS"]) == [[det_b]]
    only_tracked = run_calculator({"calculator": "AssociateHandRois"}, {"TRACKED_ROIS": [(0, [tracked])]})
    assert payloads(only_tracked["ROIS"]) == [[tracked]]
    assert only_tracked["NEW_ROIS"] == []  # nothing new: the second landmark pass does not run


def test_palm_gate_sends_tracked_rois_to_their_own_pass_only_when_there_are_some() -> None:
    rect = NormalizedRect(0.5, 0.5, 0.2, 0.2)
    inputs = {"IMAGE": [(0, IMAGE), (1, IMAGE)], "PREV_ROIS": [(1, [rect])]}
    out = run_calculator({"calculator": "PalmDetectionGate", "options": {"max_num_hands": 2}}, inputs)
    assert [(int(p.timestamp), p.payload) for p in out["TRACK_ROIS"]] == [(1, [rect])]
    assert payloads(out["TRACK_PALMS"]) == [[None]]


def test_merge_hand_passes_follows_the_associated_order_and_drops_rois_without_a_hand() -> None:
    palm_roi, tracked_a, tracked_b = (NormalizedRect(x, 0.5, 0.2, 0.2) for x in (0.2, 0.5, 0.8))

    def hand(roi: NormalizedRect) -> HandLandmarks:
        return HandLandmarks(np.zeros((21, 3)), np.zeros((21, 3)), "Left", 0.9, 0.9, roi)

    new, kept_a = hand(palm_roi), hand(tracked_a)
    out = run_calculator({"calculator": "MergeHandPasses"}, {
        "ROIS": [(0, [palm_roi, tracked_a, tracked_b]), (1, [tracked_a])],
        "TRACKED_HANDS": [(0, [kept_a]), (1, [kept_a])],  # tracked_b's crop held no hand
        "NEW_HANDS": [(0, [new])]})
    assert payloads(out["HANDS"]) == [[new, kept_a], [kept_a]]


def test_tensors_to_palm_detections_decodes_and_clips() -> None:
    raw = np.zeros((1, 2016, 18), np.float32)
    raw[0, :, 2:4] = 19.2  # 0.1 x 0.1 boxes
    logits = np.full((1, 2016, 1), -5.0, np.float32)
    anchors = generate_anchors()
    far_apart = [0, 1151, 1152 + 6 * 70]  # three distant anchors, increasing scores
    logits[0, far_apart, 0] = [1.0, 2.0, 3.0]
    node = {"calculator": "TensorsToPalmDetections", "options": {"max_num_detections": 2}}
    out = run_calculator(node, {"REGRESSORS": [(0, raw)], "LOGITS": [(0, logits)],
                                "LETTERBOX_PADDING": [(0, np.zeros((1, 4), np.float32))]})
    (dets,) = payloads(out["DETECTIONS"])
    assert [round(d.score, 4) for d in dets] == [round(1 / (1 + math.exp(-s)), 4) for s in (3.0, 2.0)]
    np.testing.assert_allclose((dets[0].box[:2] + dets[0].box[2:]) / 2, anchors[far_apart[2], :2], atol=1e-6)


def test_tensors_to_hand_landmarks_gates_on_presence() -> None:
    n = 2
    rects = [NormalizedRect(0.5, 0.5, 0.4, 0.4), NormalizedRect(0.2, 0.2, 0.1, 0.1)]
    inputs = {
        "LANDMARKS": [(0, np.full((n, 63), 112.0, np.float32))],
        "PRESENCE": [(0, np.array([0.9, 0.4], np.float32))],
        "HANDEDNESS": [(0, np.array([0.3, 0.9], np.float32))],
        "WORLD_LANDMARKS": [(0, np.zeros((n, 63), np.float32))],
        "LETTERBOX_PADDING": [(0, np.zeros((n, 4), np.float32))],
        "NORM_RECTS": [(0, rects)],
    }
    (hands,) = payloads(run_calculator({"calculator": "TensorsToHandLandmarks"}, inputs)["HANDS"])
    assert len(hands) == 1 and isinstance(hands[0], HandLandmarks)
    assert hands[0].handedness == "Right" and hands[0].handedness_score == pytest.approx(0.7)
    np.testing.assert_allclose(hands[0].landmarks[:, :2], 0.5, atol=1e-6)
    assert hands[0].roi == rects[0] and hands[0].palm is None
    flipped = run_calculator({"calculator": "TensorsToHandLandmarks", "options": {"mirrored_input": False}}, inputs)
    assert payloads(flipped["HANDS"])[0][0].handedness == "Left"
    inputs["NORM_RECTS"] = [(0, rects[:1])]
    with pytest.raises(GraphError, match="must match"):
        run_calculator({"calculator": "TensorsToHandLandmarks"}, inputs)


def test_landmark_model_skips_an_empty_batch_and_runs_a_crop() -> None:
    torch.set_num_threads(1)
    node = {"calculator": "HandLandmarkModel", "options": {"model_complexity": 0}}
    crop = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    out = run_calculator(node, {"TENSOR": [(0, np.zeros((0, 3, 224, 224), np.float32)), (1, crop)]})
    assert [p.payload.shape for p in out["LANDMARKS"]] == [(0, 63), (1, 63)]
    assert [p.payload.shape for p in out["PRESENCE"]] == [(0,), (1,)]
    assert 0.0 <= float(out["HANDEDNESS"][1].payload[0]) <= 1.0


def test_smoothing_is_a_pass_through_unless_enabled_and_then_reduces_jitter() -> None:
    rng = np.random.default_rng(0)
    base = rng.random((21, 3)).astype(np.float32) * 0.2 + 0.4
    roi = NormalizedRect(0.5, 0.5, 0.3, 0.3)
    frames = []
    for i in range(60):
        noisy = base + rng.normal(0, 0.003, base.shape).astype(np.float32)
        hand = HandLandmarks(noisy, noisy, "Left", 0.9, 0.9, roi)
        frames.append((i * 33_333, [hand]))
    images = [(t, IMAGE) for t, _ in frames]
    off = run_calculator({"calculator": "HandLandmarksSmoothing"}, {"HANDS": frames, "IMAGE": images})
    assert all(p.payload is f[1] for p, f in zip(off["HANDS_OUT"], frames, strict=True))
    # a low speed coefficient: this test's jitter is pure noise, there is no motion to follow
    on = run_calculator({"calculator": "HandLandmarksSmoothing", "options": {"enabled": True, "beta": 5.0}},
                        {"HANDS": frames, "IMAGE": images})
    raw_jitter = np.std([f[1][0].landmarks for f in frames[20:]], axis=0).mean()
    smooth_jitter = np.std([p.payload[0].landmarks for p in on["HANDS_OUT"][20:]], axis=0).mean()
    assert smooth_jitter < 0.5 * raw_jitter, (raw_jitter, smooth_jitter)
    assert np.abs(on["HANDS_OUT"][-1].payload[0].landmarks - base).max() < 0.01, "no drift away from the hand"
