"""The ClassActivationMap node, graphs/cam.yaml and hand_tracking_cam.yaml run by the engine, and the API."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from calculators.types import ClassActivation, Detection, NormalizedRect
from graphflow import Graph
from graphflow.config import load_graph
from graphflow.validate import validate

ROOT = Path(__file__).resolve().parents[2]
HANDS = ROOT / ".." / "shared" / "data" / "hands"
CAT_CLASSES = set(range(281, 286))


@pytest.mark.parametrize("name", ["cam.yaml", "hand_tracking_cam.yaml"])
def test_graphs_validate(name):
    validate(load_graph(ROOT / "graphs" / name))


def _run_cam_graph(frames: list[np.ndarray], **options) -> tuple[list, list, list]:
    with Graph.from_yaml(ROOT / "graphs" / "cam.yaml", **options) as graph:
        cams, boxes, renders = graph.poller("cam"), graph.poller("cam_boxes"), graph.poller("output_image")
        graph.start()
        for i, frame in enumerate(frames):
            graph.add_packet("image", frame, i * 33_333)
        graph.close_all_inputs()
        graph.wait_until_done(timeout=60)
        return [p.payload for p in cams], [p.payload for p in boxes], [p.payload for p in renders]


def test_cam_graph_end_to_end(chelsea, coffee):
    cams, dets, renders = _run_cam_graph([chelsea, coffee], top_k=3)
    assert len(cams) == len(dets) == len(renders) == 2
    first, second = cams
    assert isinstance(first, ClassActivation)
    assert first.classes[0].index in CAT_CLASSES and second.classes[0].index == 967
    # the node's default input is 384 px: Lite0's stride 32 gives 12x12 maps
    assert first.cams.shape == (3, *chelsea.shape[:2]) and first.cams_raw.shape == (3, 12, 12)
    assert 0.0 <= first.cams.min() and first.cams.max() <= 1.0
    assert [c.score for c in first.classes] == sorted((c.score for c in first.classes), reverse=True)
    # detections: the CAM boxes, normalised, labelled with the class
    assert all(isinstance(d, Detection) for d in dets[1]) and len(dets[1]) == 3
    h, w = coffee.shape[:2]
    np.testing.assert_allclose(dets[1][0].box * [w, h, w, h], second.boxes[0], atol=1e-3)
    assert dets[1][0].label == "espresso" and dets[1][0].label_id == 967
    # the renderer painted the heat map: the output differs from the frame
    assert renders[1].shape == coffee.shape and np.abs(renders[1].astype(int) - coffee).mean() > 5


def test_requested_classes_and_grad_cam(coffee):
    (cam,), _, _ = _run_cam_graph([coffee], classes=[281, 967])
    assert [c.index for c in cam.classes] == [281, 967]
    (grad,), _, _ = _run_cam_graph([coffee], top_k=1, grad_cam_layer="_blocks.10")
    assert grad.classes[0].index == 967 and grad.cams_raw.shape == (1, 24, 24)  # block 10: stride 16 at 384 px


def test_cam_options_are_checked_at_open(chelsea):
    def node(**options):
        return {"input_streams": ["image"], "output_streams": ["cam"], "nodes": [
            {"calculator": "ClassActivationMap", "inputs": {"IMAGE": "image"}, "outputs": {"CAM": "cam"},
             "options": options}]}

    for bad, match in (({"input_size": 16}, "input_size"), ({"box_threshold": 1.5}, "box_threshold"),
                       ({"component_fraction": 0.0}, "component_fraction"),
                       ({"flip": True, "grad_cam_layer": "_blocks.10"}, "flip")):
        with pytest.raises(Exception, match=match):
            with Graph.from_yaml(node(**bad)) as graph:
                graph.start()
    with Graph.from_yaml(node(input_size=224, flip=True, top_k=1)) as graph:  # the paper's size, flip-averaged
        poller = graph.poller("cam")
        graph.start()
        graph.add_packet("image", chelsea, 0)
        graph.close_all_inputs()
        graph.wait_until_done(timeout=60)
        cam = poller.next().payload
    assert cam.cams_raw.shape == (1, 7, 7) and cam.classes[0].index in CAT_CLASSES


def test_api_top_k_and_gt_known(chelsea, coffee):
    from calculators.solutions import ClassActivation as ClassActivationApi

    with ClassActivationApi(top_k=5) as cam:
        top = cam.process(chelsea)
        known = cam.process(coffee, classes=[967, 281])
        again = cam.process(coffee)
    assert len(top.classes) == 5 and top.classes[0][0] in CAT_CLASSES and isinstance(top.classes[0][1], str)
    assert top.logits.shape == (1000,) and top.cams.shape == (5, 300, 451) and top.boxes.shape == (5, 4)
    assert [c[0] for c in known.classes] == [967, 281] and known.cams.shape == (2, 400, 600)
    assert again.classes[0][0] == 967 and len(again.classes) == 5
    x1, y1, x2, y2 = known.boxes[0]
    assert 0 <= x1 < x2 <= 600 and 0 <= y1 < y2 <= 400


def test_hand_model_maps_presence_and_handedness():
    """The hand landmark network's heads mapped on a real hand photo, through the node with MediaPipe's ROI."""
    name = "mmpose_onehand10k_1402.jpg"
    reference = json.loads((HANDS / "mediapipe_reference.json").read_text())["images"][name]["model_complexity_1"]
    rect = NormalizedRect(**reference["hand_rects_from_landmarks"][0])
    image = cv2.cvtColor(cv2.imread(str(HANDS / "images" / name)), cv2.COLOR_BGR2RGB)
    config = {"input_streams": ["image", "rois"], "output_streams": ["cam"], "nodes": [
        {"calculator": "ClassActivationMap", "inputs": {"IMAGE": "image", "ROIS": "rois"}, "outputs": {"CAM": "cam"},
         "options": {"model": "hand_landmark", "hand_variant": "full", "top_k": 2}}]}
    with Graph.from_yaml(config) as graph:
        poller = graph.poller("cam")
        graph.start()
        for ts, rois in ((0, [rect]), (1, [])):
            graph.add_packet("image", image, ts)
            graph.add_packet("rois", rois, ts)
        graph.close_all_inputs()
        graph.wait_until_done(timeout=60)
        packets = list(poller)
    assert [p.timestamp for p in packets] == [0]  # no ROI at timestamp 1: nothing emitted
    cam = packets[0].payload
    assert {c.name for c in cam.classes} == {"hand presence", "left hand"}
    presence = next(c for c in cam.classes if c.index == 0)
    assert presence.score > 0.9
    assert cam.cams.shape == (2, *image.shape[:2]) and cam.cams_raw.shape == (2, 7, 7)
    # the map's mass lies on the hand: inside the landmarks' bounding box more than outside on average
    landmarks = np.array(reference["hands"][0]["landmarks"])[:, :2] * [image.shape[1], image.shape[0]]
    (lx1, ly1), (lx2, ly2) = landmarks.min(0).astype(int), landmarks.max(0).astype(int)
    presence_map = cam.cams[list(c.index for c in cam.classes).index(0)]
    inside = presence_map[ly1:ly2, lx1:lx2].mean()
    assert inside > presence_map.mean()


def test_hand_tracking_cam_graph():
    """The hand variant end to end: tracking finds the hand, the CAM node maps its heads, the renderer draws."""
    image = cv2.cvtColor(cv2.imread(str(HANDS / "images" / "mmpose_onehand10k_1402.jpg")), cv2.COLOR_BGR2RGB)
    with Graph.from_yaml(ROOT / "graphs" / "hand_tracking_cam.yaml", max_num_hands=1) as graph:
        cams, hands, renders = graph.poller("cam"), graph.poller("hands"), graph.poller("output_image")
        graph.start()
        graph.add_packet("image", image, 0)
        graph.wait_until_idle(timeout=60)
        graph.close_all_inputs()
        graph.wait_until_done(timeout=60)
        cam, found, render = cams.next().payload, hands.next().payload, renders.next().payload
    assert len(found) == 1
    assert {c.name for c in cam.classes} == {"hand presence", "left hand"} and cam.cams.shape[1:] == image.shape[:2]
    assert render.shape == image.shape
