"""Runs a hand network on numpy batches: thread count, inference mode, and opt-in ``torch.compile``.

Shared by ``PalmDetectionModel`` and ``HandLandmarkModel`` so both treat threads and compilation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class ModelRunner:
    """``runner(batch)`` -> tuple of (N, ...) float32 arrays, one per network output.

    batch: (N, 3, size, size) float32. With ``compile=True`` the network is compiled once for batch size 1
    (``calculators.model_store.compile_for_cpu_inference``: 1.2-1.8x faster than eager on 2 cores, 5-60 s to
    compile, needs a C++ compiler) and a batch of N runs as N single calls, so no shape ever recompiles.
    """

    def __init__(self, load: Callable[[], Any], size: int, num_threads: int = 1, compile: bool = False) -> None:  # noqa: A002
        import torch

        if num_threads > 0:
            torch.set_num_threads(num_threads)  # process-wide: torch has one intra-op pool
        self.net = load()
        self.compiled = compile
        if compile:
            from calculators.model_store import compile_for_cpu_inference

            self.net = compile_for_cpu_inference(self.net, torch.zeros(1, 3, size, size))

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
        with torch.inference_mode():
            if not self.compiled or len(x) == 1:
                return tuple(t.numpy() for t in self.net(x))
            parts = [self.net(x[i : i + 1]) for i in range(len(x))]
            return tuple(torch.cat(ts).numpy() for ts in zip(*parts, strict=True))
