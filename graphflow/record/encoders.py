"""Stream encoders: how one stream's payloads become MCAP messages (JSON objects on JSON-schema channels) and back.

Built in (numpy only): ``tree`` (lossless, any registered payload: see ``codec.py``), ``raw_image``
(``foxglove.RawImage``, lossless for uint8 gray/RGB/RGBA and uint16 gray images) and the bound channel of a stream.
Packages add more with ``register_encoder`` (``calculators.record`` adds ``jpeg``: ``foxglove.CompressedImage``)
and add Foxglove views of payloads with ``register_annotator`` (hands, detections, boxes as ImageAnnotations).

``encoding="auto"`` (the default) picks at a stream's first packet: an image-like array gets the image encoding
(``raw_image``, or what ``image_encoding`` names), anything else ``tree``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import codec, foxglove

TREE_SCHEMA = codec.dumps({
    "title": "graphflow.Payload", "type": "object",
    "description": "A graphflow packet payload as a tagged JSON tree (graphflow/record/codec.py): lossless; "
                   "numpy arrays as {'$ndarray': {dtype, shape, data (base64)}}",
    "properties": {"value": {}, "graphflow_timestamp_us": {"type": "integer"}}})
BOUND_SCHEMA = codec.dumps({
    "title": "graphflow.Bound", "type": "object",
    "description": "The stream's timestamp bound moved: no later packet has a timestamp below bound_us",
    "properties": {"bound_us": {"type": "integer"}}})


@dataclasses.dataclass(frozen=True)
class Schema:
    name: str
    data: bytes
    encoding: str = foxglove.SCHEMA_ENCODING


class StreamEncoder:
    """Turns payloads into JSON-ready dicts (``encode``) and back (``decode``); one per recorded stream."""

    name = ""
    schema: Schema

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, message: dict[str, Any]) -> Any:
        raise NotImplementedError

    def image_size(self, payload: Any) -> tuple[int, int] | None:
        """(width, height) when the payload is an image (annotations of other streams are drawn in it)."""
        return None


class TreeEncoder(StreamEncoder):
    name = "tree"
    schema = Schema("graphflow.Payload", TREE_SCHEMA)

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        return {"value": codec.to_tree(payload)}

    def decode(self, message: dict[str, Any]) -> Any:
        if "value" not in message:
            raise codec.DecodingError("graphflow.Payload message without 'value'")
        return codec.from_tree(message["value"])


#: RawImage encoding name -> (dtype, channels); channels 0 = a 2-D array
RAW_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3), "rgba8": (np.dtype(np.uint8), 4), "mono8": (np.dtype(np.uint8), 0),
    "mono16": (np.dtype("<u2"), 0), "32FC1": (np.dtype("<f4"), 0),
}


def raw_encoding_of(array: np.ndarray) -> str | None:
    """The RawImage encoding that represents ``array`` exactly, or None."""
    if not isinstance(array, np.ndarray) or array.ndim not in (2, 3) or min(array.shape[:2], default=0) < 1:
        return None
    channels = 0 if array.ndim == 2 else array.shape[2]
    for name, (dtype, ch) in RAW_ENCODINGS.items():
        if ch == channels and array.dtype == dtype:
            return name
    return None


def image_like(payload: Any) -> bool:
    return raw_encoding_of(payload) is not None


class RawImageEncoder(StreamEncoder):
    """``foxglove.RawImage``: width, height, encoding, step (bytes per row), row-major data; lossless."""

    name = "raw_image"
    schema = Schema("foxglove.RawImage", foxglove.RAW_IMAGE)

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        enc = raw_encoding_of(payload)
        if enc is None:
            shape = getattr(payload, "shape", None)
            raise codec.EncodingError(
                f"{codec.describe_type(type(payload))} {getattr(payload, 'dtype', '')} {shape} is not an image "
                f"foxglove.RawImage can hold (uint8 gray/RGB/RGBA, uint16 gray, float32 gray); "
                f"record the stream with encoding 'tree'")
        h, w = payload.shape[:2]
        data = np.ascontiguousarray(payload).tobytes()
        return {"timestamp": foxglove.time_of(timestamp_us), "frame_id": stream, "width": w, "height": h,
                "encoding": enc, "step": len(data) // h, "data": codec.Blob(data)}

    def decode(self, message: dict[str, Any]) -> Any:
        enc = message.get("encoding")
        if enc not in RAW_ENCODINGS:
            raise codec.DecodingError(f"RawImage encoding {enc!r} is not supported "
                                      f"(supported: {', '.join(RAW_ENCODINGS)})")
        dtype, channels = RAW_ENCODINGS[enc]
        h, w = message.get("height"), message.get("width")
        shape = [h, w] if channels == 0 else [h, w, channels]
        data = codec._unb64(message.get("data"))
        step = message.get("step")
        row = w * max(channels, 1) * dtype.itemsize if isinstance(w, int) else None
        if row is not None and isinstance(step, int) and isinstance(h, int) and step != row and step > row:
            data = b"".join(data[i * step:i * step + row] for i in range(h))  # padded rows (other writers)
        return codec.array_from(dtype.str, shape, data)

    def image_size(self, payload: Any) -> tuple[int, int] | None:
        return (payload.shape[1], payload.shape[0]) if isinstance(payload, np.ndarray) else None


class BoundEncoder(StreamEncoder):
    name = "bound"
    schema = Schema("graphflow.Bound", BOUND_SCHEMA)

    def encode(self, payload: Any, timestamp_us: int, stream: str) -> dict[str, Any]:
        return {"bound_us": int(payload)}

    def decode(self, message: dict[str, Any]) -> Any:
        bound = message.get("bound_us")
        if not isinstance(bound, int):
            raise codec.DecodingError("graphflow.Bound message without an integer bound_us")
        return bound


_ENCODERS: dict[str, Callable[[], StreamEncoder]] = {
    TreeEncoder.name: TreeEncoder, RawImageEncoder.name: RawImageEncoder, BoundEncoder.name: BoundEncoder}
_SCHEMA_ENCODERS: dict[str, str] = {"graphflow.Payload": "tree", "foxglove.RawImage": "raw_image",
                                    "graphflow.Bound": "bound"}
AUTO = "auto"
ANNOTATIONS_SCHEMA = Schema("foxglove.ImageAnnotations", foxglove.IMAGE_ANNOTATIONS)

#: annotator(payload, timestamp_us, image_size (w, h) or None) -> ImageAnnotations dict, or None if not its type
Annotator = Callable[[Any, int, "tuple[int, int] | None"], "dict[str, Any] | None"]
_ANNOTATORS: list[Annotator] = []


def register_encoder(factory: Callable[[], StreamEncoder]) -> None:
    """Add a stream encoding (a StreamEncoder subclass with ``name`` and ``schema``); duplicate names raise."""
    enc = factory()
    old = _ENCODERS.get(enc.name)
    if old is not None and old is not factory:
        raise ValueError(f"stream encoding '{enc.name}' is already registered")
    _ENCODERS[enc.name] = factory
    _SCHEMA_ENCODERS[enc.schema.name] = enc.name


def register_annotator(fn: Annotator) -> None:
    if fn not in _ANNOTATORS:
        _ANNOTATORS.append(fn)


def annotate(payload: Any, timestamp_us: int, image_size: tuple[int, int] | None) -> dict[str, Any] | None:
    for fn in _ANNOTATORS:
        out = fn(payload, timestamp_us, image_size)
        if out is not None:
            return out
    return None


def empty_annotations() -> dict[str, Any]:
    return {"circles": [], "points": [], "texts": []}


def encoding_names() -> list[str]:
    return [AUTO, *sorted(n for n in _ENCODERS if n != BoundEncoder.name)]


def make_encoder(name: str) -> StreamEncoder:
    factory = _ENCODERS.get(name)
    if factory is None or name == BoundEncoder.name:
        raise ValueError(f"unknown stream encoding '{name}' (known: {', '.join(encoding_names())})")
    return factory()


def encoder_for_schema(schema_name: str) -> StreamEncoder | None:
    """The decoder of a channel written with ``schema_name`` (None: not a graphflow/Foxglove image channel)."""
    name = _SCHEMA_ENCODERS.get(schema_name)
    return None if name is None else _ENCODERS[name]()


def check_stream(stream: str, declared: Any, encoding: str) -> None:
    """Refuse, before anything runs, a stream no encoding can hold: one line naming the stream and its type."""
    if encoding != AUTO:
        make_encoder(encoding)
        return
    if not codec.type_is_encodable(declared):
        raise codec.EncodingError(
            f"cannot record stream '{stream}': its payload type {codec.describe_type(declared)} has no recording "
            "encoding (register the dataclass with graphflow.record.register_payload_type, or leave the stream out)")


def resolve_auto(first_payload: Any, image_encoding: str) -> StreamEncoder:
    """The encoder an ``auto`` stream gets from its first packet."""
    return make_encoder(image_encoding if image_like(first_payload) else TreeEncoder.name)
