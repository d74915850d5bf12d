"""The facades (``Hands``, ``ClassActivation``, ``InstanceSegmenter``) as users break them: two threads on one
object, bad images, an error inside a ``with`` block, objects dropped without ``close()``."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from calculators.maskrcnn.shapes_dataset import ShapesDataset
from calculators.solutions import ClassActivation, Hands, InstanceSegmenter
from graphflow.errors import GraphTimeoutError

HAND_IMAGE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hands" / "images" / \
    "mmpose_freihand_00000355.jpg"
CALLS_PER_THREAD = 6
THREADS_GONE_WITHIN_S = 5.0


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("graphflow-worker")]


def wait_for_engine_threads(at_most: int) -> int:
    deadline = time.monotonic() + THREADS_GONE_WITHIN_S
    while len(engine_threads()) > at_most and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    return len(engine_threads())


def cam_answer(cam: ClassActivation, image: np.ndarray) -> np.ndarray:
    return cam.process(image).logits


def seg_answer(seg: InstanceSegmenter, image: np.ndarray) -> np.ndarray:
    inst = seg.process(image)
    return np.concatenate([np.asarray(inst.boxes, np.float64).ravel(), np.asarray(inst.scores, np.float64)])


def hands_answer(hands: Hands, image: np.ndarray) -> np.ndarray:
    result = hands.process(image)
    return np.asarray([h.landmarks for h in result.hands], np.float64).ravel()


def two_images(kind: str) -> list[np.ndarray]:
    if kind == "segmenter":
        return [scene.image for scene in ShapesDataset(2_000_005, 2)]
    if kind == "hands":
        hand = cv2.cvtColor(cv2.imread(str(HAND_IMAGE)), cv2.COLOR_BGR2RGB)
        return [hand, np.full_like(hand, 200)]  # a hand, and a blank frame with none
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (160, 200, 3), dtype=np.uint8), np.full((120, 90, 3), (250, 20, 20), np.uint8)]


FACADES = {
    "cam": (lambda: ClassActivation(top_k=3), cam_answer),
    "segmenter": (lambda: InstanceSegmenter(checkpoint="shapes", max_detections=10), seg_answer),
    "hands": (lambda: Hands(static_image_mode=True, model_complexity=0), hands_answer),
}


@pytest.mark.parametrize("kind", list(FACADES))
def test_two_threads_on_one_facade_each_get_their_own_answers(kind):
    make, answer = FACADES[kind]
    images = two_images("segmenter" if kind == "segmenter" else kind)
    with make() as facade:
        want = [answer(facade, image) for image in images]
        assert not np.array_equal(want[0], want[1])  # the two images are told apart

        def worker(which: int) -> list[bool]:
            return [np.allclose(answer(facade, images[which]), want[which], atol=1e-4)
                    for _ in range(CALLS_PER_THREAD)]

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(worker, [0, 1]))
    assert results == [[True] * CALLS_PER_THREAD] * 2


BAD_IMAGES = {
    "none": None,
    "gray": np.zeros((32, 32), np.uint8),
    "rgba": np.zeros((32, 32, 4), np.uint8),
    "float": np.zeros((32, 32, 3), np.float32),
    "empty": np.zeros((0, 0, 3), np.uint8),
    "list": [[0, 0, 0]],
}


@pytest.mark.parametrize("kind", list(FACADES))
def test_a_bad_image_is_refused_at_once_and_the_facade_keeps_working(kind):
    make, answer = FACADES[kind]
    good = two_images("segmenter" if kind == "segmenter" else kind)[0]
    with make() as facade:
        want = answer(facade, good)
        for name, bad in BAD_IMAGES.items():
            t0 = time.monotonic()
            with pytest.raises(ValueError, match=r"process\(\) expects an \(H, W, 3\) uint8 RGB image") as info:
                facade.process(bad)
            assert time.monotonic() - t0 < 1.0, name
            if name in ("gray", "rgba"):
                assert "cv2.cvtColor" in str(info.value)
        assert np.allclose(answer(facade, good), want, atol=1e-4)


def test_a_failed_call_leaves_a_working_facade_and_the_with_block_sees_the_original_error():
    image = two_images("cam")[0]
    with pytest.raises(KeyError, match="mine"):
        with ClassActivation(top_k=3) as cam:
            want = cam_answer(cam, image)
            cam.timeout = 1e-6  # the answer cannot come this fast: the call fails inside the graph's wait
            with pytest.raises(GraphTimeoutError):
                cam.process(image)
            cam.timeout = 60.0
            assert np.allclose(cam_answer(cam, image), want, atol=1e-4)  # a fresh graph answers
            raise KeyError("mine")  # the with block's own error is what the caller sees


@pytest.mark.parametrize("kind", ["cam", "segmenter"])
def test_facades_dropped_without_close_leave_no_threads(kind):
    make, answer = FACADES[kind]
    image = two_images("segmenter" if kind == "segmenter" else kind)[0]
    before = wait_for_engine_threads(at_most=0)
    for _ in range(3):
        facade = make()
        answer(facade, image)
        del facade
    assert wait_for_engine_threads(at_most=before) == before
