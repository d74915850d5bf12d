"""Small application facades over the shipped graphs (like ``mediapipe.solutions``).

    from calculators.solutions import Hands, ClassActivation, InstanceSegmenter
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Hands": "calculators.solutions.hands",
    "ClassActivation": "calculators.solutions.class_activation",
    "InstanceSegmenter": "calculators.solutions.instance_segmenter",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'calculators.solutions' has no attribute '{name}'")
