"""``Hands``: MediaPipe-style hand tracking for people leaving ``mediapipe.solutions.hands``.

    from calculators.solutions import Hands

    with Hands(max_num_hands=2, model_complexity=1) as hands:
        for rgb in frames:                      # (H, W, 3) uint8 RGB
            result = hands.process(rgb)
            for hand in result.hands:
                hand.landmarks                  # (21, 3): x, y normalized to the image, z as MediaPipe's
                hand.world_landmarks            # (21, 3) metres
                hand.handedness.label, hand.handedness.score   # "Left"/"Right"
                hand.palm_detection, hand.roi   # the palm it was found from (None when tracked), its crop ROI

The options mean what they mean in MediaPipe 0.10.21, so results compare one to one:
``static_image_mode`` (detect on every image, no tracking), ``max_num_hands``, ``model_complexity`` (0: lite models,
1: full), ``min_detection_confidence`` (palm detector score threshold), ``min_tracking_confidence`` (hand presence
threshold, which also applies in static mode). ``mirrored_input=True`` keeps MediaPipe's handedness convention (the
image is assumed to come from a selfie camera, i.e. mirrored); pass False for a non-mirrored camera to get the
anatomical hand. Extras: ``smooth_landmarks`` (One-Euro, off as in MediaPipe), ``backend`` (who runs the two
networks: ``"openvino"``, the default and the fastest, ``"onnxruntime"``, or ``"torch"``, the reference; see
``calculators/hands/backends.py``), ``num_threads`` (threads of each network; MediaPipe uses one) and
``precision`` (``"f32"``, or ``"bf16"`` on OpenVINO with a CPU that has bf16 units: faster, less exact).

This is a thin facade: every call feeds one frame to ``graphs/hand_tracking.yaml`` run by the engine (inline
executor, so the work happens in the calling thread) and collects that frame's outputs. ``process`` may be called
from several threads (calls are serialised, each gets its own frame's result; tracking follows the order of the
calls); a bad image is a ``ValueError`` before the graph sees it; after any failure the next call runs on a fresh
graph (tracking starts over); an instance dropped without ``close()`` is cleaned up by the garbage collector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calculators.common.image_checks import check_rgb_image
from calculators.hands.backends import DEFAULT_BACKEND, DEFAULT_PRECISION, check_backend, check_precision
from calculators.types import Detection, HandLandmarks, NormalizedRect
from graphflow import Graph, Packet
from graphflow.poller import OutputPoller

from .session import GraphSession, RequestError

HAND_TRACKING_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "hand_tracking.yaml"
RESULT_TIMEOUT_S = 60.0


SIDE_STREAMS = ("palm_detections", "hand_rois")  # per-frame outputs collected next to ``hands``


@dataclass
class _Outputs:
    """What one hand-tracking graph gives a ``process`` call: the hands poller and the side streams' payloads by
    timestamp (filled by observers during the call, on the calling thread: inline executor)."""

    hands: OutputPoller
    seen: dict[str, dict[int, Any]]
    last_ts: int = -1


def _keep(store: dict[int, Any], packet: Packet) -> None:
    store[int(packet.timestamp)] = packet.payload


@dataclass(frozen=True)
class Handedness:
    """Which hand, as a label ("Left" or "Right") and the classifier's confidence in it."""

    label: str
    score: float


@dataclass(frozen=True)
class Hand:
    """One hand of one frame.

    landmarks: (21, 3) float32, x and y normalized to the image width/height, z relative depth scaled like x.
    world_landmarks: (21, 3) float32 metres around the hand's centre.
    palm_detection: the palm detection the hand was found from, None when it was tracked from the last frame.
    roi: the rotated rectangle the landmark model looked at. presence: hand presence score. gesture: its name.
    """

    landmarks: np.ndarray
    world_landmarks: np.ndarray
    handedness: Handedness
    palm_detection: Detection | None
    roi: NormalizedRect
    presence: float
    gesture: str

    @classmethod
    def from_payload(cls, h: HandLandmarks) -> Hand:
        return cls(
            landmarks=h.landmarks,
            world_landmarks=h.world_landmarks,
            handedness=Handedness(h.handedness, h.handedness_score),
            palm_detection=h.palm,
            roi=h.roi,
            presence=h.presence,
            gesture=h.gesture,
        )


@dataclass(frozen=True)
class HandsResult:
    """Everything the graph said about one frame.

    hands: one entry per hand found, in the graph's order (palm-detected first, then tracked).
    palm_detections: this frame's palm detections (empty when the detector did not run: enough hands tracked).
    hand_rois: the ROIs the landmark model ran on (including ROIs where no hand was confirmed).
    timestamp_us: the frame's timestamp.
    """

    hands: list[Hand] = field(default_factory=list)
    palm_detections: list[Detection] = field(default_factory=list)
    hand_rois: list[NormalizedRect] = field(default_factory=list)
    timestamp_us: int = 0


class Hands:
    """Hand tracking on RGB frames through ``graphs/hand_tracking.yaml``; a context manager."""

    def __init__(
        self,
        static_image_mode: bool = False,
        max_num_hands: int = 2,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        mirrored_input: bool = True,
        *,
        smooth_landmarks: bool = False,
        backend: str = DEFAULT_BACKEND,
        num_threads: int = 1,
        precision: str = DEFAULT_PRECISION,
        graph_path: str | Path = HAND_TRACKING_GRAPH,
    ) -> None:
        if model_complexity not in (0, 1):
            raise ValueError(f"model_complexity must be 0 or 1, got {model_complexity}")
        check_backend(backend)
        check_precision(precision, backend)
        if max_num_hands < 1:
            raise ValueError(f"max_num_hands must be at least 1, got {max_num_hands}")
        for name, value in (("min_detection_confidence", min_detection_confidence),
                            ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.options: dict[str, Any] = {
            "static_image_mode": bool(static_image_mode),
            "max_num_hands": int(max_num_hands),
            "model_complexity": int(model_complexity),
            "min_detection_confidence": float(min_detection_confidence),
            "min_tracking_confidence": float(min_tracking_confidence),
            "mirrored_input": bool(mirrored_input),
            "smooth_landmarks": bool(smooth_landmarks),
            "backend": backend,
            "num_threads": int(num_threads),
            "precision": precision,
        }
        self.graph_path = Path(graph_path)
        graph_file, options = self.graph_path, dict(self.options)

        def build() -> tuple[Graph, _Outputs]:  # holds the settings only, never ``self`` (see session.py)
            graph = Graph.from_yaml(graph_file, executor="inline", **options)
            outputs = _Outputs(graph.poller("hands"), {stream: {} for stream in SIDE_STREAMS})
            for stream, store in outputs.seen.items():
                graph.observe(stream, lambda p, store=store: _keep(store, p))
            graph.start()
            return graph, outputs

        self._session = GraphSession(self, "Hands", build)

    def process(self, image: np.ndarray, timestamp_us: int | None = None) -> HandsResult:
        """Track hands in one (H, W, 3) uint8 RGB frame.

        ``timestamp_us`` (int microseconds, increasing) defaults to the time since an arbitrary start; it only
        matters to landmark smoothing. In tracking mode, frames must come in order.
        """
        if self._session.closed:
            raise RuntimeError("Hands.process() after close()")
        check_rgb_image(image, "Hands.process()")

        def one(graph: Graph, out: _Outputs) -> HandsResult:
            ts = time.monotonic_ns() // 1000 if timestamp_us is None else int(timestamp_us)
            if ts <= out.last_ts:
                if timestamp_us is not None:
                    raise RequestError(f"timestamp_us must increase: {ts} after {out.last_ts}")
                ts = out.last_ts + 1
            out.last_ts = ts
            graph.add_packet("image", image, ts)
            packet = out.hands.next(timeout=RESULT_TIMEOUT_S)
            if packet is None or int(packet.timestamp) != ts:
                raise RuntimeError(f"hand_tracking graph gave {packet!r} for the frame at {ts} us")
            palms = out.seen["palm_detections"].pop(ts, [])
            rois = out.seen["hand_rois"].pop(ts, [])
            for store in out.seen.values():  # outputs of older frames can no longer be asked for
                for old in [k for k in store if k < ts]:
                    del store[old]
            return HandsResult(
                hands=[Hand.from_payload(h) for h in packet.payload],
                palm_detections=list(palms),
                hand_rois=list(rois),
                timestamp_us=ts,
            )

        return self._session.call(one)

    def reset(self) -> None:
        """Forget tracked hands (start a new video); rebuilds the graph, reloading the models from the store."""
        self._session.reopen()

    def stats(self) -> dict[str, Any]:
        """The engine's per-node statistics of this run (calls, latency, counters)."""
        if self._session.closed:
            raise RuntimeError("Hands.stats() after close()")
        return self._session.stats()

    def close(self, *, quiet: bool = False) -> None:
        """Finish the graph (idempotent); ``quiet`` swallows its error."""
        self._session.close(quiet=quiet)

    def __enter__(self) -> Hands:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(quiet=exc_type is not None)
