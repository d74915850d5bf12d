"""A seeded synthetic instance-segmentation dataset: coloured circles, squares and triangles that occlude each other.

Every sample is a pure function of ``(seed, index)``: ``render_sample(seed, index)`` draws its own generator from
``numpy.random.default_rng([seed, index])``, so a split is reproducible in any order and in any worker process.

Rendering is exact and alias-free: a pixel belongs to a shape when its centre ``(x + 0.5, y + 0.5)`` lies inside the
shape's geometry, shapes are painted back to front with flat colours on a flat background, and an instance's mask
is the set of pixels where it is the top-most shape. The image is therefore a function of the masks: every pixel of
mask i carries colour i, and the masks are disjoint.

Layout of one sample (``ShapesSample``):

- image: (H, W, 3) uint8 RGB.
- masks: (N, H, W) uint8 in {0, 1}, the visible part of each instance (occlusion applied).
- labels: (N,) int64 in 1..len(CLASS_NAMES) - 1 (0 is the background).
- boxes: (N, 4) float32 pixels [x1, y1, x2, y2], the tight box of the mask with exclusive right/bottom edges.

Instances whose visible part shrinks below ``min_visible_fraction`` of their full area (or ``min_visible_pixels``)
are removed and their pixels repainted as the shapes below, so no label is left for a sliver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "circle", "square", "triangle")
"""Index = label. 0 is the background, as in torchvision's detection models."""


@dataclass(frozen=True)
class ShapesConfig:
    """Geometry of the generated scenes.

    size_range: shape radius (centre to vertex / circle radius) in pixels, uniform in [lo, hi].
    min_colour_distance: minimum L2 distance (0-255 RGB) between a shape's colour and the background/other shapes.
    """

    image_size: int = 128
    min_objects: int = 1
    max_objects: int = 4
    size_range: tuple[float, float] = (12.0, 32.0)
    min_visible_fraction: float = 0.35
    min_visible_pixels: int = 40
    min_colour_distance: float = 90.0


@dataclass(frozen=True)
class ShapesSample:
    """One scene; see the module docstring for shapes and conventions."""

    image: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


def _pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) x and y coordinates of pixel centres."""
    coords = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(coords, coords, indexing="xy")


def shape_mask(label: int, cx: float, cy: float, radius: float, angle: float, size: int) -> np.ndarray:
    """(size, size) bool: pixels whose centre is inside the shape.

    circle: disc of ``radius``; square: side ``radius * sqrt(2)`` rotated by ``angle`` (vertices at ``radius``);
    triangle: equilateral, vertices at ``radius`` from the centre, rotated by ``angle`` (radians).
    """
    xs, ys = _pixel_centres(size)
    dx, dy = xs - cx, ys - cy
    name = CLASS_NAMES[label]
    if name == "circle":
        return dx * dx + dy * dy <= radius * radius
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's rotated frame
    if name == "square":
        half = radius / np.sqrt(2.0)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if name == "triangle":
        # inside = on the inner side of the three edges; each edge is at distance radius/2 from the centre with
        # outward normals at 90, 210 and 330 degrees (a vertex points along -v).
        inside = np.ones_like(u, dtype=bool)
        for normal_angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= u * np.cos(normal_angle) + v * np.sin(normal_angle) <= radius / 2
        return inside
    raise ValueError(f"unknown shape label {label} ({name})")


def _pick_colour(rng: np.random.Generator, avoid: list[np.ndarray], min_distance: float) -> np.ndarray:
    """A random RGB colour at least ``min_distance`` from every colour in ``avoid`` (best of 50 tries otherwise)."""
    best, best_dist = None, -1.0
    for _ in range(50):
        colour = rng.integers(0, 256, size=3).astype(np.float64)
        dist = min((float(np.linalg.norm(colour - a)) for a in avoid), default=np.inf)
        if dist >= min_distance:
            return colour.astype(np.uint8)
        if dist > best_dist:
            best, best_dist = colour, dist
    assert best is not None
    return best.astype(np.uint8)


def render_sample(seed: int, index: int, config: ShapesConfig = ShapesConfig()) -> ShapesSample:
    """The scene ``index`` of the split ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    size = config.image_size
    background = _pick_colour(rng, [], 0.0)
    colours: list[np.ndarray] = [background.astype(np.float64)]
    num = int(rng.integers(config.min_objects, config.max_objects + 1))
    shapes: list[tuple[int, np.ndarray, np.ndarray]] = []  # (label, full mask, colour), back to front
    for _ in range(num):
        label = int(rng.integers(1, len(CLASS_NAMES)))
        radius = float(rng.uniform(*config.size_range))
        margin = radius * 0.6  # keep most of the shape inside the image
        cx, cy = rng.uniform(margin, size - margin, size=2)
        angle = float(rng.uniform(0, 2 * np.pi))
        colour = _pick_colour(rng, colours, config.min_colour_distance)
        colours.append(colour.astype(np.float64))
        shapes.append((label, shape_mask(label, cx, cy, radius, angle, size), colour))

    # Visible part = full mask minus everything painted later; drop slivers, then recompute (a dropped shape no
    # longer hides the ones below it).
    keep = [True] * len(shapes)
    changed = True
    while changed:
        changed = False
        covered = np.zeros((size, size), bool)
        for i in reversed(range(len(shapes))):
            if not keep[i]:
                continue
            full = shapes[i][1]
            visible = full & ~covered
            area = int(visible.sum())
            if area < config.min_visible_pixels or area < config.min_visible_fraction * int(full.sum()):
                keep[i] = False
                changed = True
                break
            covered |= full

    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    order = [i for i in range(len(shapes)) if keep[i]]
    for i in order:
        image[shapes[i][1]] = shapes[i][2]
    masks, labels = [], []
    covered = np.zeros((size, size), bool)
    for i in reversed(order):
        masks.append(shapes[i][1] & ~covered)
        labels.append(shapes[i][0])
        covered |= shapes[i][1]
    masks.reverse()
    labels.reverse()
    mask_array = np.stack(masks).astype(np.uint8) if masks else np.zeros((0, size, size), np.uint8)
    return ShapesSample(
        image=image,
        masks=mask_array,
        labels=np.asarray(labels, np.int64),
        boxes=masks_to_boxes(mask_array),
    )


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) binary masks -> (N, 4) float32 [x1, y1, x2, y2] tight boxes (x2, y2 exclusive)."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


class ShapesDataset:
    """A split of ``length`` scenes drawn from ``seed`` (indexable, iterable; no torch needed)."""

    def __init__(self, seed: int, length: int, config: ShapesConfig = ShapesConfig()) -> None:
        self.seed = seed
        self.length = length
        self.config = config

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> ShapesSample:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a split of {self.length}")
        return render_sample(self.seed, index, self.config)

    def __iter__(self) -> Iterator[ShapesSample]:
        for i in range(self.length):
            yield self[i]
