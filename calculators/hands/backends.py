"""Inference backends for the hand networks: ``torch`` (the reference), ``onnxruntime`` and ``openvino``.

All three run the same network: the torch module converted from MediaPipe's .tflite, or the ONNX file the model
store exports from that module (``calculators/hands/onnx_export.py``). A runner is called on a numpy batch and
returns numpy arrays:

    runner = make_runner("hand_landmark_full", backend="openvino", num_threads=1)
    landmarks, presence, handedness, world = runner(batch)     # batch (N, 3, 224, 224) float32

Which backend, and why the default: per network on one thread, interleaved with MediaPipe's LiteRT interpreter in
one process (``benchmarks/hand_models.py``; 2-core AMD EPYC, 2026-12-01), OpenVINO ran the palm detectors at
0.85-0.92x LiteRT and the landmark nets at 1.02-1.25x, ONNX Runtime at 1.36-1.69x and 1.15-1.45x, torch eager at
2.1-3.6x (two runs, ``benchmarks/results/README.md``); on a 2-core Intel Xeon (2026-12-02) palm 0.78-0.81x,
landmarks 0.92-0.99x, ONNX Runtime 1.22-1.77x, torch 2.05-3.11x. OpenVINO is therefore ``DEFAULT_BACKEND``, and
the README's install brings it. torch stays the reference, the training path and the path for CUDA.

Threads: ``num_threads`` is per network call for ONNX Runtime and OpenVINO (each network its own pool, as
MediaPipe's XNNPACK interpreters); for torch it goes through ``calculators.common.torch_threads`` (one process-wide
pool). 0 means the runtime's default (all cores). ``requests`` (``batch_split.concurrent_requests``, the landmark
network only): a batch of several crops runs as that many single-thread calls at once instead of one call, each
backend as ``batch_split`` describes; the outputs are the batched call's.
Precision: ``f32`` everywhere by default (the agreement with MediaPipe is measured in it). ``bf16`` (OpenVINO only,
on a CPU with bf16 units: AVX512-BF16 or AMX) runs the networks in bfloat16: on a 2-core Xeon with AMX the
landmark-full network took 3.5 instead of 6.6 ms and palm-full 4.3 instead of 6.8, but static landmarks moved to
median 2.4e-3 / worst 1.3e-2 from MediaPipe's (f32 is held to 1e-3 / 5e-3), so it is an opt-in for speed, measured
by ``tests/hands/test_precision.py`` and ``benchmarks/hand_tracking.py --precision bf16``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Literal, Protocol, get_args

import numpy as np

from graphflow.errors import GraphflowError

from .batch_split import BACKGROUND, Outputs, PartPool, SplitCount, Started, call_in_parts

Backend = Literal["torch", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = get_args(Backend)
DEFAULT_BACKEND: Backend = "openvino"
Precision = Literal["f32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "f32"
OPENVINO_BF16_CAPABILITY = "BF16"  # in the CPU device's OPTIMIZATION_CAPABILITIES when it has bf16 units
# what to install for each optional runtime (the versions this project is tested with)
INSTALL_HINTS = {"onnxruntime": "pip install 'onnxruntime>=1.20'", "openvino": "pip install 'openvino>=2024.4'"}
OPENVINO_DEVICE = "CPU"


class BackendUnavailable(GraphflowError):
    """A backend's runtime package is not installed. The message is one line saying what to install."""


class Runner(Protocol):
    """``runner(batch)`` -> the network's outputs as float32 arrays, batch first.

    batch: (N, 3, S, S) float32 in the network's value range, or (N, S, S, 3) uint8 pixels (``ImageToTensor``
    with ``output: uint8``), which the runner scales to [0, 1] itself (OpenVINO inside the compiled model). N >= 1.
    ``runner.start(batch)`` starts the same call and returns a ``Pending`` whose ``result()`` gives the outputs:
    OpenVINO runs it on its own inference thread meanwhile; the others compute it at once. ``requests``: how
    many single-thread calls a batch of several is split into (``batch_split``; 1 = one call). ``close()`` stops
    the runner's worker threads, if any.
    """

    backend: str
    requests: int
    splits: SplitCount

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]: ...

    def start(self, batch: np.ndarray) -> Pending: ...

    def close(self) -> None: ...


def is_pixel_batch(batch: np.ndarray) -> bool:
    """True for an (N, S, S, 3) uint8 batch of crops (pixels), False for an (N, 3, S, S) float network input."""
    return batch.dtype == np.uint8


def to_network_input(batch: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 pixels -> (N, 3, S, S) float32 in [0, 1] (one pass, the multiply ``image_to_tensor``
    uses); a float batch is returned as a contiguous float32 array."""
    if not is_pixel_batch(batch):
        return np.ascontiguousarray(batch, np.float32)
    n, h, w, c = batch.shape
    out = np.empty((n, c, h, w), np.float32)
    np.multiply(batch.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=out)
    return out


class Pending:
    """A network call in flight (``Runner.start``); ``result()`` waits for it and returns the outputs. ``done``
    (optional) is called once the call is collected, or when the Pending is dropped uncollected."""

    def __init__(self, wait: Any = None, outputs: tuple[np.ndarray, ...] | None = None,
                 done: Callable[[], None] | None = None) -> None:
        self._wait, self._outputs, self._done = wait, outputs, done
        if done is not None:
            weakref.finalize(self, done)

    def result(self) -> tuple[np.ndarray, ...]:
        if self._outputs is None:
            try:
                self._outputs = self._wait()
            finally:
                if self._done is not None:
                    self._done()
            self._wait = None
        return self._outputs


def check_backend(backend: str) -> str:
    """``backend`` if it is one of ``BACKENDS``; ValueError naming the choices otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def check_precision(precision: str, backend: str) -> str:
    """``precision`` if ``backend`` can run it; ValueError saying what to choose otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "f32" and backend != "openvino":
        raise ValueError(f"precision {precision!r} runs on backend openvino only (got backend {backend!r}): "
                         f"choose backend: openvino, or precision: f32")
    return precision


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
    """The exported network in an ONNX Runtime CPU session with ``num_threads`` intra-op threads; the parts of a
    split batch run on the calling thread and ``requests - 1`` pool threads (the session is safe to share)."""

    backend = "onnxruntime"

    def __init__(self, onnx_path: str, num_threads: int = 1, pixels: bool = False, requests: int = 1) -> None:
        del pixels  # one session takes both input kinds (pixels are scaled in numpy)
        self.requests = requests
        self.splits = SplitCount()
        self._pool = PartPool(requests - 1)
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
        return call_in_parts(batch, self.requests, self._call, self._start_part, self.splits)

    def _call(self, batch: np.ndarray, slot: int = 0) -> Outputs:
        del slot  # one session serves every thread
        return tuple(self.session.run(None, {self.input_name: to_network_input(batch)}))

    def _start_part(self, batch: np.ndarray, slot: int) -> Started:
        return self._pool.submit(self._call, batch, slot)

    def start(self, batch: np.ndarray) -> Pending:
        return Pending(outputs=self(batch))

    def close(self) -> None:
        self._pool.close()


class OpenVinoRunner:
    """The exported network compiled by OpenVINO for the CPU: ``precision`` f32 (never the bf16 default some CPUs
    get unasked) or bf16 when asked for (``check_precision``; a CPU without bf16 units is refused), latency hint,
    one stream per request (``requests``), ``num_threads`` inference threads per stream, not pinned to a core. A
    split batch's parts run on requests of their own, all but the first with ``start_async``
    (one compiled model of ``requests`` streams: measured, two requests of one single-stream model ran one after
    the other, 17-18 ms for two landmark-full crops, of a two-stream model at once, 8.8-9.2 ms).

    The model is compiled per batch size and input kind, with a static shape (faster than one dynamic-shape
    model): batch sizes are few (1 for the palm detector, up to max_num_hands for landmarks) and each compiles in
    well under a second; ``pixels`` says which input kind to compile at once. A uint8 (N, S, S, 3) pixel batch
    goes to a model whose PrePostProcessor takes u8 NHWC and converts and scales it inside the compiled graph (no
    float copy of the crop in Python). Each request keeps its input buffer: a call copies the batch into it.
    """

    backend = "openvino"

    def __init__(self, onnx_path: str, num_threads: int = 1, pixels: bool = False, requests: int = 1,
                 precision: Precision = DEFAULT_PRECISION) -> None:
        ov = import_runtime("openvino")
        check_precision(precision, "openvino")
        self.requests = requests
        self.splits = SplitCount()
        self._core = ov.Core()
        if precision == "bf16":
            capabilities = self._core.get_property(OPENVINO_DEVICE, "OPTIMIZATION_CAPABILITIES")
            if OPENVINO_BF16_CAPABILITY not in capabilities:
                raise ValueError(f"precision 'bf16' needs a CPU with bf16 units (AVX512-BF16 or AMX); OpenVINO "
                                 f"reports {', '.join(capabilities)} for this one: use precision: f32")
        self._model = self._core.read_model(onnx_path)
        # No CPU pinning: OpenVINO pins each compiled model's stream to a core of its choosing, and with one thread
        # per network every network lands on the same core, so the palm call started in the background
        # (``start``) could never run beside the landmark call (measured: 2 networks started together took as long
        # as in sequence, 10.2 vs 9.9 ms; unpinned 5.5-7.4 ms).
        self._config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                                        "NUM_STREAMS": requests, "ENABLE_CPU_PINNING": False}
        if num_threads > 0:
            self._config["INFERENCE_NUM_THREADS"] = num_threads * requests  # num_threads per stream
        self._requests: dict[tuple[int, bool], list[Any]] = {}
        self._inputs: dict[tuple[int, bool], list[np.ndarray]] = {}
        self._size = [d.get_length() for d in list(self._model.inputs[0].get_partial_shape())[2:]]
        self.request(1, pixels)  # compile the expected input now: a bad setup fails at open, not on frame one

    def request(self, batch_size: int, pixels: bool, slot: int = 0) -> Any:
        """Infer request ``slot`` (0 .. requests-1) of the model compiled for a (batch_size, 3, S, S) float input,
        or (batch_size, S, S, 3) uint8 pixels when ``pixels``."""
        key = (batch_size, pixels)
        reqs = self._requests.get(key)
        if reqs is None:
            model = self._model.clone()
            model.reshape({0: [batch_size, 3, *self._size]})
            if pixels:
                model = _pixel_input(model)
            compiled = self._core.compile_model(model, OPENVINO_DEVICE, self._config)
            reqs = [compiled.create_infer_request() for _ in range(self.requests)]
            self._requests[key] = reqs
            self._inputs[key] = [r.get_input_tensor().data for r in reqs]  # views of the requests' input buffers
        return reqs[slot]

    def _submit(self, batch: np.ndarray, slot: int) -> Any:
        """Request ``slot`` for ``batch``, its input already written into the request's own input buffer (one
        copy, no per-call tensor wrapping: the dispatcher cost of ``infer({0: array})`` is gone)."""
        pixels = is_pixel_batch(batch)
        req = self.request(len(batch), pixels, slot)
        req.wait()  # a call started earlier on this request must end before its input is replaced
        np.copyto(self._inputs[(len(batch), pixels)][slot], batch, casting="same_kind")
        return req

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return call_in_parts(batch, self.requests, self._call, self._start, self.splits)

    def _call(self, batch: np.ndarray, slot: int) -> Outputs:
        req = self._submit(batch, slot)
        req.infer()
        return _outputs(req)

    def _start(self, batch: np.ndarray, slot: int, done: Callable[[], None] | None = None) -> Pending:
        req = self._submit(batch, slot)
        req.start_async()

        def wait() -> tuple[np.ndarray, ...]:
            req.wait()
            return _outputs(req)

        return Pending(wait, done=done)

    def start(self, batch: np.ndarray) -> Pending:
        """The call started on OpenVINO's inference thread; it holds a core until collected (``BACKGROUND``: a
        split batch meanwhile uses one request fewer)."""
        done = BACKGROUND.started()
        try:
            return self._start(batch, 0, done)
        except BaseException:
            done()
            raise

    def close(self) -> None:
        """Nothing to stop: OpenVINO owns its inference threads."""


def _outputs(req: Any) -> tuple[np.ndarray, ...]:
    """Copies of a finished request's outputs."""
    return tuple(req.get_output_tensor(i).data.copy() for i in range(len(req.model_outputs)))


def _pixel_input(model: Any) -> Any:
    """``model`` (float NCHW input in [0, 1]) taking u8 NHWC pixels instead: convert to f32 and divide by 255
    inside the compiled graph."""
    from openvino import Layout, Type
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout("NHWC"))
    ppp.input().model().set_layout(Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(Type.f32).scale(255.0)
    return ppp.build()
