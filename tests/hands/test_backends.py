"""The exported backends (ONNX Runtime, OpenVINO) against torch and against LiteRT, and the export itself.

Inputs: the 23 shared photos letterboxed to each network's input, plus one noise image (``test_parity_litert``).
Outputs are compared in the units the decoders use them in, the units the agreement bounds are stated in: palm
box/keypoint regressors and landmarks divided by the input size (normalized crop coordinates, as MediaPipe's
TensorsToDetections / TensorsToLandmarks do first), palm logits through the sigmoid (the score), presence and
handedness as probabilities, world landmarks in metres. In raw pixels the largest differences are float32
accumulation order on large values: 1.6e-3 px on a 138 px palm regressor (1.2e-5 relative), 2e-4 px on landmarks.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from test_parity_litert import MODELS, litert_outputs, model_inputs

from calculators import model_store
from calculators.hands import backends
from calculators.hands.model_runner import make_runner
from calculators.hands.onnx_export import export_onnx

TORCH_BOUND, LITERT_BOUND = 1e-4, 1e-3
EXPORTED = ("onnxruntime", "openvino")


def decoded_units(name: str, outputs: list[np.ndarray] | tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Raw network outputs -> the units the decoders use (see the module docstring)."""
    size, _ = MODELS[name]
    if name.startswith("palm_detection"):
        regressors, logits = outputs
        return [regressors / size, 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))]
    landmarks, presence, handedness, world = outputs
    return [landmarks / size, presence, handedness, world]


def worst_difference(name: str, got: list[np.ndarray] | tuple[np.ndarray, ...],
                     want: list[np.ndarray] | tuple[np.ndarray, ...]) -> float:
    a, b = decoded_units(name, got), decoded_units(name, want)
    assert [x.shape for x in a] == [x.shape for x in b]
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module", params=list(MODELS))
def model_case(request: pytest.FixtureRequest) -> tuple[str, np.ndarray, tuple[np.ndarray, ...], list[np.ndarray]]:
    """(name, NCHW inputs, torch outputs, LiteRT outputs) of one network, computed once per module."""
    name = request.param
    size, output_names = MODELS[name]
    nhwc = model_inputs(size)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    reference = make_runner(name, "torch", num_threads=1)(nchw)
    return name, nchw, reference, litert_outputs(model_store.tflite_path(name), nhwc, output_names)


@pytest.mark.parametrize("backend", EXPORTED)
def test_exported_backend_matches_torch_and_litert(model_case, backend: str) -> None:
    name, nchw, torch_out, litert_out = model_case
    runner = make_runner(name, backend, num_threads=1)
    assert runner.backend == backend
    got = runner(nchw)
    assert len(got) == len(torch_out)
    vs_torch, vs_litert = worst_difference(name, got, torch_out), worst_difference(name, got, litert_out)
    assert vs_torch <= TORCH_BOUND, f"{name} on {backend}: {vs_torch:.2e} from torch (bound {TORCH_BOUND})"
    assert vs_litert <= LITERT_BOUND, f"{name} on {backend}: {vs_litert:.2e} from LiteRT (bound {LITERT_BOUND})"
    # a batch of one gives the batched result (OpenVINO compiles a model per batch size)
    one = runner(nchw[:1])
    assert worst_difference(name, one, [t[:1] for t in got]) <= TORCH_BOUND


@pytest.mark.parametrize("backend", ("torch", *EXPORTED))
def test_pixel_batches_match_the_float_input_and_start_matches_call(model_case, backend: str) -> None:
    """uint8 NHWC crops (what the graphs feed: OpenVINO scales them inside the compiled model) give the torch
    result on the same pixels scaled to [0, 1], and ``start(...).result()`` is the plain call."""
    name, nchw, _, _ = model_case
    pixels = np.ascontiguousarray(np.rint(nchw[:-1].transpose(0, 2, 3, 1) * 255.0).astype(np.uint8))  # photos only
    want = make_runner(name, "torch", num_threads=1)(backends.to_network_input(pixels))
    runner = make_runner(name, backend, num_threads=1)
    got = runner(pixels)
    assert worst_difference(name, got, want) <= TORCH_BOUND
    started = runner.start(pixels[:1]).result()
    assert worst_difference(name, started, runner(pixels[:1])) == 0.0
    assert worst_difference(name, started, [t[:1] for t in got]) <= TORCH_BOUND


def test_pixel_input_is_the_float_scaling() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    scaled = backends.to_network_input(pixels)
    assert scaled.shape == (2, 3, 4, 5) and scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, pixels.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255))
    floats = np.zeros((1, 3, 4, 4), np.float64)
    assert backends.to_network_input(floats).dtype == np.float32


def test_torch_reference_is_within_litert_bound(model_case) -> None:
    name, _, torch_out, litert_out = model_case
    assert worst_difference(name, torch_out, litert_out) <= LITERT_BOUND


def test_export_is_deterministic_and_its_hash_is_recorded() -> None:
    name = "hand_landmark_lite"
    path = model_store.onnx_path(name)
    again = export_onnx(model_store.load_model(name), "hand_landmark")
    assert hashlib.sha256(again).hexdigest() == model_store.onnx_sha256(name)
    assert path.read_bytes() == again
    assert model_store.onnx_sha256(name) in path.with_suffix(".onnx.sha256").read_text()


def test_tampered_export_is_refused(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "palm_detection_lite"
    source = tmp_path / "src" / f"{name}.tflite"  # the real cache's verified file, under its plain name
    source.parent.mkdir()
    source.write_bytes(model_store.tflite_path(name).read_bytes())
    monkeypatch.setenv(model_store.HOME_ENV, str(tmp_path / "home"))
    model_store.fetch(source, names=[name])
    path = model_store.onnx_path(name)  # exported now, into the empty cache
    assert path.parent == model_store.models_dir() and path.is_file()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(model_store.ModelStoreError, match="does not match the SHA-256 recorded"):
        model_store.onnx_path(name)


@pytest.mark.parametrize("backend", EXPORTED)
def test_missing_runtime_says_what_to_install(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setitem(__import__("sys").modules, backend, None)  # `import backend` now raises ImportError
    with pytest.raises(backends.BackendUnavailable) as info:
        make_runner("hand_landmark_lite", backend)
    message = str(info.value)
    assert "\n" not in message and "pip install" in message and backend in message


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime, openvino"):
        make_runner("hand_landmark_lite", "tensorrt")
