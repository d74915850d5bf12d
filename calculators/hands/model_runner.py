"""Runs a hand network on numpy batches: backend, threads, inference mode, and opt-in ``torch.compile``.

Shared by ``PalmDetectionModel`` and ``HandLandmarkModel`` (through ``HandModelCalculator``) so both treat model
choice, backend, threads and compilation alike. ``ModelRunner`` is the torch backend; ``make_runner`` picks the
runner of any backend (``calculators/hands/backends.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from calculators.common.torch_threads import release_torch_threads, request_torch_threads
from graphflow import Calculator, Context

from .backends import DEFAULT_BACKEND, Backend, OnnxRuntimeRunner, OpenVinoRunner, Runner, check_backend

COMPLEXITY_VARIANTS = {0: "lite", 1: "full"}


def variant_of(model_complexity: int) -> str:
    """0 -> "lite", 1 -> "full" (MediaPipe's model_complexity)."""
    if model_complexity not in COMPLEXITY_VARIANTS:
        raise ValueError(f"model_complexity must be 0 (lite) or 1 (full), got {model_complexity}")
    return COMPLEXITY_VARIANTS[model_complexity]


_COMPILED: dict[str, Any] = {}  # compiled networks by model name, kept for the process (compiling takes seconds)


class ModelRunner:
    """``runner(batch)`` -> tuple of (N, ...) float32 arrays, one per network output.

    batch: (N, 3, size, size) float32. With ``compile=True`` the network is compiled once for batch size 1
    (``calculators.model_store.compile_for_cpu_inference``: 1.2-1.8x faster than eager on 2 cores, 5-60 s to
    compile, needs a C++ compiler) and a batch of N runs as N single calls, so no shape ever recompiles.
    """

    backend = "torch"

    def __init__(self, load: Callable[[], Any], size: int, num_threads: int = 1, compile: bool = False,  # noqa: A002
                 cache_key: str | None = None) -> None:
        import torch

        request_torch_threads(self, num_threads, cache_key)  # process-wide: torch has one intra-op pool
        self.compiled = compile
        if compile and cache_key is not None and cache_key in _COMPILED:
            self.net = _COMPILED[cache_key]  # a graph run again reuses the compiled network: no recompile
            return
        self.net = load()
        if compile:
            from calculators.model_store import compile_for_cpu_inference

            self.net = compile_for_cpu_inference(self.net, torch.zeros(1, 3, size, size))
            if cache_key is not None:
                _COMPILED[cache_key] = self.net

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
        with torch.inference_mode():
            if not self.compiled or len(x) == 1:
                return tuple(t.numpy() for t in self.net(x))
            parts = [self.net(x[i : i + 1]) for i in range(len(x))]
            return tuple(torch.cat(ts).numpy() for ts in zip(*parts, strict=True))


def make_runner(name: str, backend: str = DEFAULT_BACKEND, num_threads: int = 1,
                compile: bool = False) -> Runner:  # noqa: A002
    """The runner of model ``name`` (e.g. "hand_landmark_full") on ``backend``; ``compile`` is torch's only."""
    from calculators.model_store import load_model, onnx_path

    check_backend(backend)
    if compile and backend != "torch":
        raise ValueError(f"compile (torch.compile) applies to backend torch only, not {backend!r}")
    if backend == "torch":
        family = name.rsplit("_", 1)[0]
        size = HAND_MODEL_INPUT_SIZES[family]
        return ModelRunner(lambda: load_model(name), size, num_threads, compile, cache_key=name)
    runner_type = OnnxRuntimeRunner if backend == "onnxruntime" else OpenVinoRunner
    return runner_type(str(onnx_path(name)), num_threads)


HAND_MODEL_INPUT_SIZES = {"palm_detection": 192, "hand_landmark": 224}


class HandModelCalculator(Calculator):
    """Base of the two network calculators (not registered): loads ``family``_lite/_full from the model store
    in ``open`` and keeps it in ``self.model`` (a runner of the chosen backend)."""

    family: ClassVar[str]  # "palm_detection" or "hand_landmark"
    input_size: ClassVar[int]  # square input side in pixels

    @dataclass
    class Options:
        model_complexity: int = 1
        backend: Backend = DEFAULT_BACKEND
        num_threads: int = 1  # threads of this network (torch: of the process-wide pool; see torch_threads)
        compile: bool = False  # torch.compile once at open (backend torch; 5-60 s start, needs a C++ compiler)

        def __post_init__(self) -> None:
            if self.compile and self.backend != "torch":
                raise ValueError(f"compile (torch.compile) applies to backend torch only, not {self.backend!r}")
            if self.num_threads < 0:
                raise ValueError(f"num_threads must be >= 0 (0 = the runtime's default), got {self.num_threads}")

    model: Runner

    def open(self, ctx: Context) -> None:
        name = f"{self.family}_{variant_of(self.options.model_complexity)}"
        self.model = make_runner(name, self.options.backend, self.options.num_threads, self.options.compile)

    def close(self, ctx: Context) -> None:
        if getattr(self, "model", None) is not None:
            release_torch_threads(self.model)
