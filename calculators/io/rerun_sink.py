"""RerunSink: logs frames and results to the Rerun viewer (optional: ``pip install -e .[rerun]``).

Everything is logged in the image's pixel space under ``camera/image`` so the viewer overlays it on the frame;
world landmarks go to ``hands/<i>/world`` in metres (a 3D view). Time is the packet timestamp on the timeline
"time" (a duration in seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calculators.types import Instances
from graphflow import Context, Input, register_calculator

from .drawing import FINGER_COLORS, PALM_COLOR, ROI_COLOR, hand_connections, heat_colormap, instance_color
from .result_ports import RESULT_TAGS, ResultInputs


def _bone_strips(points: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, int, int]]]:
    """One 2-point strip per bone, with its finger colour."""
    strips, colors = [], []
    for a, b, group in hand_connections():
        strips.append(points[[a, b]])
        colors.append(FINGER_COLORS[group])
    return strips, colors


@register_calculator("RerunSink")
class RerunSinkCalculator(ResultInputs):
    """Sends every input it gets to a Rerun recording: a spawned viewer, a running viewer, or an .rrd file.

    Inputs (all optional; connect at least one, checked at validation):
      IMAGE - np.ndarray (H, W, 3) uint8 RGB, logged as camera/image (JPEG-compressed when jpeg_quality > 0)
      HANDS - list[HandLandmarks]: camera/image/hands/<i> (2D points + bones), hands/<i>/world (3D, metres)
      PALMS - list[Detection]: camera/image/palms (boxes); ROIS - list[NormalizedRect]: camera/image/rois
      INSTANCES - Instances: camera/image/instances (boxes with labels) and .../masks (segmentation image)
      CAM - ClassActivation: camera/image/cam (the top map as a translucent heat map)
      CLASSES - list[Classification]: classes (a text log line per frame)
    Options: application_id; save (an .rrd path; wins over the others), connect (a viewer's gRPC URL),
      otherwise a viewer is spawned; jpeg_quality (0 = raw frames); mask_threshold.
    Example:
      - calculator: RerunSink
        inputs: {IMAGE: image, HANDS: hands}
        options: {save: hands.rrd}
    """

    IMAGE = Input(np.ndarray, optional=True)
    connect_at_least_one = ("IMAGE", *RESULT_TAGS)  # with none connected it would run as a source

    @dataclass
    class Options:
        application_id: str = "graphflow"
        save: str = ""
        connect: str = ""
        jpeg_quality: int = 0
        mask_threshold: float = 0.5

    def open(self, ctx: Context) -> None:
        try:
            import rerun as rr
        except ImportError as exc:
            raise ImportError(
                "RerunSink needs the optional package rerun-sdk: pip install -e '.[rerun]' (or pip install rerun-sdk)"
            ) from exc
        self.rr = rr
        self.rec = rr.RecordingStream(self.options.application_id)
        if self.options.save:
            self.rec.save(self.options.save)
        elif self.options.connect:
            self.rec.connect_grpc(self.options.connect)
        else:
            self.rec.spawn()
        self._size: tuple[int, int] | None = None  # (H, W) of the last image

    def process(self, ctx: Context) -> None:
        rr, rec = self.rr, self.rec
        rec.set_time("time", duration=int(ctx.timestamp) / 1e6)
        image = ctx.get("IMAGE")
        if image is not None:
            self._size = image.shape[:2]
            logged: Any = rr.Image(image)
            if self.options.jpeg_quality > 0:
                logged = logged.compress(jpeg_quality=self.options.jpeg_quality)
            rec.log("camera/image", logged)
        if self._size is None:
            ctx.count("skipped_before_first_image")
            return
        h, w = self._size
        scale = np.array([w, h], np.float64)
        for i, hand in enumerate(ctx.get("HANDS") or []):
            pts = np.asarray(hand.landmarks, np.float64)[:, :2] * scale
            strips, colors = _bone_strips(pts)
            label = f"{hand.handedness} {hand.handedness_score:.2f}"
            rec.log(f"camera/image/hands/{i}/points", rr.Points2D(pts, radii=3.0, keypoint_ids=np.arange(len(pts))))
            rec.log(f"camera/image/hands/{i}/bones", rr.LineStrips2D(strips, colors=colors, labels=label))
            world = np.asarray(hand.world_landmarks, np.float64)
            wstrips, _ = _bone_strips(world)
            rec.log(f"hands/{i}/world", rr.Points3D(world, radii=0.004))
            rec.log(f"hands/{i}/world/bones", rr.LineStrips3D(wstrips, colors=colors))
        palms = ctx.get("PALMS")
        if palms is not None:
            boxes = np.asarray([np.asarray(p.box, np.float64) for p in palms]).reshape(-1, 4) * np.tile(scale, 2)
            rec.log("camera/image/palms", rr.Boxes2D(array=boxes, array_format=rr.Box2DFormat.XYXY,
                                                      colors=PALM_COLOR, labels=[f"{p.score:.2f}" for p in palms]))
        rois = ctx.get("ROIS")
        if rois is not None:
            polys = [np.vstack([c, c[:1]]) for c in (r.corners(w, h) for r in rois)]
            rec.log("camera/image/rois", rr.LineStrips2D(polys, colors=ROI_COLOR))
        inst = ctx.get("INSTANCES")
        if inst is not None:
            self._log_instances(inst, h, w)
        cam = ctx.get("CAM")
        if cam is not None and len(cam.cams):
            heat = np.clip(np.round(np.asarray(cam.cams[0]) * 255), 0, 255).astype(np.uint8)
            rec.log("camera/image/cam", rr.Image(heat_colormap()[heat], opacity=0.45))
        classes = ctx.get("CLASSES")
        if classes:
            rec.log("classes", rr.TextLog(", ".join(f"{c.name} {c.score:.2f}" for c in classes)))
        ctx.count("frames_logged")

    def _log_instances(self, inst: Instances, h: int, w: int) -> None:
        rr, rec = self.rr, self.rec
        ih, iw = inst.image_size if inst.image_size != (0, 0) else (h, w)
        boxes = np.asarray(inst.boxes, np.float64).reshape(-1, 4) * np.array([w / iw, h / ih, w / iw, h / ih])
        labels = [f"{n} {s:.2f}" for n, s in zip(inst.label_names(), inst.scores, strict=True)]
        colors = [instance_color(i) for i in range(len(inst))]
        rec.log("camera/image/instances", rr.Boxes2D(array=boxes, array_format=rr.Box2DFormat.XYXY, colors=colors,
                                                     labels=labels))
        if inst.masks is not None and len(inst) and inst.masks.shape[1:] == (h, w):
            ids = np.zeros((h, w), np.uint16)
            for i in range(len(inst)):  # later instances on top, ids 1..N (0 = background)
                ids[np.asarray(inst.masks[i]) > self.options.mask_threshold] = i + 1
            rec.log("camera/image/instances/masks", rr.SegmentationImage(ids, opacity=0.5))

    def close(self, ctx: Context) -> None:
        self.rec.flush()
        self.rec.disconnect()
