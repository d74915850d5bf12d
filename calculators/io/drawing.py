"""Pure drawing functions for the Renderer: every function takes an (H, W, 3) uint8 RGB image and draws in place.

Callers own the image (``render_frame`` copies the input once, then calls these in order). Colours are RGB tuples:
OpenCV's drawing primitives do not care about channel order, so no BGR conversion happens here. The one colour
table taken from OpenCV (``heat_colormap``) is reordered to RGB once, when built.

What is drawn (MediaPipe Hands' figure 1 style for hands):

- hands: the 21 landmarks and their connections, coloured per finger; depth shading uses each landmark's z
  relative to the other landmarks of the same hand: nearer the camera (smaller z) = lighter and larger; points
  are drawn far to near so near ones cover far ones. Handedness and score are written next to the wrist.
- palm detections: the box and its keypoints; hand ROIs: the rotated rectangle.
- instances: a translucent colour over each mask (probability > threshold), the box, and "label score".
- CAM: the top map as a heat map blended with alpha, plus the class name and score.
- classes: the top-k "name score" lines; HUD: fps and end-to-end latency in the top-left corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from calculators.types import ClassActivation, Classification, Detection, HandLandmarks, Instances, NormalizedRect

Color = tuple[int, int, int]

# The 21-point hand topology (wrist = 0; thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20).
FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (0, 1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
PALM_CONNECTIONS: tuple[tuple[int, int], ...] = ((0, 5), (5, 9), (9, 13), (13, 17), (0, 17))
FINGER_COLORS: dict[str, Color] = {
    "thumb": (230, 60, 60),
    "index": (150, 70, 220),
    "middle": (240, 200, 40),
    "ring": (60, 200, 80),
    "pinky": (40, 150, 240),
    "palm": (200, 200, 200),
}
PALM_COLOR: Color = (255, 140, 0)
ROI_COLOR: Color = (0, 220, 255)
TEXT_COLOR: Color = (255, 255, 255)
# distinct, saturated colours for instances, cycled by instance index
INSTANCE_COLORS: tuple[Color, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def hand_connections() -> list[tuple[int, int, str]]:
    """(a, b, group) for every bone: consecutive joints of each finger plus the palm outline."""
    out = [(a, b, name) for name, chain in FINGERS.items() for a, b in zip(chain, chain[1:], strict=False)]
    return out + [(a, b, "palm") for a, b in PALM_CONNECTIONS]


def _landmark_group() -> list[str]:
    group = ["palm"] * 21
    for name, chain in FINGERS.items():
        for i in chain[1:] if name == "thumb" else chain:
            group[i] = name
    return group


LANDMARK_GROUP = _landmark_group()


def scale_of(image: np.ndarray) -> float:
    """Drawing scale: 1.0 for a 480-pixel-high image, proportional otherwise (line widths, radii, text)."""
    return max(0.5, min(image.shape[:2]) / 480.0)


def nearness(z: np.ndarray) -> np.ndarray:
    """(N,) z -> (N,) in [0, 1], 1 = nearest the camera (smallest z); all-equal z gives 0.5 everywhere."""
    z = np.asarray(z, np.float64)
    span = float(z.max() - z.min()) if z.size else 0.0
    if span < 1e-9:
        return np.full(z.shape, 0.5)
    return (z.max() - z) / span


def shade(color: Color, t: float) -> Color:
    """Depth shading: t = 0 (far) -> the colour darkened to 55%; t = 1 (near) -> 60% of the way to white."""
    base = np.asarray(color, np.float64)
    far, near = base * 0.55, base + (255.0 - base) * 0.6
    return tuple(int(round(v)) for v in far + (near - far) * float(np.clip(t, 0.0, 1.0)))  # type: ignore[return-value]


def to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, >=2) normalized x, y -> (N, 2) int32 pixel coordinates."""
    pts = np.asarray(points, np.float64)[:, :2] * np.array([width, height])
    return np.round(pts).astype(np.int32)


def put_label(image: np.ndarray, text: str, origin: tuple[int, int], color: Color, scale: float) -> None:
    """Text on a dark filled box, origin = the box's top-left corner (clamped inside the image)."""
    font_scale = 0.5 * scale
    thickness = max(1, round(scale))
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, thickness)
    pad = max(2, round(3 * scale))
    h, w = image.shape[:2]
    x = int(np.clip(origin[0], 0, max(0, w - tw - 2 * pad)))
    y = int(np.clip(origin[1], 0, max(0, h - th - base - 2 * pad)))
    cv2.rectangle(image, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(image, text, (x + pad, y + pad + th), FONT, font_scale, color, thickness, cv2.LINE_AA)


def draw_hand(image: np.ndarray, hand: HandLandmarks, show_label: bool = True) -> None:
    """Landmarks + connections with depth shading, and "Handedness 0.97" next to the wrist."""
    h, w = image.shape[:2]
    s = scale_of(image)
    lm = np.asarray(hand.landmarks, np.float64)
    pts = to_pixels(lm, w, h)
    near = nearness(lm[:, 2]) if lm.shape[1] > 2 else np.full(len(lm), 0.5)
    for a, b, group in sorted(hand_connections(), key=lambda c: near[c[0]] + near[c[1]]):
        t = 0.5 * (near[a] + near[b])
        thickness = max(1, round(s * (2.0 + 2.0 * t)))
        cv2.line(image, tuple(pts[a]), tuple(pts[b]), shade(FINGER_COLORS[group], t), thickness, cv2.LINE_AA)
    for i in np.argsort(near, kind="stable"):
        t = float(near[i])
        radius = max(1, round(s * (2.5 + 4.0 * t)))
        color = shade(FINGER_COLORS[LANDMARK_GROUP[i]], t)
        cv2.circle(image, tuple(pts[i]), radius, color, -1, cv2.LINE_AA)
        cv2.circle(image, tuple(pts[i]), radius, (255, 255, 255), max(1, round(s * 0.6)), cv2.LINE_AA)
    if show_label:
        text = f"{hand.handedness} {hand.handedness_score:.2f}"
        wrist = pts[0]
        put_label(image, text, (int(wrist[0]) + round(10 * s), int(wrist[1]) + round(5 * s)), TEXT_COLOR, s)


def draw_palm(image: np.ndarray, detection: Detection) -> None:
    """The detection's normalized box, its keypoints and its score."""
    h, w = image.shape[:2]
    s = scale_of(image)
    box = to_pixels(np.asarray(detection.box, np.float64).reshape(2, 2), w, h)
    cv2.rectangle(image, tuple(box[0]), tuple(box[1]), PALM_COLOR, max(1, round(2 * s)), cv2.LINE_AA)
    if len(detection.keypoints):
        for p in to_pixels(detection.keypoints, w, h):
            cv2.circle(image, tuple(p), max(1, round(3 * s)), PALM_COLOR, -1, cv2.LINE_AA)
    put_label(image, f"palm {detection.score:.2f}", (int(box[0][0]), int(box[0][1]) - round(22 * s)), PALM_COLOR, s)


def draw_rect(image: np.ndarray, rect: NormalizedRect, color: Color = ROI_COLOR) -> None:
    """An oriented NormalizedRect as a closed polygon, with a tick on its top edge to show the rotation."""
    h, w = image.shape[:2]
    s = scale_of(image)
    corners = np.round(rect.corners(w, h)).astype(np.int32)
    cv2.polylines(image, [corners.reshape(-1, 1, 2)], True, color, max(1, round(2 * s)), cv2.LINE_AA)
    top_mid = (corners[0] + corners[1]) / 2
    center = corners.mean(axis=0)
    tip = top_mid + (top_mid - center) * 0.15
    cv2.line(image, tuple(np.round(top_mid).astype(int)), tuple(np.round(tip).astype(int)), color,
             max(1, round(2 * s)), cv2.LINE_AA)


def instance_color(i: int) -> Color:
    return INSTANCE_COLORS[i % len(INSTANCE_COLORS)]


def blend_mask(image: np.ndarray, mask: np.ndarray, color: Color, alpha: float) -> None:
    """Blend ``color`` into ``image`` where ``mask`` (H, W) bool is set: out = (1-alpha)*image + alpha*color."""
    if not mask.any():
        return
    region = image[mask].astype(np.float32)
    image[mask] = np.round(region * (1.0 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)


def draw_instances(
    image: np.ndarray, instances: Instances, alpha: float = 0.45, mask_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> None:
    """Masks (probability > mask_threshold), boxes and "label score" for instances scoring >= score_threshold.

    Masks at another resolution than the image are resized (nearest) first; boxes are in the pixels of
    ``instances.image_size`` when set, and rescaled to the image.
    """
    h, w = image.shape[:2]
    s = scale_of(image)
    ih, iw = instances.image_size if instances.image_size != (0, 0) else (h, w)
    sx, sy = w / iw, h / ih
    names = instances.label_names()
    for i in range(len(instances)):
        score = float(instances.scores[i])
        if score < score_threshold:
            continue
        color = instance_color(i)
        if instances.masks is not None:
            m = np.asarray(instances.masks[i])
            if m.shape != (h, w):
                m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
            blend_mask(image, m > mask_threshold, color, alpha)
        x1, y1, x2, y2 = np.asarray(instances.boxes[i], np.float64) * np.array([sx, sy, sx, sy])
        p1, p2 = (round(x1), round(y1)), (round(x2), round(y2))
        cv2.rectangle(image, p1, p2, color, max(1, round(2 * s)), cv2.LINE_AA)
        put_label(image, f"{names[i]} {score:.2f}", (p1[0], p1[1] - round(22 * s)), color, s)


@lru_cache(maxsize=1)
def heat_colormap() -> np.ndarray:
    """(256, 3) uint8 RGB: OpenCV's JET colour map, reordered from BGR once here."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)
    return np.ascontiguousarray(bgr[:, 0, ::-1])


def draw_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> None:
    """Blend a (h, w) map in [0, 1] (resized to the image, bilinear) as a JET heat map: out = (1-a)*img + a*heat."""
    h, w = image.shape[:2]
    heat = np.asarray(heat, np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    idx = np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8)
    colored = heat_colormap()[idx]
    cv2.addWeighted(image, 1.0 - alpha, colored, alpha, 0.0, dst=image)  # rounds and saturates to uint8


def draw_cam(image: np.ndarray, cam: ClassActivation, alpha: float = 0.45, index: int = 0) -> None:
    """The ``index``-th class activation map as a heat map, its box, and "name score"."""
    if len(cam.cams) <= index:
        return
    s = scale_of(image)
    draw_heatmap(image, cam.cams[index], alpha)
    if len(cam.boxes) > index:
        x1, y1, x2, y2 = (round(float(v)) for v in cam.boxes[index])
        cv2.rectangle(image, (x1, y1), (x2, y2), TEXT_COLOR, max(1, round(2 * s)), cv2.LINE_AA)
    if len(cam.classes) > index:
        c = cam.classes[index]
        put_label(image, f"CAM: {c.name} {c.score:.2f}", (round(8 * s), image.shape[0]), TEXT_COLOR, s)


def draw_classes(image: np.ndarray, classes: Sequence[Classification], top_k: int = 3) -> None:
    """The first ``top_k`` classes as "name score" lines in the top-right corner."""
    s = scale_of(image)
    w = image.shape[1]
    y = round(8 * s)
    for c in list(classes)[:top_k]:
        text = f"{c.name} {c.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, FONT, 0.5 * s, max(1, round(s)))
        put_label(image, text, (w - tw - round(16 * s), y), TEXT_COLOR, s)
        y += th + base + round(10 * s)


def draw_hud(image: np.ndarray, fps: float | None, latency_ms: float | None) -> None:
    """"12.3 fps  45 ms" in the top-left corner (a missing value is shown as "-")."""
    s = scale_of(image)
    fps_text = f"{fps:.1f} fps" if fps is not None else "- fps"
    lat_text = f"{latency_ms:.0f} ms" if latency_ms is not None else "- ms"
    put_label(image, f"{fps_text}  {lat_text}", (round(8 * s), round(8 * s)), (120, 255, 120), s)


@dataclass
class RenderOptions:
    """What ``render_frame`` draws (also the Renderer calculator's options).

    palms/rois/hud: draw palm detections, hand ROIs, the fps/latency HUD. hand_labels: handedness + score.
    mask_alpha, cam_alpha: blend weights in [0, 1]. mask_threshold: mask probability counted as inside.
    score_threshold: instances below it are not drawn. top_k: class lines shown.
    """

    palms: bool = True
    rois: bool = True
    hud: bool = True
    hand_labels: bool = True
    mask_alpha: float = 0.45
    cam_alpha: float = 0.45
    mask_threshold: float = 0.5
    score_threshold: float = 0.0
    top_k: int = 3


def render_frame(
    image: np.ndarray,
    *,
    hands: Sequence[HandLandmarks] = (),
    palms: Sequence[Detection] = (),
    rois: Sequence[NormalizedRect] = (),
    instances: Instances | None = None,
    cam: ClassActivation | None = None,
    classes: Sequence[Classification] = (),
    fps: float | None = None,
    latency_ms: float | None = None,
    options: RenderOptions | None = None,
) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 RGB with everything drawn, back to front: CAM heat map, instance masks,
    ROIs, palms, hands, class list, HUD. The input image is never modified."""
    opt = options or RenderOptions()
    out = np.array(image, dtype=np.uint8, copy=True, order="C")
    if cam is not None:
        draw_cam(out, cam, opt.cam_alpha)
    if instances is not None:
        draw_instances(out, instances, opt.mask_alpha, opt.mask_threshold, opt.score_threshold)
    if opt.rois:
        for rect in rois:
            draw_rect(out, rect)
    if opt.palms:
        for det in palms:
            draw_palm(out, det)
    for hand in hands:
        draw_hand(out, hand, show_label=opt.hand_labels)
    if classes:
        draw_classes(out, classes, opt.top_k)
    if opt.hud:
        draw_hud(out, fps, latency_ms)
    return out
