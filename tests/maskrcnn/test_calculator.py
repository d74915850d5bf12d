"""The MaskRcnn node and graphs/mask_rcnn.yaml, run on synthetic shapes with the committed checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from calculators.maskrcnn.mask_rcnn_calculator import detections_to_instances, rgb_to_detector_input
from calculators.maskrcnn.shapes_dataset import CLASS_NAMES, ShapesDataset
from calculators.types import Instances
from graphflow.errors import ConfigError, GraphError
from graphflow.graph import Graph
from graphflow.testing import run_calculator

GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "mask_rcnn.yaml"
NODE = "calculator: MaskRcnn\ninputs: {IMAGE: image}\noutputs: {INSTANCES: instances}"
SCENES = list(ShapesDataset(2_000_003, 3))  # not a training or evaluation split


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_node_emits_one_instances_container_per_frame_matching_the_shapes():
    out = run_calculator(NODE, inputs={"IMAGE": [(i * 1000, s.image) for i, s in enumerate(SCENES)]})
    packets = out["INSTANCES"]
    assert [int(p.timestamp) for p in packets] == [0, 1000, 2000]
    matches: list[bool] = []
    for packet, scene in zip(packets, SCENES, strict=True):
        inst = packet.payload
        assert isinstance(inst, Instances)
        n = len(inst)
        assert inst.boxes.shape == (n, 4) and inst.labels.shape == (n,) and inst.scores.shape == (n,)
        assert inst.masks.shape == (n, 128, 128) and inst.masks.dtype == np.float32
        assert inst.image_size == (128, 128) and inst.class_names == CLASS_NAMES
        assert np.all(inst.scores >= 0.5) and np.all(np.diff(inst.scores) <= 0), "best first, above the threshold"
        for gt_mask, gt_label in zip(scene.masks.astype(bool), scene.labels, strict=True):
            ious = [_mask_iou(m >= 0.5, gt_mask) for m in inst.masks]
            best = int(np.argmax(ious)) if ious else -1
            matches.append(best >= 0 and ious[best] > 0.5 and inst.labels[best] == gt_label)
        confident = inst[inst.scores > 0.9]
        assert len(confident) <= len(inst) and confident.masks.shape[0] == len(confident)
    assert np.mean(matches) >= 0.8, f"shapes found (mask IoU > 0.5, right class): {matches}"


def test_max_detections_and_threshold_options_limit_the_output():
    frames = {"IMAGE": [(0, SCENES[0].image)]}
    one = run_calculator(NODE, inputs=frames, options={"max_detections": 1, "score_threshold": 0.0})
    assert len(one["INSTANCES"][0].payload) == 1
    none = run_calculator(NODE, inputs=frames, options={"score_threshold": 1.0})
    assert len(none["INSTANCES"][0].payload) == 0, "an empty frame result is still emitted"


def test_a_flat_image_gives_an_empty_container():
    flat = np.full((96, 160, 3), 90, np.uint8)
    inst = run_calculator(NODE, inputs={"IMAGE": [(0, flat)]})["INSTANCES"][0].payload
    assert len(inst) == 0 and inst.masks.shape == (0, 96, 160)


def test_bad_options_are_refused_at_open():
    with pytest.raises((ConfigError, GraphError), match="score_threshold"):
        run_calculator(NODE, inputs={"IMAGE": []}, options={"score_threshold": 1.5})


def test_pure_pre_and_post_processing():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    tensor = rgb_to_detector_input(image)
    assert tensor.shape == (3, 2, 3) and torch.allclose(tensor[1, 0, 2], torch.tensor(7 / 255))
    with pytest.raises(ValueError, match="uint8"):
        rgb_to_detector_input(image.astype(np.float32))
    detections = {
        "boxes": torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 2], [0, 0, 1, 1]]),
        "labels": torch.tensor([1, 2, 3]),
        "scores": torch.tensor([0.3, 0.9, 0.6]),
        "masks": torch.rand(3, 1, 2, 3),
    }
    inst = detections_to_instances(detections, (2, 3), score_threshold=0.5, max_detections=5, class_names=CLASS_NAMES)
    assert inst.labels.tolist() == [2, 3] and inst.label_names() == ["square", "triangle"]
    np.testing.assert_allclose(inst.masks[0], detections["masks"][1, 0].numpy())


def test_graph_renders_instances():
    scene = SCENES[0]
    with Graph.from_yaml(GRAPH) as graph:
        instances = graph.poller("instances")
        rendered = graph.poller("output_image")
        graph.start()
        graph.add_packet("image", scene.image, 0)
        graph.close_all_inputs()
        graph.wait_until_done(60)
        inst = instances.next(5).payload
        image = rendered.next(5).payload
    assert len(inst) >= len(scene.labels)
    assert image.shape == scene.image.shape and image.dtype == np.uint8
    inside = scene.masks.any(axis=0)
    changed = np.any(image != scene.image, axis=2)
    assert changed[inside].mean() > 0.5, "the renderer should tint the segmented shapes"
