"""The Mask R-CNN node: an RGB frame in, one ``Instances`` container (boxes, labels, scores, masks) out.

Pre- and post-processing are the pure functions ``rgb_to_detector_input`` and ``detections_to_instances``; the node only
loads the detector in ``open`` and wires its ports to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from calculators.common.image_checks import check_rgb_image
from calculators.common.torch_threads import request_torch_threads
from calculators.maskrcnn.shapes_model import load_detector
from calculators.types import Instances
from graphflow import Calculator, Context, Input, Output, SideInput, register_calculator
from graphflow.errors import ConfigError


def rgb_to_detector_input(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1], the whole frame as the detector takes it (no resize:
    the detector resizes and normalises itself; the hands' ``image_to_tensor`` crops an ROI into a fixed size)."""
    check_rgb_image(image)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def detections_to_instances(
    detections: dict[str, torch.Tensor],
    image_size: tuple[int, int],
    score_threshold: float = 0.0,
    max_detections: int = 100,
    class_names: Sequence[str] = (),
) -> Instances:
    """The detector's output dict for one image -> ``Instances``, best first, at most ``max_detections``.

    detections: boxes (N, 4) pixels x1 y1 x2 y2, labels (N,), scores (N,), masks (N, 1, H, W) probabilities.
    """
    scores = detections["scores"].detach().float().cpu().numpy()
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= score_threshold][:max_detections]
    masks = detections["masks"].detach().float().cpu().numpy()
    if masks.ndim == 4:
        masks = masks[:, 0]  # (N, 1, H, W) -> (N, H, W)
    return Instances(
        boxes=detections["boxes"].detach().float().cpu().numpy()[order].astype(np.float32),
        labels=detections["labels"].detach().cpu().numpy()[order].astype(np.int64),
        scores=scores[order].astype(np.float32),
        masks=masks[order].astype(np.float32).reshape(len(order), *image_size),
        class_names=tuple(class_names),
        image_size=image_size,
    )


@register_calculator("MaskRcnn")
class MaskRcnnCalculator(Calculator):
    """Instance segmentation with Mask R-CNN (He et al. 2017): boxes, classes, scores and per-instance masks.

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Outputs: INSTANCES - calculators.types.Instances: boxes (N, 4) float pixels x1 y1 x2 y2 in the input image,
             labels (N,) int64, scores (N,) float32, masks (N, H, W) float32 probabilities at the input's resolution;
             best score first. Emitted for every frame, empty (N = 0) when nothing passes the threshold.
    Side inputs: MODEL (optional) - a loaded ``MaskRCNN`` to share between nodes or with a caller; when given,
             ``checkpoint`` and ``input_size`` are ignored (the model keeps its own configuration).
    Options:
      checkpoint - "shapes" (the committed synthetic-shapes model), a path to one of our checkpoints
                   (``tools/train_shapes.py``), or a torchvision ``maskrcnn_resnet50_fpn`` state-dict file.
      score_threshold - drop instances scoring below it (also the detector's own box score threshold).
      max_detections - keep at most this many instances per frame.
      input_size - the detector's resize target (shorter side, longer side capped at ``input_size * 1333 / 800``);
                   0 keeps the checkpoint's own size (128 for "shapes", 800 for torchvision's).
      class_names - overrides the checkpoint's class names (index = label); empty keeps them.
      num_threads - torch intra-op threads (process-wide; calculators.common.torch_threads: the largest request
        of the open nodes wins); 0 leaves torch's setting alone.
    Example:
      - calculator: MaskRcnn
        inputs: {IMAGE: image}
        outputs: {INSTANCES: instances}
        options: {checkpoint: shapes, score_threshold: 0.5, max_detections: 20}
    """

    IMAGE = Input(np.ndarray, doc="(H, W, 3) uint8 RGB frame")
    MODEL = SideInput(nn.Module, optional=True, doc="a loaded MaskRCNN (overrides checkpoint)")
    INSTANCES = Output(Instances, doc="all instances of the frame, one container")

    @dataclass
    class Options:
        checkpoint: str = "shapes"
        score_threshold: float = 0.5
        max_detections: int = 100
        input_size: int = 0
        class_names: tuple[str, ...] = ()
        num_threads: int = 0

    def open(self, ctx: Context) -> None:
        opts = self.options
        if not 0.0 <= opts.score_threshold <= 1.0:
            raise ConfigError(f"score_threshold must be in [0, 1], got {opts.score_threshold}")
        if opts.max_detections < 1:
            raise ConfigError(f"max_detections must be >= 1, got {opts.max_detections}")
        if opts.input_size < 0:
            raise ConfigError(f"input_size must be >= 0 (0 = the checkpoint's), got {opts.input_size}")
        request_torch_threads(self, opts.num_threads, "MaskRCNN")
        shared = ctx.side("MODEL")
        if shared is not None:
            self.model: nn.Module = shared.eval()
            self.class_names: tuple[str, ...] = ()
        else:
            overrides: dict[str, Any] = {
                "box_score_thresh": opts.score_threshold,
                "box_detections_per_img": opts.max_detections,
            }
            if opts.input_size:
                overrides.update(min_size=opts.input_size, max_size=round(opts.input_size * 1333 / 800))
            self.model, self.class_names = load_detector(opts.checkpoint, **overrides)
        if opts.class_names:
            self.class_names = tuple(opts.class_names)

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        with torch.inference_mode():
            detections = self.model([rgb_to_detector_input(image)])[0]
        instances = detections_to_instances(
            detections,
            image.shape[:2],
            self.options.score_threshold,
            self.options.max_detections,
            self.class_names,
        )
        ctx.count("instances", len(instances))
        ctx.emit("INSTANCES", instances)
