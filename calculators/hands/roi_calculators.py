"""Calculators of the hand-tracking loop: the palm-detection gate, palm -> ROI, landmarks -> ROI, association."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator

from .roi import associate_rects, landmarks_to_hand_roi, palm_to_hand_roi


@register_calculator("PalmDetectionGate")
class PalmDetectionGateCalculator(Calculator):
    """Lets a frame through to palm detection only while fewer than ``max_num_hands`` hands are tracked.

    MediaPipe's ``NormalizedRectVectorHasMinSizeCalculator`` + ``GateCalculator`` pair (hand_landmark_tracking_cpu).
    In static mode the previous frame's ROIs are ignored, so every frame is detected from scratch.
    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
             PREV_ROIS - list[NormalizedRect] (optional): last frame's ROIs from landmarks (empty on frame one)
    Outputs: PALM_IMAGE - np.ndarray: the image, only on frames that need palm detection
             TRACKED_ROIS - list[NormalizedRect]: the ROIs to track from (always; empty in static mode)
             TRACK_ROIS, TRACK_PALMS - (optional) the same ROIs and a None palm for each, only on frames that have
                 some: the input of the landmark pass that runs while the palm detector works (hand_tracking.yaml)
             TRACK_IMAGE - np.ndarray (optional): the image, on those same frames. Emitted after PALM_IMAGE, so a
                 landmark pass that reads its image from here becomes ready only after the palm branch does, and
                 the palm detector's call is started before the landmark crop is made (an executor runs ready nodes
                 in the order they became ready; reading the graph's input image instead, that pass would be
                 queued when the frame arrives, ahead of the palm branch, and the two calls would not overlap)
    Options: max_num_hands - hands to track; static_image_mode - never track
    Example:
      - calculator: PalmDetectionGate
        inputs: {IMAGE: image, PREV_ROIS: prev_hand_rois}
        outputs: {PALM_IMAGE: palm_image, TRACKED_ROIS: tracked_rois}
        options: {max_num_hands: 2, static_image_mode: false}
    """

    IMAGE = Input(np.ndarray)
    PREV_ROIS = Input(list, optional=True)
    PALM_IMAGE = Output(np.ndarray)
    TRACKED_ROIS = Output(list)
    TRACK_ROIS = Output(list)
    TRACK_PALMS = Output(list)
    TRACK_IMAGE = Output(np.ndarray)

    @dataclass
    class Options:
        max_num_hands: int = 2
        static_image_mode: bool = False

        def __post_init__(self) -> None:
            if self.max_num_hands < 1:
                raise ValueError(f"option 'max_num_hands' must be at least 1, got {self.max_num_hands}")

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        tracked = [] if self.options.static_image_mode else list(ctx.get("PREV_ROIS") or [])
        if len(tracked) < self.options.max_num_hands:
            ctx.emit("PALM_IMAGE", image)
        else:
            ctx.count("palm_detection_skipped")
        ctx.emit("TRACKED_ROIS", tracked)
        if tracked:
            ctx.emit("TRACK_ROIS", tracked)
            ctx.emit("TRACK_PALMS", [None] * len(tracked))
            ctx.emit("TRACK_IMAGE", image)


@register_calculator("PalmDetectionsToRois")
class PalmDetectionsToRoisCalculator(Calculator):
    """Palm detections -> hand ROIs: rotated so wrist -> middle MCP points up, enlarged 2.6x, shifted to the fingers.

    Inputs:  DETECTIONS - list[Detection] normalized
             IMAGE - np.ndarray (H, W, 3): only its size is used (rotation is computed in pixels)
    Outputs: ROIS - list[NormalizedRect], one per detection, same order
    Example:
      - calculator: PalmDetectionsToRois
        inputs: {DETECTIONS: palm_detections, IMAGE: image}
        outputs: {ROIS: hand_rois_from_palms}
    """

    DETECTIONS = Input(list)
    IMAGE = Input(np.ndarray)
    ROIS = Output(list)

    def process(self, ctx: Context) -> None:
        detections, image = ctx.get("DETECTIONS"), ctx.get("IMAGE")
        if detections is None or image is None:
            return
        h, w = image.shape[:2]
        ctx.emit("ROIS", [palm_to_hand_roi(d, w, h) for d in detections])


@register_calculator("HandLandmarksToRois")
class HandLandmarksToRoisCalculator(Calculator):
    """Each hand's landmarks -> the ROI to look for it in the next frame (12 stable points, 2x, shifted).

    Inputs:  HANDS - list[HandLandmarks]
             IMAGE - np.ndarray (H, W, 3): only its size is used
    Outputs: ROIS - list[NormalizedRect], one per hand
    Example:
      - calculator: HandLandmarksToRois
        inputs: {HANDS: hands, IMAGE: image}
        outputs: {ROIS: hand_rois_from_landmarks}
    """

    HANDS = Input(list)
    IMAGE = Input(np.ndarray)
    ROIS = Output(list)

    def process(self, ctx: Context) -> None:
        hands, image = ctx.get("HANDS"), ctx.get("IMAGE")
        if hands is None or image is None:
            return
        h, w = image.shape[:2]
        ctx.emit("ROIS", [landmarks_to_hand_roi(hand.landmarks, w, h) for hand in hands])


@register_calculator("AssociateHandRois")
class AssociateHandRoisCalculator(Calculator):
    """Merges fresh palm ROIs with tracked ROIs, removing overlaps (MediaPipe's ``AssociationNormRectCalculator``).

    Rects are taken in order (palm ROIs, then tracked ROIs); each one evicts every kept rect whose axis-aligned IoU
    with it exceeds ``min_similarity_threshold``, so a tracked hand wins over a palm detection of the same hand.
    Inputs:  PALM_ROIS - list[NormalizedRect] (optional: absent when palm detection did not run)
             PALMS - list[Detection] (optional): the detections behind PALM_ROIS, same order
             TRACKED_ROIS - list[NormalizedRect] (optional)
    Outputs: ROIS - list[NormalizedRect]: the hands to run the landmark model on
             ROI_PALMS - list[Detection | None]: for each ROI, its palm detection (None when tracked)
             NEW_ROIS, NEW_ROI_PALMS - (optional) the kept ROIs that came from palm detections and their palms,
                 only on frames that have some: what is left for the landmark model when the tracked ROIs
                 already had their pass (hand_tracking.yaml)
    Options: min_similarity_threshold - IoU above which two ROIs are the same hand (0.5)
    Example:
      - calculator: AssociateHandRois
        inputs: {PALM_ROIS: hand_rois_from_palms, PALMS: palm_detections, TRACKED_ROIS: tracked_rois}
        outputs: {ROIS: hand_rois, ROI_PALMS: hand_roi_palms}
    """

    PALM_ROIS = Input(list, optional=True)
    PALMS = Input(list, optional=True)
    TRACKED_ROIS = Input(list, optional=True)
    ROIS = Output(list)
    ROI_PALMS = Output(list)
    NEW_ROIS = Output(list)
    NEW_ROI_PALMS = Output(list)

    @dataclass
    class Options:
        min_similarity_threshold: float = 0.5

    def process(self, ctx: Context) -> None:
        palm_rois = list(ctx.get("PALM_ROIS") or [])
        palms = list(ctx.get("PALMS") or [None] * len(palm_rois))
        tracked = list(ctx.get("TRACKED_ROIS") or [])
        if len(palms) != len(palm_rois):
            raise ValueError(f"{len(palm_rois)} palm ROIs but {len(palms)} palm detections")
        kept = associate_rects([palm_rois, tracked], self.options.min_similarity_threshold)
        ctx.count("rois_merged", len(palm_rois) + len(tracked) - len(kept))
        rects = palm_rois + tracked
        sources = palms + [None] * len(tracked)
        ctx.emit("ROIS", [rects[i] for i in kept])
        ctx.emit("ROI_PALMS", [sources[i] for i in kept])
        new = [i for i in kept if i < len(palm_rois)]
        if new:
            ctx.emit("NEW_ROIS", [rects[i] for i in new])
            ctx.emit("NEW_ROI_PALMS", [sources[i] for i in new])


@register_calculator("MergeHandPasses")
class MergeHandPassesCalculator(Calculator):
    """The hands of the two landmark passes (tracked ROIs, new palm ROIs) in the order of the associated ROIs.

    Each hand is matched to its ROI through ``hand.roi``; an ROI whose crop held no hand (presence below the
    threshold) gives none, and a tracked ROI that association dropped contributes nothing. The result is the list
    one landmark pass over ``ROIS`` gives.
    Inputs:  ROIS - list[NormalizedRect]: the associated ROIs (``AssociateHandRois`` ROIS)
             TRACKED_HANDS - list[HandLandmarks] (optional): the pass over the tracked ROIs
             NEW_HANDS - list[HandLandmarks] (optional): the pass over the new palm ROIs
    Outputs: HANDS - list[HandLandmarks]
    Example:
      - calculator: MergeHandPasses
        inputs: {ROIS: hand_rois, TRACKED_HANDS: tracked_pass_hands, NEW_HANDS: new_pass_hands}
        outputs: {HANDS: tracked_hands}
    """

    ROIS = Input(list)
    TRACKED_HANDS = Input(list, optional=True)
    NEW_HANDS = Input(list, optional=True)
    HANDS = Output(list)

    def process(self, ctx: Context) -> None:
        rois = ctx.get("ROIS")
        if rois is None:
            return
        found = list(ctx.get("TRACKED_HANDS") or []) + list(ctx.get("NEW_HANDS") or [])
        hands = []
        for roi in rois:
            hand = next((h for h in found if h.roi is roi), None) or next((h for h in found if h.roi == roi), None)
            if hand is not None:
                hands.append(hand)
        ctx.emit("HANDS", hands)
