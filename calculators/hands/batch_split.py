"""A batch of hand crops run as concurrent requests, one thread each, instead of one call on one thread.

A batch of N crops on one thread costs about N single calls. On a machine with more than one core the same N crops
go as k = min(N, requests) parts, each part one inference on one thread, the parts at the same time: landmark full,
2 crops, 2-core AMD EPYC, OpenVINO: a batch of 2 on one thread 15.4-17.3 ms, two batch-1 requests at once
8.8-9.2 ms (``docs/notes/2026-12-02-s4-issue-11.md``). Each crop's outputs do not depend on the other crops of the
batch, so the result is the batched call's (bit for bit on that box; ``tests/hands/test_batch_split.py`` bounds it
by 1e-6 for every backend).

The rule, written once (``concurrent_requests``, ``free_requests``): split when each call runs on one thread
(``num_threads == 1``, MediaPipe's setup) and more than one core is available; then up to one request per core (at
most ``MAX_REQUESTS``), less one per network call started in the background and still running (``BACKGROUND``: the
palm detector's call that runs beside the tracked hands' landmarks). With more threads per call the batch stays one
call: the runtime already spreads it over cores. Measured on 2 cores (``benchmarks/hand_batch_split.py``): three
single-thread calls at once (two crops beside a palm call) were 1.06-1.11x slower than the batch beside the palm
call. Only the landmark network gets batches of more than one (the palm detector runs on one frame).

Who runs a part (``backends.py``, ``model_runner.py``): OpenVINO, an infer request of its own on a model compiled
with one stream of one thread per request (``start_async``, no Python thread); ONNX Runtime and torch, the calling
thread for the first part and a worker of the runner's ``PartPool`` for each other part (both release the GIL while
they compute).

    outputs = call_in_parts(batch, requests, call=runner_call, start=runner_start_part)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

MAX_REQUESTS = 4  # more cores than this: still at most 4 requests at once (max_num_hands is 2 by default)
POOL_THREAD_PREFIX = "graphflow-hand-request"

Outputs = tuple[np.ndarray, ...]


class Started(Protocol):
    """A part's call in flight: ``result()`` waits for its outputs (``backends.Pending``, a ``Future``)."""

    def result(self) -> Outputs: ...


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def concurrent_requests(num_threads: int, cores: int | None = None) -> int:
    """How many requests of one thread a runner of crop batches may run at once: one per core (at most
    ``MAX_REQUESTS``) when each call runs on one thread and there is more than one core; 1 otherwise (the whole
    batch in one call). ``cores`` defaults to ``available_cores()``."""
    cores = available_cores() if cores is None else cores
    if num_threads != 1 or cores < 2:
        return 1
    return min(cores, MAX_REQUESTS)


class BackgroundCalls:
    """The network calls started in the background (``Runner.start`` on OpenVINO) and not yet collected, counted
    process-wide: each holds a core. ``started()`` counts one and returns its ``done`` (idempotent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def started(self) -> Callable[[], None]:
        with self._lock:
            self._running += 1
        finished = threading.Event()

        def done() -> None:
            with self._lock:
                if not finished.is_set():
                    finished.set()
                    self._running -= 1

        return done


BACKGROUND = BackgroundCalls()  # the one count, for every runner of the process


def free_requests(requests: int) -> int:
    """The requests a split may use now: ``requests`` less the background calls running (at least 1)."""
    return max(1, requests - BACKGROUND.running)


def split_parts(n: int, requests: int) -> list[slice]:
    """The parts of a batch of ``n``: min(n, requests) consecutive slices, sizes differing by at most one (larger
    first), in batch order. One part (the whole batch) when ``requests`` is 1 or ``n`` <= 1."""
    k = max(1, min(n, requests))
    size, extra = divmod(n, k)
    parts, start = [], 0
    for i in range(k):
        stop = start + size + (1 if i < extra else 0)
        parts.append(slice(start, stop))
        start = stop
    return parts


class SplitCount:
    """How many calls of a runner ran as more than one part (``runner.splits.calls``; the landmark calculator
    reports it as its ``split_batches`` counter)."""

    def __init__(self) -> None:
        self.calls = 0


def call_in_parts(batch: np.ndarray, requests: int, call: Callable[[np.ndarray, int], Outputs],
                  start: Callable[[np.ndarray, int], Started], count: SplitCount | None = None) -> Outputs:
    """The outputs of ``batch`` (N first), computed part by part at once: ``start(part, slot)`` for parts 2..k
    (slots 1..k-1), then ``call(part, 0)`` on the calling thread for the first, then the others' results;
    concatenated in batch order. k = min(N, ``free_requests(requests)``); one part is a plain ``call(batch, 0)``."""
    parts = split_parts(len(batch), free_requests(requests))
    if len(parts) == 1:
        return call(batch, 0)
    if count is not None:
        count.calls += 1
    started = [start(batch[part], slot) for slot, part in enumerate(parts[1:], 1)]
    results = [call(batch[parts[0]], 0), *(s.result() for s in started)]
    return tuple(np.concatenate(outs) for outs in zip(*results, strict=True))


class PartPool:
    """Worker threads for the parts after the first, for runtimes whose calls block the calling thread (ONNX
    Runtime, torch): ``workers`` named threads, started on first use, stopped and joined by ``close()``."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Outputs], *args: Any) -> Started:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=POOL_THREAD_PREFIX)
        return self._executor.submit(fn, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
