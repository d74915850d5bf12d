"""``ClassActivation``: class activation maps of single images, through ``graphs/cam.yaml`` run by the engine.

    from calculators.solutions import ClassActivation

    with ClassActivation(top_k=5) as cam:
        result = cam.process(rgb_uint8_image)             # the top-5 classes
        result.classes                                    # [(281, "tabby", 0.61), ...], best first
        result.cams[0], result.boxes[0]                   # (H, W) map in [0, 1], [x1, y1, x2, y2] pixels
        known = cam.process(rgb_uint8_image, classes=[281, 285])   # maps of these classes (GT-known)

The graph is ``graphs/cam.yaml`` with its ``ClassActivationMap`` node's per-frame ``CLASSES`` input wired to a
second input stream (empty list = top-k) and the renderer left out: one graph and one model for every call.

``process`` may be called from several threads (calls are serialised, each gets its own image's result); a bad
image is a ``ValueError`` before the graph sees it; after any failure the next call runs on a fresh graph; an
instance dropped without ``close()`` is cleaned up by the garbage collector (see ``session.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from calculators.common.image_checks import check_rgb_image
from calculators.types import ClassActivation as ClassActivationPayload
from graphflow import Graph
from graphflow.poller import OutputPoller

from .session import GraphSession

CAM_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "cam.yaml"
FRAME_STEP_US = 1  # images are independent: timestamps only need to increase


@dataclass(frozen=True)
class ClassActivationResult:
    """One image's answer. K = number of mapped classes.

    classes: [(ImageNet index, name, score)], best first (top-k) or in the requested order.
    logits: (1000,) float32. cams: (K, H, W) float32 in [0, 1] at the image's resolution.
    boxes: (K, 4) float32 pixels [x1, y1, x2, y2], one per map (the node's defaults, ``CamSettings``: pixels >= 25% of
        the raw map's max, the box around every connected component of at least 20% of the largest one's area).
    activation: the graph's full payload (also holds the raw maps at feature resolution, ``cams_raw``: (K, 12, 12)
        at the default input size of 384).
    """

    classes: list[tuple[int, str, float]]
    logits: np.ndarray
    cams: np.ndarray
    boxes: np.ndarray
    activation: ClassActivationPayload


def api_graph_config(graph_path: Path = CAM_GRAPH) -> dict[str, Any]:
    """graphs/cam.yaml as a dict, with the CAM node's CLASSES input on a new ``classes`` stream, no renderer."""
    config = yaml.safe_load(graph_path.read_text())
    cam_nodes = [node for node in config["nodes"] if node.get("calculator") == "ClassActivationMap"]
    if len(cam_nodes) != 1:
        raise ValueError(f"{graph_path}: expected one ClassActivationMap node, found {len(cam_nodes)}")
    node = cam_nodes[0]
    node["inputs"] = {**node["inputs"], "CLASSES": "classes"}
    node["outputs"] = {"CAM": "cam"}
    config["input_streams"] = ["image", "classes"]
    config["output_streams"] = ["cam"]
    config["nodes"] = [node]
    return config


class ClassActivation:
    """The CAM graph behind a synchronous ``process`` (one image in, its maps out); a context manager.

    top_k: classes mapped when ``process`` gets no ``classes``. grad_cam_layer: a submodule path of the network for
    Grad-CAM instead of CAM. crop: "full" (whole image) or "center" (TF reference centre crop). timeout: seconds to
    wait for one image's result.
    """

    def __init__(self, top_k: int = 5, grad_cam_layer: str = "", crop: str = "full", timeout: float = 60.0) -> None:
        self.timeout = timeout
        config = api_graph_config()
        options = {"top_k": top_k, "grad_cam_layer": grad_cam_layer, "crop": crop}

        def build() -> tuple[Graph, OutputPoller]:  # holds the settings only, never ``self`` (see session.py)
            graph = Graph.from_yaml(config, **options)
            poller = graph.poller("cam")
            graph.start()
            return graph, poller

        self._session = GraphSession(self, "ClassActivation", build)
        self._timestamp = 0

    def __enter__(self) -> ClassActivation:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(quiet=exc_type is not None)

    def close(self, *, quiet: bool = False) -> None:
        """Stop the graph (closes the CAM node, which removes any forward hook). Idempotent."""
        self._session.close(quiet=quiet)

    def process(self, image: np.ndarray, classes: Sequence[int] | None = None) -> ClassActivationResult:
        """image: (H, W, 3) uint8 RGB. classes: ImageNet indices to map instead of the top-k."""
        check_rgb_image(image, "ClassActivation.process()")
        wanted = [int(c) for c in classes] if classes is not None else []

        def one(graph: Graph, poller: OutputPoller) -> ClassActivationPayload:
            ts = self._timestamp
            self._timestamp += FRAME_STEP_US
            graph.add_packet("classes", wanted, ts)
            graph.add_packet("image", image, ts)
            packet = poller.next(timeout=self.timeout)
            if packet is None or int(packet.timestamp) != ts:
                raise RuntimeError(f"the CAM graph gave {packet!r} for the image at {ts}")
            return packet.payload

        a = self._session.call(one)
        return ClassActivationResult(
            classes=[(c.index, c.name, c.score) for c in a.classes], logits=a.logits, cams=a.cams, boxes=a.boxes,
            activation=a,
        )
