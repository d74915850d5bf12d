"""Payload samples of every type the hand, CAM and Mask R-CNN calculators emit, and an exact-equality check that
does not use the codec (dtype, byte order, shape, bytes of every array; types and values of everything else)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import calculators.record  # noqa: F401 - registers the payload types
from calculators.types import ClassActivation, Classification, Detection, HandLandmarks, Instances, NormalizedRect


def samples() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    rect = NormalizedRect(0.41, 0.52, 0.3, 0.35, rotation=-0.7)
    palm = Detection(box=rng.random(4).astype(np.float32), score=0.93, keypoints=rng.random((7, 2)).astype(np.float32))
    hand = HandLandmarks(landmarks=rng.random((21, 3)).astype(np.float32),
                         world_landmarks=(rng.random((21, 3)) - 0.5).astype(np.float32) / 10,
                         handedness="Left", handedness_score=0.987654321, presence=1.0, roi=rect, palm=palm,
                         gesture="open_palm")
    tracked = dataclasses.replace(hand, palm=None, handedness="Right", gesture="")
    h, w = 24, 32
    instances = Instances(boxes=np.array([[1.5, 2.25, 20.0, 22.0], [0.0, 0.0, 31.9, 23.9]], np.float32),
                          labels=np.array([3, 1], np.int64), scores=np.array([0.99, 0.51], np.float32),
                          masks=rng.random((2, h, w)).astype(np.float32), class_names=("bg", "circle", "sq", "tri"),
                          image_size=(h, w))
    cam = ClassActivation(classes=(Classification(281, "tabby", 0.61), Classification(285, "Egyptian cat", 0.2)),
                          logits=rng.standard_normal(1000).astype(np.float32),
                          cams_raw=rng.standard_normal((2, 7, 7)).astype(np.float32),
                          cams=rng.random((2, h, w)).astype(np.float32),
                          boxes=np.array([[2.0, 3.0, 20.0, 21.0], [0.0, 0.0, 10.0, 12.0]], np.float32))
    return {
        "image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "hands": [hand, tracked],
        "no_hands": [],
        "palm_detections": [palm, Detection(box=np.zeros(4, np.float32), score=0.5)],
        "hand_rois": [rect, NormalizedRect(0.1, 0.2, 0.05, 0.06)],
        "hand_roi_palms": [palm, None],
        "gestures": ["open_palm", "fist"],
        "instances": instances,
        "instances_no_masks": dataclasses.replace(instances, masks=None),
        "instances_empty": Instances.empty((h, w), ("bg", "circle")),
        "cam": cam,
        "cam_boxes": [Detection(box=np.array([0.1, 0.1, 0.6, 0.7]), score=0.61, label="tabby", label_id=281)],
        "tensor_f16_big_endian": (np.arange(12, dtype=">f2").reshape(3, 4), np.arange(6, dtype=">i8")),
        "non_contiguous": rng.random((6, 8))[::2, ::3].T,
        "odd_values": {"nan": math.nan, "inf": -math.inf, "neg_zero": -0.0, "f32": np.float32(1 / 3),
                       "flag": np.bool_(True), 7: b"\x00\xff", "nested": [1, (2.5, None), {"a": "é"}]},
        "zero_dim": np.array(3.25, np.float64),
        "bools": np.array([[True, False]]),
    }


def assert_identical(a: Any, b: Any, where: str = "payload") -> None:
    """Exact equality, types included; arrays bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.dtype.str == b.dtype.str, f"{where}: dtype {a.dtype.str} != {b.dtype.str}"
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), f"{where}: bytes differ"
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{where}: {a!r} != {b!r}"
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), \
            f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
