"""Inference backends for the hand networks: ``torch`` (the reference), ``onnxruntime`` and ``openvino``.

All three run the same network: the torch module converted from MediaPipe's .tflite, or the ONNX file the model
store exports from that module (``calculators/hands/onnx_export.py``). A runner is called on a numpy batch and
returns numpy arrays:

    runner = make_runner("hand_landmark_full", backend="openvino", num_threads=1)
    landmarks, presence, handedness, world = runner(batch)     # batch (N, 3, 224, 224) float32

Which backend, and why the default: per network on one thread, interleaved with MediaPipe's LiteRT interpreter in
one process (``benchmarks/hand_models.py``; 2-core AMD EPYC, 2026-12-01), OpenVINO ran the palm detectors at
0.85-0.92x LiteRT and the landmark nets at 1.02-1.25x, ONNX Runtime at 1.36-1.69x and 1.15-1.45x, torch eager at
2.1-3.6x (two runs, ``benchmarks/results/README.md``). OpenVINO is therefore ``DEFAULT_BACKEND``, and the README's
install brings it. torch stays the reference, the training path and the path for CUDA.

Threads: ``num_threads`` is per network for ONNX Runtime and OpenVINO (each network its own pool, as MediaPipe's
XNNPACK interpreters); for torch it goes through ``calculators.common.torch_threads`` (one process-wide pool).
0 means the runtime's default (all cores).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args

import numpy as np

from graphflow.errors import GraphflowError

Backend = Literal["torch", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = get_args(Backend)
DEFAULT_BACKEND: Backend = "openvino"
# what to install for each optional runtime (the versions this project is tested with)
INSTALL_HINTS = {"onnxruntime": "pip install 'onnxruntime>=1.20'", "openvino": "pip install 'openvino>=2024.4'"}
OPENVINO_DEVICE = "CPU"


class BackendUnavailable(GraphflowError):
    """A backend's runtime package is not installed. The message is one line saying what to install."""


class Runner(Protocol):
    """``runner(batch)`` -> the network's outputs as float32 arrays, batch first.

    batch: (N, 3, S, S) float32, N >= 1.
    """

    backend: str

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]: ...


def check_backend(backend: str) -> str:
    """``backend`` if it is one of ``BACKENDS``; ValueError naming the choices otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def import_runtime(backend: str) -> Any:
    """The runtime module of ``backend`` ("onnxruntime" or "openvino"); ``BackendUnavailable`` if missing."""
    try:
        if backend == "onnxruntime":
            import onnxruntime as runtime
        elif backend == "openvino":
            import openvino as runtime
        else:
            raise ValueError(f"backend {backend!r} has no separate runtime")
    except ImportError as exc:
        raise BackendUnavailable(f"backend {backend!r} needs the {backend} package ({exc.msg}): "
                                 f"{INSTALL_HINTS[backend]}, or choose backend: torch") from None
    return runtime


class OnnxRuntimeRunner:
    """The exported network in an ONNX Runtime CPU session with ``num_threads`` intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, onnx_path: str, num_threads: int = 1) -> None:
        ort = import_runtime("onnxruntime")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: no optimizer notices on stderr
        self.session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)}))


class OpenVinoRunner:
    """The exported network compiled by OpenVINO for the CPU: f32 precision (never the bf16 default some CPUs
    get), latency hint, one stream, ``num_threads`` inference threads.

    The model is compiled per batch size, with a static shape (faster than one dynamic-shape model); batch sizes
    are few (1 for the palm detector, up to max_num_hands for landmarks) and each compiles in well under a second.
    """

    backend = "openvino"

    def __init__(self, onnx_path: str, num_threads: int = 1) -> None:
        ov = import_runtime("openvino")
        self._core = ov.Core()
        self._model = self._core.read_model(onnx_path)
        self._config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                                        "NUM_STREAMS": 1}
        if num_threads > 0:
            self._config["INFERENCE_NUM_THREADS"] = num_threads
        self._requests: dict[int, Any] = {}
        self.request(1)  # compile the common case now, so a bad setup fails at open, not on the first frame

    def request(self, batch_size: int) -> Any:
        """The infer request compiled for a (batch_size, 3, S, S) input."""
        req = self._requests.get(batch_size)
        if req is None:
            model = self._model.clone()
            dims = [d.get_length() for d in list(model.inputs[0].get_partial_shape())[1:]]
            model.reshape({0: [batch_size, *dims]})
            req = self._core.compile_model(model, OPENVINO_DEVICE, self._config).create_infer_request()
            self._requests[batch_size] = req
        return req

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        req = self.request(len(batch))
        req.infer({0: np.ascontiguousarray(batch, np.float32)})
        return tuple(req.get_output_tensor(i).data.copy() for i in range(len(req.model_outputs)))
