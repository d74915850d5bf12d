"""Export the hand networks from the project's own torch modules to ONNX, for ONNX Runtime and OpenVINO.

The exported file is built from the loaded ``PalmDetector`` / ``HandLandmarkNet`` (weights converted from the
MediaPipe .tflite files), never downloaded. The export is deterministic: the same torch version and the same
state dict give byte-identical files, so the model store records its SHA-256 next to the .tflite hashes and
checks it on every load.

Graph: TorchScript-based ``torch.onnx.export`` (``dynamo=False``), opset ``ONNX_OPSET``, constant folding on, one
input ``input`` (N, 3, S, S) float32 with a dynamic batch axis, outputs named as in ``OUTPUT_NAMES``. The
landmark net's direct oneDNN 1x1-conv path is skipped while tracing (``Pointwise`` takes the plain conv then).
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

EXPORT_VERSION = 1  # bump when the export settings change: cached .onnx files are keyed by it
ONNX_OPSET = 17
INPUT_NAME = "input"
BATCH_AXIS = "batch"
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {  # family -> outputs, in the order the torch module returns them
    "palm_detection": ("regressors", "logits"),
    "hand_landmark": ("landmarks", "presence", "handedness", "world_landmarks"),
}
INPUT_SIZE: dict[str, int] = {"palm_detection": 192, "hand_landmark": 224}


def export_onnx(net: nn.Module, family: str) -> bytes:
    """The ONNX model (serialized bytes) of ``net``, a loaded network of ``family`` ("palm_detection" or
    "hand_landmark"), in eval mode on CPU."""
    if family not in OUTPUT_NAMES:
        raise ValueError(f"family must be one of {sorted(OUTPUT_NAMES)}, got {family!r}")
    size = INPUT_SIZE[family]
    outputs = OUTPUT_NAMES[family]
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its own deprecation on every call
        torch.onnx.export(
            net.eval(), (torch.zeros(1, 3, size, size),), buf,
            dynamo=False, opset_version=ONNX_OPSET, do_constant_folding=True,
            input_names=[INPUT_NAME], output_names=list(outputs),
            dynamic_axes={INPUT_NAME: {0: BATCH_AXIS}, **{name: {0: BATCH_AXIS} for name in outputs}},
        )
    return buf.getvalue()
