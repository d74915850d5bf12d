"""Weighted non-maximum suppression, as MediaPipe's ``NonMaxSuppressionCalculator`` with ``algorithm: WEIGHTED``.

Palm detection uses ``min_suppression_threshold 0.3, overlap_type INTERSECTION_OVER_UNION`` (palm_detection_cpu.pbtxt).
Repeat: take the best remaining detection, gather every remaining detection whose IoU with it is **above** the
threshold (itself included), and emit the score-weighted mean of their box corners and keypoints with the best
detection's own score (not an average). Unlike some ports, the score is never averaged.
"""

from __future__ import annotations

import numpy as np

from calculators.common.boxes import box_iou

from .palm_decode import DetectionArrays


def weighted_nms(
    dets: DetectionArrays, min_suppression_threshold: float = 0.3, max_num_detections: int = -1
) -> DetectionArrays:
    """Weighted NMS over a batch of detections; output is ordered by the kept (top) score, best first."""
    order = np.argsort(-dets.scores, kind="stable")
    boxes, kps, scores = dets.boxes[order], dets.keypoints[order], dets.scores[order]
    out_boxes, out_kps, out_scores = [], [], []
    remaining = np.arange(len(scores))
    while len(remaining) and (max_num_detections < 0 or len(out_scores) < max_num_detections):
        top = remaining[0]
        iou = box_iou(boxes[top][None], boxes[remaining])[0]
        members = remaining[iou > min_suppression_threshold]
        rest = remaining[~(iou > min_suppression_threshold)]
        if len(members):
            w = scores[members].astype(np.float32)
            total = w.sum()
            out_boxes.append((boxes[members] * w[:, None]).sum(0) / total)
            out_kps.append((kps[members] * w[:, None, None]).sum(0) / total)
        else:  # a degenerate box overlaps nothing, not even itself: keep it as is
            out_boxes.append(boxes[top])
            out_kps.append(kps[top])
        out_scores.append(scores[top])
        if len(rest) == len(remaining):
            break
        remaining = rest
    if not out_scores:
        return DetectionArrays(boxes[:0], kps[:0], scores[:0])
    return DetectionArrays(
        np.stack(out_boxes).astype(np.float32),
        np.stack(out_kps).astype(np.float32),
        np.asarray(out_scores, np.float32),
    )
