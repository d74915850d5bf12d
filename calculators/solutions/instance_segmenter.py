"""``InstanceSegmenter``: Mask R-CNN instance segmentation of single images, behind a small API.

    from calculators.solutions import InstanceSegmenter

    with InstanceSegmenter(checkpoint="shapes", score_threshold=0.5) as segmenter:
        instances = segmenter.process(rgb_uint8_image)   # calculators.types.Instances
        instances.boxes, instances.labels, instances.scores, instances.masks

It runs a one-node graph (the ``MaskRcnn`` calculator of ``graphs/mask_rcnn.yaml``) whose detector is loaded here
and handed to the node as the ``model`` side packet, so ``.model`` is the very ``nn.Module`` that runs.

``process`` may be called from several threads (calls are serialised, each gets its own image's result); a bad
image is a ``ValueError`` before the graph sees it; after any failure the next call runs on a fresh graph; an
instance dropped without ``close()`` is cleaned up by the garbage collector (see ``session.py``).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from torch import nn

from calculators.common.image_checks import check_rgb_image
from calculators.maskrcnn.shapes_model import load_detector
from calculators.types import Instances
from graphflow.graph import Graph
from graphflow.poller import OutputPoller

from .session import GraphSession

# One node: the detector comes in as a side packet (built by the caller) so its module stays reachable.
_GRAPH = """
input_streams: [image]
output_streams: [instances]
input_side_packets: [model]
options: {score_threshold: 0.5, max_detections: 100, class_names: []}
nodes:
  # Mask R-CNN on each image; the detector is the solution's own module (side packet), not reloaded by the node.
  - name: mask_rcnn
    calculator: MaskRcnn
    inputs: {IMAGE: image}
    outputs: {INSTANCES: instances}
    side_inputs: {MODEL: model}
    options: {score_threshold: $score_threshold, max_detections: $max_detections, class_names: $class_names}
"""


class InstanceSegmenter:
    """Segments the instances of one image per ``process`` call. Call ``close()`` (or use ``with``) when done.

    checkpoint: "shapes" (the committed synthetic-shapes model), a path to one of our checkpoints, or a torchvision
        ``maskrcnn_resnet50_fpn`` state-dict file.
    score_threshold, max_detections: as the ``MaskRcnn`` node's options.
    input_size: the detector's resize target (0 = the checkpoint's own).
    """

    def __init__(
        self,
        checkpoint: str | Path = "shapes",
        score_threshold: float = 0.5,
        max_detections: int = 100,
        input_size: int = 0,
        *,
        model: nn.Module | None = None,
        class_names: tuple[str, ...] = (),
    ) -> None:
        if model is None:
            overrides: dict[str, Any] = {"box_score_thresh": score_threshold, "box_detections_per_img": max_detections}
            if input_size:
                overrides.update(min_size=input_size, max_size=round(input_size * 1333 / 800))
            model, loaded_names = load_detector(checkpoint, **overrides)
            class_names = class_names or loaded_names
        self._model = model.eval()
        self.class_names = tuple(class_names)
        options = {"score_threshold": score_threshold, "max_detections": max_detections,
                   "class_names": list(self.class_names)}
        detector = self._model

        def build() -> tuple[Graph, OutputPoller]:  # holds the settings only, never ``self`` (see session.py)
            graph = Graph.from_yaml(_GRAPH, **options)
            poller = graph.poller("instances")
            graph.start(side_packets={"model": detector})
            return graph, poller

        self._session = GraphSession(self, "InstanceSegmenter", build)
        self._timestamp = 0

    @classmethod
    def from_torchvision_checkpoint(cls, path: str | Path, **options: Any) -> InstanceSegmenter:
        """A segmenter over a torchvision ``maskrcnn_resnet50_fpn`` state dict (e.g. the COCO weights)."""
        return cls(checkpoint=path, **options)

    @property
    def model(self) -> nn.Module:
        """The detector (``calculators.maskrcnn.model.MaskRCNN``) the graph runs."""
        return self._model

    def process(self, image: np.ndarray, timeout: float = 600.0) -> Instances:
        """(H, W, 3) uint8 RGB -> Instances (boxes (N, 4) px x1 y1 x2 y2, labels, scores, masks (N, H, W) probs)."""
        check_rgb_image(image, "InstanceSegmenter.process()")

        def one(graph: Graph, poller: OutputPoller) -> Instances:
            self._timestamp += 1  # a sequence number: single images have no capture time
            ts = self._timestamp
            graph.add_packet("image", image, ts)
            packet = poller.next(timeout)  # GraphTimeoutError after ``timeout``; the node's error if it failed
            if packet is None or int(packet.timestamp) != ts:
                raise RuntimeError(f"{graph!r} gave {packet!r} for frame {ts}")
            return packet.payload

        return self._session.call(one)

    def close(self, *, quiet: bool = False) -> None:
        """Finish the graph (idempotent); ``quiet`` swallows its error."""
        self._session.close(quiet=quiet)

    def __enter__(self) -> InstanceSegmenter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(quiet=exc_type is not None)
