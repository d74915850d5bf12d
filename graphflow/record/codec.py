"""The lossless payload codec of recordings: a tagged JSON tree, numpy arrays as dtype + shape + base64 bytes.

A recording is data: decoding one never imports a module or calls a constructor that the recording names freely.
Only the types registered here (``register_payload_type``) come back as objects; everything else is plain JSON.

Tree layout (one JSON value per payload):

- ``null``, ``true``/``false``, integers, strings: themselves. A finite float: a JSON number (Python writes the
  shortest text that reads back as the same double, so the value is exact). A non-finite float:
  ``{"$float": "nan" | "inf" | "-inf"}``.
- list: a JSON array. tuple: ``{"$tuple": [...]}``. dict: ``{"$dict": [[key, value], ...]}`` (any encodable keys,
  insertion order kept).
- ``np.ndarray``: ``{"$ndarray": {"dtype": "<f4", "shape": [21, 3], "data": "<base64 of the C-order bytes>"}}``;
  a numpy scalar: ``{"$scalar": {"dtype": "<f4", "data": "<base64>"}}``; bytes: ``{"$bytes": "<base64>"}``.
- a registered dataclass: ``{"$type": "HandLandmarks", "fields": {"landmarks": ..., ...}}`` (its ``init`` fields).

Arrays come back bit for bit (dtype, byte order, shape, values) and writable, as live ones are.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import types
import typing
from typing import Any

import numpy as np

#: registered name -> dataclass, and back
_TYPES: dict[str, type] = {}
_NAMES: dict[type, str] = {}
_PRIMITIVES: tuple[type, ...] = (type(None), bool, int, float, str, bytes)
_CONTAINERS: tuple[type, ...] = (list, tuple, dict)


class EncodingError(TypeError):
    """A payload (or a stream's declared type) the recording codecs cannot represent."""


class DecodingError(ValueError):
    """Message bytes that are not a valid encoding (a corrupt or foreign recording)."""


def register_payload_type(cls: type, name: str | None = None) -> type:
    """Let recordings carry instances of dataclass ``cls`` (under ``name``, default the class name).

    A second registration of the same name by another class raises; re-registering the same class is a no-op.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_payload_type expects a dataclass, got {cls!r}")
    key = name or cls.__name__
    old = _TYPES.get(key)
    if old is not None and old is not cls:
        raise ValueError(f"payload type name '{key}' is already registered by {old.__module__}.{old.__qualname__}")
    _TYPES[key] = cls
    _NAMES[cls] = key
    return cls


def registered_types() -> dict[str, type]:
    return dict(_TYPES)


def describe_type(tp: Any) -> str:
    """A short name for error messages: ``list``, ``numpy.ndarray``, ``mypkg.Foo``."""
    if tp is Any:
        return "Any"
    if isinstance(tp, type):
        return tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


def type_is_encodable(tp: Any) -> bool:
    """Whether a stream declared as ``tp`` can be recorded by the tree codec (containers are checked per packet)."""
    if tp is Any or tp is object or tp is np.ndarray or tp in _PRIMITIVES or tp in _CONTAINERS:
        return True
    if isinstance(tp, type) and (tp in _NAMES or issubclass(tp, np.generic)):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return all(type_is_encodable(a) for a in typing.get_args(tp))
    if origin in _CONTAINERS:
        return all(a is Ellipsis or type_is_encodable(a) for a in typing.get_args(tp))
    return False


class Blob:
    """Bytes that ``dumps`` writes as a base64 JSON string without passing them through the JSON encoder (which
    would scan every character of a megabyte-sized string); ``loads`` gives the base64 text back, as JSON does."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def to_tree(value: Any) -> Any:
    """``value`` as a JSON-ready tree (see the module docstring). Raises ``EncodingError`` naming the type."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.fields is not None:
            raise EncodingError(f"numpy array of dtype {value.dtype} has no recording encoding (numeric dtypes only)")
        return {"$ndarray": {"dtype": value.dtype.str, "shape": list(value.shape),
                             "data": Blob(np.ascontiguousarray(value).tobytes())}}
    if isinstance(value, np.generic):
        if value.dtype.hasobject:
            raise EncodingError(f"numpy scalar of dtype {value.dtype} has no recording encoding")
        return {"$scalar": {"dtype": value.dtype.str, "data": Blob(value.tobytes())}}
    if type(value) is list:
        return [to_tree(v) for v in value]
    if type(value) is tuple:
        return {"$tuple": [to_tree(v) for v in value]}
    if type(value) is dict:
        return {"$dict": [[to_tree(k), to_tree(v)] for k, v in value.items()]}
    if isinstance(value, bytes):
        return {"$bytes": Blob(value)}
    name = _NAMES.get(type(value))
    if name is not None:
        return {"$type": name, "fields": {f.name: to_tree(getattr(value, f.name))
                                          for f in dataclasses.fields(value) if f.init}}
    raise EncodingError(f"payload type {describe_type(type(value))} has no recording encoding "
                        "(register a dataclass with graphflow.record.register_payload_type)")


def _unb64(text: Any) -> bytes:
    if isinstance(text, Blob):  # a tree that never went through dumps/loads
        return text.data
    if not isinstance(text, str):
        raise DecodingError(f"expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise DecodingError(f"invalid base64 data: {exc}") from None


def _dtype(text: Any) -> np.dtype:
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise DecodingError(f"invalid dtype {text!r}") from None
    if dtype.hasobject or dtype.fields is not None:
        raise DecodingError(f"dtype {text!r} is not allowed in a recording")
    return dtype


def array_from(dtype_text: Any, shape: Any, data: bytes) -> np.ndarray:
    """A writable array of ``shape`` from raw C-order bytes; checks that the sizes agree."""
    dtype = _dtype(dtype_text)
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise DecodingError(f"invalid array shape {shape!r}")
    expected = dtype.itemsize * math.prod(shape)
    if len(data) != expected:
        raise DecodingError(f"array of {dtype} {tuple(shape)} needs {expected} bytes, the message has {len(data)}")
    return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def from_tree(tree: Any) -> Any:
    """Inverse of ``to_tree``. Raises ``DecodingError`` on anything it did not write."""
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [from_tree(v) for v in tree]
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise DecodingError(f"unexpected value in payload tree: {str(tree)[:80]}")
    if "$type" in tree:
        cls = _TYPES.get(tree["$type"])
        if cls is None:
            raise DecodingError(f"payload type '{tree['$type']}' is not registered in this process "
                                "(import calculators.record for the project's types)")
        fields = tree.get("fields")
        if not isinstance(fields, dict):
            raise DecodingError(f"payload type '{tree['$type']}' without fields")
        try:
            return cls(**{k: from_tree(v) for k, v in fields.items()})
        except TypeError as exc:
            raise DecodingError(f"cannot rebuild {tree['$type']}: {exc}") from None
    ((tag, body),) = tree.items()
    if tag == "$ndarray":
        return array_from(body.get("dtype"), body.get("shape"), _unb64(body.get("data")))
    if tag == "$scalar":
        dtype = _dtype(body.get("dtype"))
        data = _unb64(body.get("data"))
        if len(data) != dtype.itemsize:
            raise DecodingError(f"scalar of {dtype} needs {dtype.itemsize} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=dtype)[0]
    if tag == "$tuple":
        return tuple(from_tree(v) for v in body)
    if tag == "$dict":
        return {from_tree(k): from_tree(v) for k, v in body}
    if tag == "$bytes":
        return _unb64(body)
    if tag == "$float":
        values = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
        if body not in values:
            raise DecodingError(f"invalid $float {body!r}")
        return values[body]
    raise DecodingError(f"unknown tag {tag!r} in payload tree")


def dumps(obj: Any) -> bytes:
    """Compact, deterministic JSON (the same object always gives the same bytes); ``Blob`` values become base64
    strings, spliced in after encoding (base64 needs no JSON escaping)."""
    blobs: list[bytes] = []
    marker = os.urandom(12).hex()  # cannot collide with payload text: it never reaches the output

    def blob(value: Any) -> str:
        if not isinstance(value, Blob):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        blobs.append(value.data)
        return f"{marker}{len(blobs) - 1}{marker}"

    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False, default=blob).encode("utf-8")
    if not blobs:
        return text
    parts = text.split(marker.encode())
    # parts alternate: json text, blob index, json text, ...
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        out.append(base64.b64encode(blobs[int(parts[i])]))
        out.append(parts[i + 1])
    return b"".join(out)


def loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodingError(f"message is not valid JSON: {exc}") from None
