"""Payload types that travel between calculators. numpy only (no torch, no OpenCV).

Conventions, in one place:

- **Images** are ``np.ndarray`` of shape (H, W, 3), dtype uint8, **RGB**, C-contiguous or not. They travel by
  reference; calculators never modify an input image in place.
- **Normalized coordinates**: x in [0, 1] left->right over the image width, y in [0, 1] top->bottom over the
  height. Values outside [0, 1] are allowed (a hand partly out of frame).
- **Pixel boxes** are [x1, y1, x2, y2] with 0 <= x1 < x2 <= W (float pixels, x2/y2 exclusive edges).
- **Angles** are radians, counter-clockwise positive as seen on the screen (MediaPipe's NormalizedRect rotation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

Image = np.ndarray
"""(H, W, 3) uint8 RGB frame."""


@dataclass(frozen=True)
class NormalizedRect:
    """An oriented rectangle in normalized image coordinates (MediaPipe's NormalizedRect).

    x_center, y_center, width, height are fractions of the image width/height; rotation in radians.
    """

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float = 0.0

    def corners(self, image_width: int = 1, image_height: int = 1) -> np.ndarray:
        """(4, 2) corners in pixels of a (image_width x image_height) image, order TL, TR, BR, BL."""
        cx, cy = self.x_center * image_width, self.y_center * image_height
        w, h = self.width * image_width, self.height * image_height
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + np.array([cx, cy])


@dataclass(frozen=True)
class Detection:
    """One detected object.

    box: (4,) float [xmin, ymin, xmax, ymax], normalized.
    keypoints: (K, 2) float normalized (x, y); K may be 0.
    score: confidence in [0, 1]. label/label_id: class, when known.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    label: str = ""
    label_id: int = -1


@dataclass(frozen=True)
class Classification:
    """One class of a classifier's output."""

    index: int
    name: str
    score: float


@dataclass(frozen=True)
class HandLandmarks:
    """One tracked hand.

    landmarks: (21, 3) float: x, y normalized to the image; z in MediaPipe's convention (depth relative to the
        wrist, same scale as x; smaller = nearer the camera).
    world_landmarks: (21, 3) float metres, origin at the hand's approximate geometric centre.
    handedness: "Left" or "Right" (convention set by the pipeline's ``mirrored_input`` option).
    handedness_score, presence: in [0, 1].
    roi: the NormalizedRect the landmark model was run on.
    palm: the palm detection this hand came from (None when tracked from the previous frame).
    """

    landmarks: np.ndarray
    world_landmarks: np.ndarray
    handedness: str
    handedness_score: float
    presence: float
    roi: NormalizedRect
    palm: Detection | None = None
    gesture: str = ""


@dataclass(frozen=True)
class Instances:
    """Per-instance results; every field has the same length N (detectron2's invariant).

    boxes: (N, 4) float pixels [x1, y1, x2, y2]; labels: (N,) int64; scores: (N,) float32;
    masks: (N, H, W) float32 probabilities at the image's resolution (or None);
    class_names: names indexed by label (may be empty).
    image_size: (H, W) of the image the instances refer to.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    image_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        for f in ("labels", "scores", "masks"):
            value = getattr(self, f)
            if value is not None and len(value) != n:
                raise ValueError(f"Instances.{f} has length {len(value)}, boxes has {n}; all must match")

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Instances:
        """Index/mask every per-instance field at once: ``inst[inst.scores > 0.5]``."""
        if isinstance(index, int):
            index = [index]
        return replace(
            self,
            boxes=self.boxes[index],
            labels=self.labels[index],
            scores=self.scores[index],
            masks=None if self.masks is None else self.masks[index],
        )

    def __iter__(self) -> Iterator[Instances]:
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0), class_names: Sequence[str] = ()) -> Instances:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            labels=np.zeros((0,), np.int64),
            scores=np.zeros((0,), np.float32),
            masks=np.zeros((0, *image_size), np.float32),
            class_names=tuple(class_names),
            image_size=image_size,
        )

    def label_names(self) -> list[str]:
        return [self.class_names[i] if 0 <= i < len(self.class_names) else str(i) for i in self.labels]


@dataclass(frozen=True)
class ClassActivation:
    """Class activation maps for one image (Zhou et al. 2016).

    classes: the classes mapped, best first (top-k) or as requested.
    logits: (num_classes,) float32.
    cams_raw: (K, h, w) float32, M_c at feature resolution (unnormalized, may be negative).
    cams: (K, H, W) float32 at image resolution, normalized to [0, 1] (min-max per map).
    boxes: (K, 4) float pixels [x1, y1, x2, y2], box of the largest component above 20% of each map's max.
    """

    classes: tuple[Classification, ...]
    logits: np.ndarray
    cams_raw: np.ndarray
    cams: np.ndarray
    boxes: np.ndarray


def to_jsonable(value: Any) -> Any:
    """Turn payloads (dataclasses, numpy arrays, lists of them) into JSON-ready Python objects."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
