"""``jpeg`` stream encoding: images as ``foxglove.CompressedImage`` (format "jpeg"), for small files.

Lossy: a replay from it feeds the decoded JPEG, not the original pixels (use the default ``raw_image`` for
bit-for-bit replays). Encoding uses OpenCV (RGB in the graph, BGR for OpenCV, as everywhere in calculators.io).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from graphflow.record import codec, foxglove
from graphflow.record.encoders import Schema, StreamEncoder

JPEG_QUALITY = 90


class JpegEncoder(StreamEncoder):
    name = "jpeg"
    schema = Schema("foxglove.CompressedImage", foxglove.COMPRESSED_IMAGE)
    quality = JPEG_QUALITY

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        if not (isinstance(payload, np.ndarray) and payload.dtype == np.uint8
                and (payload.ndim == 2 or (payload.ndim == 3 and payload.shape[2] == 3))):
            raise codec.EncodingError(f"{codec.describe_type(type(payload))} {getattr(payload, 'shape', '')} "
                                      "is not a uint8 gray/RGB image JPEG can hold")
        bgr = payload if payload.ndim == 2 else cv2.cvtColor(payload, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise codec.EncodingError(f"OpenCV could not JPEG-encode a {payload.shape} image")
        return {"timestamp": foxglove.time_of(timestamp_us), "frame_id": stream, "format": "jpeg",
                "data": codec.Blob(buf.tobytes())}

    def decode(self, message: dict[str, Any]) -> Any:
        if message.get("format") not in ("jpeg", "jpg", "png"):
            raise codec.DecodingError(f"CompressedImage format {message.get('format')!r} is not jpeg/png")
        raw = np.frombuffer(codec._unb64(message.get("data")), np.uint8)
        bgr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
        if bgr is None:
            raise codec.DecodingError("CompressedImage data does not decode")
        return bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def image_size(self, payload: Any) -> tuple[int, int] | None:
        return (payload.shape[1], payload.shape[0])
