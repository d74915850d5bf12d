"""A batch of hand crops split into concurrent single-thread requests gives the batched call's outputs.

Inputs: the shared photos letterboxed to the landmark network's 224x224 input, as uint8 pixels (what the graphs feed
the landmark network), in batches of 2, 3 and all of them. Compared in the decoders' units (``test_backends``).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_backends import worst_difference
from test_parity_litert import model_inputs

from calculators.hands import batch_split
from calculators.hands.backends import BACKENDS, Pending
from calculators.hands.model_runner import make_runner

SPLIT_BOUND = 1e-6
LANDMARK_MODELS = ("hand_landmark_lite", "hand_landmark_full")


@pytest.fixture(scope="module")
def photo_pixels() -> np.ndarray:
    """(N, 224, 224, 3) uint8: every shared photo letterboxed to 224 (the noise image left out)."""
    return np.ascontiguousarray(np.rint(model_inputs(224)[:-1] * 255.0).astype(np.uint8))


@pytest.mark.parametrize("name", LANDMARK_MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_split_batch_gives_the_batched_outputs(photo_pixels: np.ndarray, backend: str, name: str) -> None:
    batched = make_runner(name, backend, num_threads=1, pixels=True, requests=1)
    split = make_runner(name, backend, num_threads=1, pixels=True, requests=2)
    try:
        for n in (2, 3, len(photo_pixels)):
            want, got = batched(photo_pixels[:n]), split(photo_pixels[:n])
            diff = worst_difference(name, got, want)
            assert diff <= SPLIT_BOUND, f"{name} on {backend}, {n} crops: split is {diff:.2e} from the batch"
    finally:
        batched.close()
        split.close()


def test_split_only_when_each_call_has_one_thread_and_there_are_cores() -> None:
    assert batch_split.concurrent_requests(1, cores=2) == 2
    assert batch_split.concurrent_requests(1, cores=1) == 1
    assert batch_split.concurrent_requests(0, cores=8) == 1  # the runtime's own threads already use the cores
    assert batch_split.concurrent_requests(2, cores=8) == 1
    assert batch_split.concurrent_requests(1, cores=64) == batch_split.MAX_REQUESTS


@pytest.mark.parametrize(("n", "requests", "sizes"), [(1, 2, [1]), (2, 2, [1, 1]), (3, 2, [2, 1]), (5, 3, [2, 2, 1]),
                                                      (4, 1, [4]), (0, 2, [0])])
def test_split_parts_cover_the_batch_in_order(n: int, requests: int, sizes: list[int]) -> None:
    parts = batch_split.split_parts(n, requests)
    assert [p.stop - p.start for p in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))


@pytest.mark.parametrize("backend", ("torch", "onnxruntime"))
def test_close_stops_the_part_threads(photo_pixels: np.ndarray, backend: str) -> None:
    def part_threads() -> int:
        return sum(t.name.startswith(batch_split.POOL_THREAD_PREFIX) for t in threading.enumerate())

    before = part_threads()
    runner = make_runner("hand_landmark_lite", backend, num_threads=1, pixels=True, requests=2)
    runner(photo_pixels[:2])
    assert part_threads() == before + 1
    runner.close()
    assert part_threads() == before


def test_a_background_call_takes_a_request_from_the_split() -> None:
    """While a call started in the background runs (the palm call beside the tracked hands), a 2-crop batch on 2
    requests is one call; once it is collected, or dropped uncollected, the batch splits again."""
    started: list[int] = []

    def call(part: np.ndarray, slot: int) -> tuple[np.ndarray, ...]:
        return (part * 2,)

    def start(part: np.ndarray, slot: int) -> Pending:
        started.append(slot)
        return Pending(outputs=call(part, slot))

    batch = np.arange(4.0).reshape(2, 2)
    running = batch_split.BACKGROUND.running
    background = Pending(lambda: (), done=batch_split.BACKGROUND.started())
    assert batch_split.BACKGROUND.running == running + 1
    np.testing.assert_array_equal(batch_split.call_in_parts(batch, 2, call, start)[0], batch * 2)
    assert started == []
    background.result()
    background.result()  # collected twice: counted down once
    assert batch_split.BACKGROUND.running == running
    np.testing.assert_array_equal(batch_split.call_in_parts(batch, 2, call, start)[0], batch * 2)
    assert started == [1]
    dropped = Pending(lambda: (), done=batch_split.BACKGROUND.started())
    del dropped
    assert batch_split.BACKGROUND.running == running
