"""Draw a class activation map over its image: heat map, CAM box and label (pure function, OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

from graphflow.types import ClassActivation

BOX_COLOR = (0, 255, 0)  # RGB
TEXT_COLOR = (255, 255, 255)


def draw_cam_overlay(image: np.ndarray, activation: ClassActivation, index: int = 0, alpha: float = 0.5,
                     thickness: int = 2) -> np.ndarray:
    """image: (H, W, 3) uint8 RGB, not modified. Returns a new (H, W, 3) uint8 RGB image with map ``index`` as a
    JET heat map blended at ``alpha``, its box and "name score" label. With no maps, returns a copy."""
    out = image.copy()
    if len(activation.classes) == 0:
        return out
    cam = activation.cams[index]  # (H, W) in [0, 1]
    if cam.shape != image.shape[:2]:
        raise ValueError(f"map is {cam.shape}, image is {image.shape[:2]}")
    heat = cv2.applyColorMap(np.clip(cam * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)  # BGR
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    out = cv2.addWeighted(out, 1.0 - alpha, heat, alpha, 0.0)
    x1, y1, x2, y2 = (int(round(v)) for v in activation.boxes[index])
    if x2 > x1 and y2 > y1:
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), BOX_COLOR, thickness)
    c = activation.classes[index]
    label = f"{c.name} {c.score:.2f}"
    scale = max(0.4, image.shape[0] / 640)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    ty = max(th + base, y1)
    cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), BOX_COLOR, -1)
    cv2.putText(out, label, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out
