"""Palm detection calculators: the network (``PalmDetectionModel``) and its decoding (``TensorsToPalmDetections``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator

from .anchors import generate_anchors
from .backends import Pending
from .model_runner import HandModelCalculator
from .nms import weighted_nms
from .palm_decode import PalmDecodeOptions, decode_palm_tensors, remove_letterbox


@register_calculator("PalmDetectionModel")
class PalmDetectionModelCalculator(HandModelCalculator):
    """Runs the BlazePalm network on a batch of 192x192 inputs.

    Inputs:  TENSOR - np.ndarray (N, 3, 192, 192) float32 RGB in [0, 1], or (N, 192, 192, 3) uint8 pixels
    Outputs: REGRESSORS - np.ndarray (N, 2016, 18) float32: box (xc, yc, w, h) and 7 keypoints, pixels of 192
             LOGITS - np.ndarray (N, 2016, 1) float32: raw scores (before the sigmoid)
             PENDING - backends.Pending (optional, instead of the two above): the call started and still running
                 (OpenVINO: on its own inference thread), so that other nodes of the frame run meanwhile; its
                 consumer (``TensorsToPalmDetections``) waits for the result
    Options: model_complexity - 0 (palm_detection_lite) or 1 (palm_detection_full);
             backend - torch | onnxruntime | openvino (default; calculators/hands/backends.py);
             num_threads - threads of the network (1, MediaPipe's setup, is fastest on a shared machine)
    Example:
      - calculator: PalmDetectionModel
        inputs: {TENSOR: palm_input}
        outputs: {REGRESSORS: palm_regressors, LOGITS: palm_logits}
        options: {model_complexity: 1}
    """

    TENSOR = Input(np.ndarray)
    REGRESSORS = Output(np.ndarray)
    LOGITS = Output(np.ndarray)
    PENDING = Output(Pending)

    family = "palm_detection"
    input_size = 192
    pixel_input = False  # graphs/palm_detection.yaml: float input (see the note there)
    split_batches = False  # one frame per call

    def process(self, ctx: Context) -> None:
        tensor = ctx.get("TENSOR")
        if tensor is None:
            return
        if ctx.output_connected("PENDING"):
            ctx.emit("PENDING", self.model.start(tensor))
            return
        regressors, logits = self.model(tensor)
        ctx.emit("REGRESSORS", regressors)
        ctx.emit("LOGITS", logits)


@register_calculator("TensorsToPalmDetections")
class TensorsToPalmDetectionsCalculator(Calculator):
    """Decodes palm tensors (anchors, sigmoid with clipping, threshold), weighted NMS, letterbox removal.

    Only the first image of the batch is decoded (the palm detector runs on one full frame).
    Inputs:  REGRESSORS - np.ndarray (1, 2016, 18) float32
             LOGITS - np.ndarray (1, 2016, 1) float32
             PENDING - backends.Pending (instead of REGRESSORS and LOGITS): a started call, waited for here
             LETTERBOX_PADDING - np.ndarray (1, 4) float32 (left, top, right, bottom)
             AFTER - Any (optional, payload unused): the node runs for a timestamp only once this input is settled
                 there, so a started call is waited for after that work. hand_tracking.yaml connects the tracked
                 hands' landmark pass: the palm call then runs beside that pass instead of being waited for first.
    Outputs: DETECTIONS - list[Detection], normalized to the image, best score first, at most
             ``max_num_detections`` (MediaPipe clips to ``max_num_hands`` after NMS)
    Options: min_score_thresh - MediaPipe's ``min_detection_confidence`` (0.5);
             min_suppression_threshold - IoU above which boxes merge (0.3);
             max_num_detections - -1 for no limit
    Example:
      - calculator: TensorsToPalmDetections
        inputs: {REGRESSORS: palm_regressors, LOGITS: palm_logits, LETTERBOX_PADDING: palm_padding}
        outputs: {DETECTIONS: palm_detections}
        options: {min_score_thresh: 0.5, max_num_detections: 2}
    """

    REGRESSORS = Input(np.ndarray, optional=True)
    LOGITS = Input(np.ndarray, optional=True)
    PENDING = Input(Pending, optional=True)
    LETTERBOX_PADDING = Input(np.ndarray)
    AFTER = Input(Any, optional=True)
    DETECTIONS = Output(list)

    @dataclass
    class Options:
        min_score_thresh: float = 0.5
        min_suppression_threshold: float = 0.3
        max_num_detections: int = -1

    def open(self, ctx: Context) -> None:
        self.anchors = generate_anchors()
        self.decode = PalmDecodeOptions(min_score_thresh=self.options.min_score_thresh)

    def process(self, ctx: Context) -> None:
        regressors, logits, padding = ctx.get("REGRESSORS"), ctx.get("LOGITS"), ctx.get("LETTERBOX_PADDING")
        pending = ctx.get("PENDING")
        if pending is not None:
            regressors, logits = pending.result()
        if regressors is None or logits is None or padding is None:
            return
        candidates = decode_palm_tensors(regressors[0], logits[0], self.anchors, self.decode)
        ctx.count("candidates", len(candidates))
        kept = weighted_nms(candidates, self.options.min_suppression_threshold, self.options.max_num_detections)
        ctx.emit("DETECTIONS", remove_letterbox(kept, padding[0]).to_detections())
