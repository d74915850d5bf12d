"""The live view's image side: keep the newest frame of a stream, encode it as JPEG when a browser asks.

``FrameTap`` is a stream observer. On the graph's thread it only swaps one reference (packets are immutable, so
the frame is not copied); JPEG encoding runs on the web server's thread (OpenCV releases the GIL while it
encodes), only while a browser is waiting for a frame, always from the newest frame, at most once per frame
however many browsers watch, and at most ``--serve-fps`` times a second (the server paces it). So a slow, paused
or closed browser can never slow the graph: it just gets a newer frame when it asks again (latest-frame
semantics).

``start_live_view`` wires a ``graphflow.serve.LiveServer`` to a graph: ``run_app(..., serve=...)`` and
``graphflow run --serve`` call it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO, Any

import cv2
import numpy as np

from graphflow.serve import DEFAULT_SERVE_FPS, LiveServer, parse_address

#: JPEG quality of the live picture (OpenCV's scale, 0-100)
JPEG_QUALITY = 80
#: frames wider than this are scaled down before encoding (bandwidth over SSH tunnels)
MAX_WIDTH = 1280


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY, max_width: int = MAX_WIDTH) -> bytes:
    """(H, W, 3) RGB or (H, W) gray uint8 -> JPEG bytes (other dtypes are clipped to 0..255)."""
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.shape[1] > max_width:
        height = round(image.shape[0] * max_width / image.shape[1])
        image = cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as JPEG")
    return data.tobytes()


class FrameTap:
    """``graph.observe(stream, tap)``; then ``tap.seq`` (frames seen), ``tap.jpeg()`` -> (seq, ts_us, bytes) of the
    newest frame (encoded now unless it already was), ``tap.encoded``: the last encoding, ``tap.encodes``: how many."""

    def __init__(self, quality: int = JPEG_QUALITY) -> None:
        self.quality = quality
        self._latest: tuple[int, int, Any] | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._encoded: tuple[int, int, bytes] | None = None
        self.encodes = 0
        self.listener: Callable[[], Any] | None = None  # the server's wake-up, set when it starts

    @property
    def seq(self) -> int:
        return self._seq

    def __call__(self, packet: Any) -> None:  # on a graph thread: one reference swap (and a wake-up if watched)
        with self._lock:
            self._seq += 1
            self._latest = (self._seq, int(packet.timestamp), packet.payload)
        listener = self.listener
        if listener is not None:
            listener()

    @property
    def encoded(self) -> tuple[int, int, bytes] | None:
        return self._encoded

    def jpeg(self) -> tuple[int, int, bytes] | None:
        latest = self._latest
        if latest is None:
            return None
        with self._encode_lock:
            if self._encoded is not None and self._encoded[0] >= latest[0]:
                return self._encoded
            seq, ts, image = latest
            self._encoded = (seq, ts, encode_jpeg(np.asarray(image), self.quality))
            self.encodes += 1
            return self._encoded


def start_live_view(graph: Any, serve: str | int, *, stream: str | None, title: str = "",
                    extra: Callable[[], dict[str, Any]] | None = None, out: IO[str] | None = None,
                    fps: float = DEFAULT_SERVE_FPS) -> LiveServer:
    """Observe ``stream`` (an image stream of ``graph``, or None for stats and topology only) and serve the page at
    ``serve`` ([HOST:]PORT), encoding at most ``fps`` frames a second for all browsers together (0: every frame).
    Call before ``graph.start()``; returns the started server (``.url``, ``.close()``)."""
    address = parse_address(serve)
    tap = None
    if stream is not None:
        tap = FrameTap()
        graph.observe(stream, tap)
    server = LiveServer(graph, address, frames=tap, title=title, extra=extra, stream_name=stream or "", out=out,
                        fps=fps)
    server.start()
    return server
