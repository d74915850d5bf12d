"""The project's payload dataclasses, registered with the recording codec (lossless ``tree`` encoding).

Every type a hand, CAM or Mask R-CNN calculator emits (alone or in lists): NormalizedRect, Detection,
Classification, HandLandmarks (with its ROI and palm), Instances, ClassActivation. Images, tensors, strings and
plain lists need no registration.
"""

from __future__ import annotations

from calculators.types import ClassActivation, Classification, Detection, HandLandmarks, Instances, NormalizedRect
from graphflow.record import register_payload_type

PAYLOAD_TYPES: tuple[type, ...] = (
    NormalizedRect, Detection, Classification, HandLandmarks, Instances, ClassActivation,
)


def register_all() -> None:
    for cls in PAYLOAD_TYPES:
        register_payload_type(cls)
