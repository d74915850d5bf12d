"""Hand landmark calculators: the network (``HandLandmarkModel``) and its decoding (``TensorsToHandLandmarks``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calculators.types import HandLandmarks
from graphflow import Calculator, Context, Input, Output, register_calculator

from .landmarks import decode_landmarks, handedness, project_landmarks, project_world_landmarks, remove_letterbox
from .model_runner import HandModelCalculator


@register_calculator("HandLandmarkModel")
class HandLandmarkModelCalculator(HandModelCalculator):
    """Runs the hand landmark network on a batch of 224x224 hand crops (one per ROI; an empty batch skips it).

    Inputs:  TENSOR - np.ndarray (N, 3, 224, 224) float32 RGB in [0, 1], or (N, 224, 224, 3) uint8 pixels
    Outputs: LANDMARKS - np.ndarray (N, 63) float32: 21 x (x, y, z) in pixels of the 224 crop
             PRESENCE - np.ndarray (N,) float32 hand presence probability
             HANDEDNESS - np.ndarray (N,) float32 probability of "Left" (MediaPipe's selfie convention)
             WORLD_LANDMARKS - np.ndarray (N, 63) float32 metres
    Options: model_complexity - 0 (hand_landmark_lite) or 1 (hand_landmark_full);
             backend - torch | onnxruntime | openvino (default); num_threads - threads of the network
    Several crops: with num_threads 1 on a machine with more cores, run as that many single-thread requests at once
    (``batch_split``; the outputs are the batched call's); counted as ``split_batches``.
    Example:
      - calculator: HandLandmarkModel
        inputs: {TENSOR: hand_input}
        outputs: {LANDMARKS: raw_landmarks, PRESENCE: presence, HANDEDNESS: handedness,
                  WORLD_LANDMARKS: raw_world}
        options: {model_complexity: 1}
    """

    TENSOR = Input(np.ndarray)
    LANDMARKS = Output(np.ndarray)
    PRESENCE = Output(np.ndarray)
    HANDEDNESS = Output(np.ndarray)
    WORLD_LANDMARKS = Output(np.ndarray)

    family = "hand_landmark"
    input_size = 224
    pixel_input = True  # graphs/hand_landmark.yaml: uint8 crops
    split_batches = True  # one crop per ROI: two hands run as two single-thread requests at once (batch_split)

    def process(self, ctx: Context) -> None:
        tensor = ctx.get("TENSOR")
        if tensor is None:
            return
        n = len(tensor)
        if n == 0:
            outs = [np.zeros((0, 63), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)]
            outs.append(np.zeros((0, 63), np.float32))
        else:
            splits = self.model.splits.calls
            outs = [t.reshape(n, -1) for t in self.model(tensor)]
            if self.model.splits.calls > splits:
                ctx.count("split_batches")  # ran as concurrent single-thread requests (batch_split)
            outs[1], outs[2] = outs[1].reshape(n), outs[2].reshape(n)
        for tag, value in zip(("LANDMARKS", "PRESENCE", "HANDEDNESS", "WORLD_LANDMARKS"), outs, strict=True):
            ctx.emit(tag, value)


@register_calculator("TensorsToHandLandmarks")
class TensorsToHandLandmarksCalculator(Calculator):
    """Presence gate, handedness, landmark decoding and projection back to the image, one hand per ROI.

    Inputs:  LANDMARKS - np.ndarray (N, 63); PRESENCE - np.ndarray (N,); HANDEDNESS - np.ndarray (N,);
             WORLD_LANDMARKS - np.ndarray (N, 63); LETTERBOX_PADDING - np.ndarray (N, 4)
             NORM_RECTS - list[NormalizedRect] (N): the ROIs the crops came from
             PALMS - list[Detection | None] (optional, N): the palm detection behind each ROI
    Outputs: HANDS - list[HandLandmarks]: the ROIs whose presence is above ``min_tracking_confidence``, in order
    Options: min_tracking_confidence - presence threshold (MediaPipe: presence > threshold keeps the hand);
             mirrored_input - True: handedness as MediaPipe reports it (the image is assumed to be a selfie,
             i.e. mirrored); False: the label names the anatomical hand of a non-mirrored image
    Example:
      - calculator: TensorsToHandLandmarks
        inputs: {LANDMARKS: raw_landmarks, PRESENCE: presence, HANDEDNESS: handedness,
                 WORLD_LANDMARKS: raw_world, LETTERBOX_PADDING: hand_padding, NORM_RECTS: hand_rois}
        outputs: {HANDS: hands}
        options: {min_tracking_confidence: 0.5}
    """

    LANDMARKS = Input(np.ndarray)
    PRESENCE = Input(np.ndarray)
    HANDEDNESS = Input(np.ndarray)
    WORLD_LANDMARKS = Input(np.ndarray)
    LETTERBOX_PADDING = Input(np.ndarray)
    NORM_RECTS = Input(list)
    PALMS = Input(list, optional=True)
    HANDS = Output(list)

    @dataclass
    class Options:
        min_tracking_confidence: float = 0.5
        mirrored_input: bool = True

    def process(self, ctx: Context) -> None:
        rects = ctx.get("NORM_RECTS")
        raw = [ctx.get(t) for t in ("LANDMARKS", "PRESENCE", "HANDEDNESS", "WORLD_LANDMARKS", "LETTERBOX_PADDING")]
        if rects is None or any(r is None for r in raw):
            return
        landmarks, presence, hand_p, world, padding = raw
        palms = ctx.get("PALMS") or [None] * len(rects)
        if not len(rects) == len(landmarks) == len(palms):
            raise ValueError(f"{len(rects)} ROIs, {len(landmarks)} landmark sets and {len(palms)} palms: must match")
        hands = []
        for i, rect in enumerate(rects):
            if not float(presence[i]) > self.options.min_tracking_confidence:
                ctx.count("hands_rejected")
                continue
            local = remove_letterbox(decode_landmarks(landmarks[i]), padding[i])
            label, score = handedness(float(hand_p[i]), self.options.mirrored_input)
            hands.append(
                HandLandmarks(
                    landmarks=project_landmarks(local, rect),
                    world_landmarks=project_world_landmarks(world[i], rect),
                    handedness=label,
                    handedness_score=score,
                    presence=float(presence[i]),
                    roi=rect,
                    palm=palms[i],
                )
            )
        ctx.emit("HANDS", hands)
