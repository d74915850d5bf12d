"""Runs a hand network on numpy batches: backend, threads, inference mode.

Shared by ``PalmDetectionModel`` and ``HandLandmarkModel`` (through ``HandModelCalculator``) so both treat model
choice, backend and threads alike. (``torch.compile`` is no longer an option of the graph: end to end it ran
0.87-1.24x eager, ``benchmarks/results/hand_tracking_compile_2026-11-24.json``, and the OpenVINO default is faster
than compiled torch; ``model_store.compile_for_cpu_inference`` stays for the networks-alone benchmark.)
``ModelRunner`` is the torch backend; ``make_runner`` picks the runner of any backend (``backends.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from calculators.common.torch_threads import release_torch_threads, request_torch_threads
from graphflow import Calculator, Context

from .backends import (
    DEFAULT_BACKEND,
    DEFAULT_PRECISION,
    Backend,
    OnnxRuntimeRunner,
    OpenVinoRunner,
    Pending,
    Precision,
    Runner,
    check_backend,
    check_precision,
    to_network_input,
)
from .batch_split import Outputs, PartPool, SplitCount, Started, call_in_parts, concurrent_requests

COMPLEXITY_VARIANTS = {0: "lite", 1: "full"}


def variant_of(model_complexity: int) -> str:
    """0 -> "lite", 1 -> "full" (MediaPipe's model_complexity)."""
    if model_complexity not in COMPLEXITY_VARIANTS:
        raise ValueError(f"model_complexity must be 0 (lite) or 1 (full), got {model_complexity}")
    return COMPLEXITY_VARIANTS[model_complexity]


class ModelRunner:
    """The torch backend: ``runner(batch)`` -> tuple of (N, ...) float32 arrays, one per network output.

    batch: (N, 3, size, size) float32 or (N, size, size, 3) uint8 pixels (scaled to [0, 1] here), run under
    ``torch.inference_mode``: in one call, or with ``requests`` > 1 as that many parts at once, on the calling thread
    and ``requests - 1`` pool threads (``batch_split``). Threads come from the process-wide pool
    (``calculators.common.torch_threads``).
    """

    backend = "torch"

    def __init__(self, load: Callable[[], Any], num_threads: int = 1, name: str | None = None,
                 requests: int = 1) -> None:
        request_torch_threads(self, num_threads, name)  # process-wide: torch has one intra-op pool
        self.net = load()
        self.requests = requests
        self.splits = SplitCount()
        self._pool = PartPool(requests - 1)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return call_in_parts(batch, self.requests, self._call, self._start_part, self.splits)

    def _call(self, batch: np.ndarray, slot: int = 0) -> Outputs:
        import torch

        del slot  # one module serves every thread
        x = torch.from_numpy(to_network_input(batch))
        with torch.inference_mode():  # thread-local: entered on the thread that computes
            return tuple(t.numpy() for t in self.net(x))

    def _start_part(self, batch: np.ndarray, slot: int) -> Started:
        return self._pool.submit(self._call, batch, slot)

    def start(self, batch: np.ndarray) -> Pending:
        return Pending(outputs=self(batch))

    def close(self) -> None:
        self._pool.close()


def make_runner(name: str, backend: str = DEFAULT_BACKEND, num_threads: int = 1, pixels: bool = False,
                requests: int = 1, precision: Precision = DEFAULT_PRECISION) -> Runner:
    """The runner of model ``name`` (e.g. "hand_landmark_full") on ``backend``; ``pixels``: it will mostly get uint8
    pixel batches (OpenVINO compiles that input at once, the other on first use); ``requests``: how many
    single-thread calls a batch of several crops is split into (``batch_split``; 1 = one call); ``precision``:
    f32, or bf16 on OpenVINO (``backends.check_precision``)."""
    from calculators.model_store import load_model, onnx_path

    check_backend(backend)
    check_precision(precision, backend)
    if backend == "torch":
        return ModelRunner(lambda: load_model(name), num_threads, name, requests)
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(str(onnx_path(name)), num_threads, pixels, requests)
    return OpenVinoRunner(str(onnx_path(name)), num_threads, pixels, requests, precision)


class HandModelCalculator(Calculator):
    """Base of the two network calculators (not registered): loads ``family``_lite/_full from the model store
    in ``open`` and keeps it in ``self.model`` (a runner of the chosen backend)."""

    family: ClassVar[str]  # "palm_detection" or "hand_landmark"
    input_size: ClassVar[int]  # square input side in pixels
    pixel_input: ClassVar[bool]  # the graphs feed it uint8 crops (ImageToTensor output: uint8), not floats
    split_batches: ClassVar[bool]  # it gets batches of several crops: split them (batch_split.concurrent_requests)

    @dataclass
    class Options:
        model_complexity: int = 1
        backend: Backend = DEFAULT_BACKEND
        num_threads: int = 1  # threads of this network (torch: of the process-wide pool; see torch_threads)
        precision: Precision = DEFAULT_PRECISION  # bf16: openvino only (backends.check_precision)

        def __post_init__(self) -> None:
            check_precision(self.precision, self.backend)
            if self.num_threads < 0:
                raise ValueError(f"num_threads must be >= 0 (0 = the runtime's default), got {self.num_threads}")

    model: Runner

    def open(self, ctx: Context) -> None:
        name = f"{self.family}_{variant_of(self.options.model_complexity)}"
        requests = concurrent_requests(self.options.num_threads) if self.split_batches else 1
        self.model = make_runner(name, self.options.backend, self.options.num_threads, self.pixel_input, requests,
                                 self.options.precision)

    def close(self, ctx: Context) -> None:
        if getattr(self, "model", None) is not None:
            self.model.close()
            release_torch_threads(self.model)
