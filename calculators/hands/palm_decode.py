"""Decode the palm detector's raw tensors into detections (MediaPipe's ``TensorsToDetectionsCalculator``).

Options from ``palm_detection_cpu.pbtxt`` (v0.10.21): ``num_coords 18, box_coord_offset 0, keypoint_coord_offset 4,
num_keypoints 7, num_values_per_keypoint 2, sigmoid_score true, score_clipping_thresh 100, reverse_output_order true,
x/y/w/h_scale 192, min_score_thresh 0.5``. ``reverse_output_order`` means the box is (x_center, y_center, w, h) and
every keypoint is (x, y). Box sizes are linear (no exp): ``w = raw_w / w_scale * anchor_w``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calculators.types import Detection


@dataclass(frozen=True)
class PalmDecodeOptions:
    """Decoding constants of ``palmdetectioncpu__TensorsToDetectionsCalculator``."""

    num_keypoints: int = 7
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    x_scale: float = 192.0
    y_scale: float = 192.0
    w_scale: float = 192.0
    h_scale: float = 192.0
    score_clipping_thresh: float = 100.0
    min_score_thresh: float = 0.5


@dataclass(frozen=True)
class DetectionArrays:
    """A batch of detections as parallel arrays (normalized coordinates).

    boxes: (N, 4) float32 [xmin, ymin, xmax, ymax]; keypoints: (N, K, 2) float32 (x, y); scores: (N,) float32.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray | list[int]) -> DetectionArrays:
        return DetectionArrays(self.boxes[index], self.keypoints[index], self.scores[index])

    def to_detections(self) -> list[Detection]:
        return [
            Detection(box=self.boxes[i].copy(), score=float(self.scores[i]), keypoints=self.keypoints[i].copy())
            for i in range(len(self))
        ]

    @classmethod
    def from_detections(cls, detections: list[Detection]) -> DetectionArrays:
        if not detections:
            return cls(np.zeros((0, 4), np.float32), np.zeros((0, 0, 2), np.float32), np.zeros((0,), np.float32))
        return cls(
            np.stack([np.asarray(d.box, np.float32) for d in detections]),
            np.stack([np.asarray(d.keypoints, np.float32) for d in detections]),
            np.asarray([d.score for d in detections], np.float32),
        )


def sigmoid_scores(logits: np.ndarray, clip: float) -> np.ndarray:
    """(N,) sigmoid of the logits clipped to [-clip, clip], as MediaPipe's ``sigmoid_score``.

    Computed in float64 (exp(100) overflows float32) and returned as float32.
    """
    z = np.clip(np.asarray(logits, np.float64).reshape(-1), -clip, clip)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def decode_palm_tensors(
    regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, opts: PalmDecodeOptions | None = None
) -> DetectionArrays:
    """Decode one image's raw outputs and keep the boxes scoring at least ``min_score_thresh``.

    regressors: (A, 18) float (pixels of the 192 input), logits: (A, 1) or (A,), anchors: (A, 4) (xc, yc, w, h).
    Returns detections in anchor order, coordinates normalized to the (letterboxed) model input.
    Boxes with a negative width or height (a bad regression) are dropped, as MediaPipe does.
    """
    o = opts or PalmDecodeOptions()
    raw = regressors.astype(np.float32).reshape(len(anchors), -1)
    scores = sigmoid_scores(logits, o.score_clipping_thresh)
    keep = scores >= o.min_score_thresh
    raw, anc, scores = raw[keep], anchors[keep], scores[keep]
    b = o.box_coord_offset
    xc = raw[:, b] / o.x_scale * anc[:, 2] + anc[:, 0]
    yc = raw[:, b + 1] / o.y_scale * anc[:, 3] + anc[:, 1]
    w = raw[:, b + 2] / o.w_scale * anc[:, 2]
    h = raw[:, b + 3] / o.h_scale * anc[:, 3]
    boxes = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1).astype(np.float32)
    k = o.keypoint_coord_offset
    kp = raw[:, k : k + 2 * o.num_keypoints].reshape(-1, o.num_keypoints, 2)
    kx = kp[:, :, 0] / o.x_scale * anc[:, 2:3] + anc[:, 0:1]
    ky = kp[:, :, 1] / o.y_scale * anc[:, 3:4] + anc[:, 1:2]
    keypoints = np.stack([kx, ky], axis=2).astype(np.float32)
    valid = (w >= 0) & (h >= 0)
    return DetectionArrays(boxes[valid], keypoints[valid], scores[valid])


def remove_letterbox(dets: DetectionArrays, padding: np.ndarray) -> DetectionArrays:
    """Map detections from the letterboxed input back to the image (``DetectionLetterboxRemovalCalculator``).

    padding: (4,) fractions (left, top, right, bottom) of the model input that were padding.
    """
    left, top, right, bottom = (float(v) for v in padding)
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    offset = np.array([left, top], np.float32)
    scale = np.array([sx, sy], np.float32)
    boxes = ((dets.boxes.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
    keypoints = (dets.keypoints - offset) / scale
    return DetectionArrays(boxes.astype(np.float32), keypoints.astype(np.float32), dets.scores)
