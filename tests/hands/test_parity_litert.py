"""The torch palm detector and hand landmark nets against the TFLite interpreter (LiteRT) on the same inputs.

Inputs are the real photographs in ``../shared/data/hands/images`` (letterboxed to the model's square input, as
MediaPipe does) plus one uniform-noise tensor. Every output must agree within 1e-3 absolute: coordinates are in
pixels of the model input, scores and probabilities as the model emits them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ai_edge_litert.interpreter import Interpreter

from calculators import model_store
from calculators.hands.landmark_net import Pointwise
from calculators.hands.palm_net import max_pool_2x2

IMAGES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hands" / "images"
ATOL = 1e-3
MODELS = {  # name -> (input size, TFLite output names in the order the torch module returns them)
    "palm_detection_lite": (192, ["Identity", "Identity_1"]),
    "palm_detection_full": (192, ["Identity", "Identity_1"]),
    "hand_landmark_lite": (224, ["Identity", "Identity_1", "Identity_2", "Identity_3"]),
    "hand_landmark_full": (224, ["Identity", "Identity_1", "Identity_2", "Identity_3"]),
}


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (size, size, 3) float32 in [0, 1], aspect kept, zero bars centred."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    out = np.zeros((size, size, 3), np.float32)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA) / 255.0
    return out


def model_inputs(size: int) -> np.ndarray:
    """(N, size, size, 3) float32 NHWC: every hands image, then one uniform-noise image."""
    paths = sorted(IMAGES.glob("*.jpg")) + sorted(IMAGES.glob("*.png"))
    assert len(paths) >= 20, f"expected the shared hand images in {IMAGES}"
    images = [letterbox(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), size) for p in paths]
    images.append(np.random.default_rng(0).random((size, size, 3), dtype=np.float32))
    return np.stack(images)


def litert_outputs(path: Path, inputs: np.ndarray, names: list[str]) -> list[np.ndarray]:
    """Run the .tflite on each (1, H, W, 3) input; outputs stacked over the inputs, in ``names`` order."""
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    index = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    assert sorted(index) == sorted(names)
    results: list[list[np.ndarray]] = [[] for _ in names]
    for x in inputs:
        interpreter.set_tensor(inp["index"], x[None])
        interpreter.invoke()
        for k, name in enumerate(names):
            results[k].append(interpreter.get_tensor(index[name])[0].copy())
    return [np.stack(r) for r in results]


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_matches_litert(name: str) -> None:
    torch.set_num_threads(1)
    size, output_names = MODELS[name]
    inputs = model_inputs(size)
    expected = litert_outputs(model_store.tflite_path(name), inputs, output_names)
    net = model_store.load_model(name)
    with torch.inference_mode():
        got = net(torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous())  # NHWC -> NCHW
    assert len(got) == len(expected)
    for out_name, g, e in zip(output_names, got, expected, strict=True):
        assert tuple(g.shape) == e.shape, f"{name} {out_name}: shape {tuple(g.shape)} vs LiteRT {e.shape}"
        diff = np.abs(g.numpy() - e)
        worst = np.unravel_index(diff.argmax(), diff.shape)
        assert diff.max() <= ATOL, (f"{name} {out_name}: max |torch - LiteRT| = {diff.max():.2e} at {worst} "
                                    f"(torch {g.numpy()[worst]:.5f}, LiteRT {e[worst]:.5f}), allowed {ATOL}")


def test_outputs_have_the_documented_shapes_and_ranges() -> None:
    torch.set_num_threads(1)
    palm = model_store.load_palm_detector("lite")
    landmark = model_store.load_hand_landmark("lite")
    with torch.inference_mode():
        regressors, logits = palm(torch.rand(2, 3, 192, 192))
        landmarks, presence, handedness, world = landmark(torch.rand(2, 3, 224, 224))
        features = landmark.forward_features(torch.rand(1, 3, 224, 224))
    assert regressors.shape == (2, 2016, 18) and logits.shape == (2, 2016, 1)
    assert landmarks.shape == world.shape == (2, 63)
    assert presence.shape == handedness.shape == (2, 1)
    assert ((presence >= 0) & (presence <= 1)).all() and ((handedness >= 0) & (handedness <= 1)).all()
    assert features.shape == (1, 672, 7, 7)


def test_fast_paths_equal_the_plain_ops() -> None:
    torch.set_num_threads(1)
    x = torch.randn(2, 16, 12, 10)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(max_pool_2x2(x), F.max_pool2d(x, 2, 2))
    assert torch.equal(max_pool_2x2(x_cl), F.max_pool2d(x, 2, 2))
    conv = Pointwise(16, 8)
    with torch.inference_mode():
        expected = F.conv2d(x, conv.weight, conv.bias)
        torch.testing.assert_close(conv(x_cl), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["palm_detection_full", "hand_landmark_full"])
def test_other_memory_format_stays_close(name: str) -> None:
    """The layout switch only changes rounding: channels_last and NCHW agree to float32 noise (palm
    regressors reach ~130 px, hence 2e-3; see PalmDetector.memory_format)."""
    torch.set_num_threads(1)
    size, _ = MODELS[name]
    x = torch.from_numpy(model_inputs(size)[:4]).permute(0, 3, 1, 2).contiguous()
    net = model_store.load_model(name)
    with torch.inference_mode():
        default = net(x)
        net.memory_format = (torch.contiguous_format if net.memory_format == torch.channels_last
                             else torch.channels_last)
        other = net(x)
    for a, b in zip(default, other, strict=True):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=0)


def test_landmark_net_compiles_to_one_graph() -> None:
    """torch.compile (opt-in, ~1.5-2x faster on CPU) must see one graph: the oneDNN fast path in Pointwise steps
    aside under compilation instead of breaking the graph (a break per block made compile slower than eager)."""
    torch.set_num_threads(1)
    net = model_store.load_hand_landmark("lite")
    with torch.inference_mode():
        explanation = torch._dynamo.explain(net)(torch.rand(1, 3, 224, 224))
    assert explanation.graph_break_count == 0, explanation.break_reasons


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GRAPHFLOW_RUN_SLOW") != "1", reason="set GRAPHFLOW_RUN_SLOW=1 (compiles C++)")
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="needs a C++ compiler")
def test_compiled_palm_detector_matches_litert() -> None:
    """The opt-in compiled model (inductor, frozen weights) keeps LiteRT parity. Slow: compiles C++ (10-60 s cold),
    so it runs only with GRAPHFLOW_RUN_SLOW=1 and stays out of the CI budget."""
    torch.set_num_threads(1)
    size, output_names = MODELS["palm_detection_lite"]
    inputs = model_inputs(size)[:4]
    expected = litert_outputs(model_store.tflite_path("palm_detection_lite"), inputs, output_names)
    x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous()
    net = model_store.compile_for_cpu_inference(model_store.load_palm_detector("lite"), x)
    with torch.inference_mode():
        got = net(x)
    for g, e in zip(got, expected, strict=True):
        assert np.abs(g.numpy() - e).max() <= ATOL
