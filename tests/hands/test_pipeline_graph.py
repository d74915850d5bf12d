"""The shipped hand graphs and the ``Hands`` solution: validation, the tracking loop, options, API behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from calculators.solutions import Hands
from calculators.types import NormalizedRect
from graphflow import Graph
from graphflow.config import load_graph
from graphflow.validate import validate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "hands"
GRAPHS = ["hand_tracking.yaml", "palm_detection.yaml", "hand_landmark.yaml", "hand_gestures.yaml"]


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def first_video_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / "videos" / "hand_landmarker_test_video.mp4"))
    frames = []
    for _ in range(n):
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", GRAPHS)
def test_graphs_validate_and_comment_every_node(name: str) -> None:
    path = ROOT / "graphs" / name
    validate(load_graph(path))
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- name:"):
            assert lines[i - 1].strip().startswith("#"), f"{name}:{i + 1}: node without a comment saying why"


def test_hand_tracking_options_reach_the_nodes() -> None:
    spec = load_graph(ROOT / "graphs" / "hand_tracking.yaml", {"max_num_hands": 1, "model_complexity": 0,
                                                                "min_detection_confidence": 0.7})
    options = {n.name: n.options for n in spec.nodes}
    assert options["palm_gate"]["max_num_hands"] == 1
    assert options["palm_detection/palm_model"]["model_complexity"] == 0
    assert options["palm_detection/palm_decode"]["min_score_thresh"] == 0.7
    assert options["palm_detection/palm_decode"]["max_num_detections"] == 1
    assert options["hand_landmark/hand_model"]["model_complexity"] == 0


def test_tracking_loop_skips_palm_detection_while_the_hand_is_tracked() -> None:
    frames = first_video_frames(6)
    graph = Graph.from_yaml(ROOT / "graphs" / "hand_tracking.yaml", executor="inline", max_num_hands=1,
                            model_complexity=0)
    palms, hands = graph.poller("palm_detections"), graph.poller("hands")
    with graph:
        graph.start()
        for i, frame in enumerate(frames):
            graph.add_packet("image", frame, i * 40_000)
        graph.wait_until_done(timeout=120)
        stats = graph.stats()
    per_frame = [p.payload for p in hands]
    assert [len(h) for h in per_frame] == [1] * 6
    assert [int(p.timestamp) for p in palms] == [0], "palm detection only on the first frame"
    assert per_frame[0][0].palm is not None and all(h[0].palm is None for h in per_frame[1:])
    assert stats["nodes"]["palm_gate"]["counters"]["palm_detection_skipped"] == 5


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_palm_call_runs_beside_the_tracked_landmarks(monkeypatch: pytest.MonkeyPatch, executor: str) -> None:
    """Frames that track a hand and detect palms (max_num_hands 2, one hand in the video): the palm detector's call
    is started before the tracked hand's landmark call and collected only after it, so the two networks can run at
    once. The order is wired in the graph (palm_gate's TRACK_IMAGE, palm_decode's AFTER), not left to the
    executor's queue."""
    from calculators.hands import backends

    events: list[str] = []
    start, call, result = backends.OpenVinoRunner.start, backends.OpenVinoRunner.__call__, backends.Pending.result

    def logged_start(self, batch):  # type: ignore[no-untyped-def]
        events.append("palm start")
        return start(self, batch)

    def logged_call(self, batch):  # type: ignore[no-untyped-def]
        events.append(f"call {batch.shape[1:3]}")
        return call(self, batch)

    def logged_result(self):  # type: ignore[no-untyped-def]
        events.append("palm collect")
        return result(self)

    monkeypatch.setattr(backends.OpenVinoRunner, "start", logged_start)
    monkeypatch.setattr(backends.OpenVinoRunner, "__call__", logged_call)
    monkeypatch.setattr(backends.Pending, "result", logged_result)
    graph = Graph.from_yaml(ROOT / "graphs" / "hand_tracking.yaml", executor=executor, max_num_hands=2,
                            model_complexity=0, backend="openvino")
    hands = graph.poller("hands")
    with graph:
        graph.start()
        for i, frame in enumerate(first_video_frames(4)):
            events.append("frame")
            graph.add_packet("image", frame, i * 40_000)
            assert hands.next(timeout=60) is not None  # one frame at a time: the events below belong to it
        graph.wait_until_done(timeout=120)
    frames = " | ".join(events).split("frame | ")[1:]
    landmark = "call (224, 224)"
    assert frames[0].split(" | ")[:3] == ["palm start", "palm collect", landmark], frames[0]  # nothing to track yet
    for later in frames[1:]:  # tracking the first frame's hand, and looking for a second one
        steps = later.split(" | ")[:3]
        if executor == "inline":  # one thread: the order is the graph's wiring, exactly
            assert steps == ["palm start", landmark, "palm collect"], later
        else:  # two workers may enter the two calls in either order; the collect still waits for the landmarks
            assert sorted(steps[:2]) == sorted(["palm start", landmark]) and steps[2] == "palm collect", later


def test_hands_solution_static_and_tracking() -> None:
    image = read_rgb(DATA / "images" / "mpsamples_hand_landmarker_thumbs-up.png")
    with Hands(static_image_mode=True, max_num_hands=2, model_complexity=0) as hands:
        first, second = hands.process(image), hands.process(image)
    for result in (first, second):  # static mode: the palm detector runs on every image
        assert len(result.hands) == 1 and len(result.palm_detections) == 1 and len(result.hand_rois) == 1
        hand = result.hands[0]
        assert hand.landmarks.shape == (21, 3) and hand.world_landmarks.shape == (21, 3)
        assert hand.handedness.label in ("Left", "Right") and 0.5 <= hand.handedness.score <= 1.0
        assert hand.palm_detection is not None and hand.gesture == "thumb_up"
        assert 0.0 <= hand.landmarks[:, :2].min() and hand.landmarks[:, :2].max() <= 1.0
    np.testing.assert_array_equal(first.hands[0].landmarks, second.hands[0].landmarks)
    with Hands(max_num_hands=1, model_complexity=0) as hands:
        results = [hands.process(image) for _ in range(3)]
        hands.reset()
        again = hands.process(image)
    assert [len(r.palm_detections) for r in results] == [1, 0, 0], "tracking: detection on the first frame only"
    assert results[1].hands[0].palm_detection is None
    assert len(again.palm_detections) == 1, "reset() forgets the tracked hand"


def test_mirrored_input_false_names_the_anatomical_hand() -> None:
    image = read_rgb(DATA / "images" / "mpsamples_gesture_recognizer_hand_thumb_up.jpg")
    with Hands(static_image_mode=True, model_complexity=0) as selfie:
        mirrored = selfie.process(image).hands[0].handedness
    with Hands(static_image_mode=True, model_complexity=0, mirrored_input=False) as camera:
        plain = camera.process(image).hands[0].handedness
    assert {mirrored.label, plain.label} == {"Left", "Right"} and mirrored.score == pytest.approx(plain.score)


def test_hands_rejects_bad_options_and_inputs() -> None:
    with pytest.raises(ValueError, match="model_complexity"):
        Hands(model_complexity=2)
    with pytest.raises(ValueError, match="max_num_hands"):
        Hands(max_num_hands=0)
    with pytest.raises(ValueError, match="min_detection_confidence"):
        Hands(min_detection_confidence=1.5)
    hands = Hands(static_image_mode=True, model_complexity=0)
    with pytest.raises(ValueError, match="uint8"):
        hands.process(np.zeros((10, 10, 3), np.float32))
    hands.process(np.zeros((64, 64, 3), np.uint8), timestamp_us=10)
    with pytest.raises(ValueError, match="increase"):
        hands.process(np.zeros((64, 64, 3), np.uint8), timestamp_us=10)
    hands.close()
    with pytest.raises(RuntimeError, match="close"):
        hands.process(np.zeros((64, 64, 3), np.uint8))


def test_subgraphs_run_alone() -> None:
    name = "mpsamples_hand_landmarker_test_image.jpg"
    want = json.loads((DATA / "mediapipe_reference.json").read_text())["images"][name]["model_complexity_0"]
    image = read_rgb(DATA / "images" / name)
    palm = Graph.from_yaml(ROOT / "graphs" / "palm_detection.yaml", executor="inline", model_complexity=0)
    detections = palm.poller("detections")
    with palm:
        palm.start()
        palm.add_packet("image", image, 0)
        palm.wait_until_done(timeout=60)
    (found,) = detections.next(1).payload
    b = want["palm_detections"][0]["bbox"]
    np.testing.assert_allclose(found.box, [b["xmin"], b["ymin"], b["xmin"] + b["width"], b["ymin"] + b["height"]],
                               atol=1e-2)
    r = want["hand_rects_from_palm_detections"][0]
    roi = NormalizedRect(r["x_center"], r["y_center"], r["width"], r["height"], r["rotation"])
    landmark = Graph.from_yaml(ROOT / "graphs" / "hand_landmark.yaml", executor="inline", model_complexity=0)
    hands = landmark.poller("hands")
    with landmark:
        landmark.start()
        landmark.add_packet("image", image, 0)
        landmark.add_packet("rois", [roi], 0)
        landmark.add_packet("roi_palms", [None], 0)
        landmark.wait_until_done(timeout=60)
    (hand,) = hands.next(1).payload
    assert hand.roi == roi and hand.handedness == want["hands"][0]["handedness"]["label"]
    np.testing.assert_allclose(hand.landmarks[:, :2], np.asarray(want["hands"][0]["landmarks"])[:, :2], atol=1e-2)
