"""``HandLandmarksSmoothing``: optional One-Euro smoothing of tracked hands (off in the shipped graph)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from graphflow import Calculator, Context, Input, Output, register_calculator

from .smoothing import LandmarkSmoother, OneEuroParams


@register_calculator("HandLandmarksSmoothing")
class HandLandmarksSmoothingCalculator(Calculator):
    """Smooths each hand's landmarks over time; a pass-through when ``enabled`` is false.

    Hands are matched to the previous frame's by nearest landmark centroid (within ``max_match_distance``,
    normalized); an unmatched hand starts a fresh filter, a lost hand's filter is dropped. World landmarks are not
    filtered.
    Inputs:  HANDS - list[HandLandmarks]
             IMAGE - np.ndarray (H, W, 3): only its size is used
    Outputs: HANDS_OUT - list[HandLandmarks] with smoothed ``landmarks``
    Options: enabled; min_cutoff, beta, derivate_cutoff - One-Euro constants; max_match_distance
    Example:
      - calculator: HandLandmarksSmoothing
        inputs: {HANDS: hands_raw, IMAGE: image}
        outputs: {HANDS_OUT: hands}
        options: {enabled: true}
    """

    HANDS = Input(list)
    IMAGE = Input(np.ndarray)
    HANDS_OUT = Output(list)

    @dataclass
    class Options:
        enabled: bool = False
        min_cutoff: float = 0.05
        beta: float = 80.0
        derivate_cutoff: float = 1.0
        max_match_distance: float = 0.2

    def open(self, ctx: Context) -> None:
        o = self.options
        self.params = OneEuroParams(o.min_cutoff, o.beta, o.derivate_cutoff)
        self.tracks: list[LandmarkSmoother] = []

    def process(self, ctx: Context) -> None:
        hands, image = ctx.get("HANDS"), ctx.get("IMAGE")
        if hands is None or image is None:
            return
        if not self.options.enabled:
            ctx.emit("HANDS_OUT", hands)
            return
        t = int(ctx.timestamp) / 1e6
        size = (image.shape[1], image.shape[0])
        free = list(self.tracks)
        kept: list[LandmarkSmoother] = []
        out = []
        for hand in hands:
            centre = np.asarray(hand.landmarks)[:, :2].mean(0)
            best, best_d = None, self.options.max_match_distance
            for track in free:
                c = track.center()
                d = float(np.linalg.norm(c - centre)) if c is not None else np.inf
                if d < best_d:
                    best, best_d = track, d
            if best is None:
                best = LandmarkSmoother(self.params, size)
            else:
                free.remove(best)
            kept.append(best)
            out.append(dataclasses.replace(hand, landmarks=best(hand.landmarks, t)))
        self.tracks = kept
        ctx.emit("HANDS_OUT", out)
