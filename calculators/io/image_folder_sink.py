"""ImageFolderSink: writes every frame as an image file (RGB -> BGR for OpenCV's encoder here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from graphflow import Calculator, Context, Input, register_calculator


@register_calculator("ImageFolderSink")
class ImageFolderSinkCalculator(Calculator):
    """Saves each frame to ``folder/pattern``.

    Inputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Options: folder (created if missing), pattern (str.format fields: index = 0-based frame count,
      timestamp_us; the extension picks the format), e.g. "{index:06d}.png" or "{timestamp_us}.jpg".
    Counters: images_written.
    Example:
      - calculator: ImageFolderSink
        inputs: {IMAGE: annotated}
        options: {folder: frames, pattern: "{index:06d}.jpg"}
    """

    IMAGE = Input(np.ndarray)

    @dataclass
    class Options:
        folder: str = "frames"
        pattern: str = "{index:06d}.png"

    def open(self, ctx: Context) -> None:
        self._folder = Path(self.options.folder)
        self._folder.mkdir(parents=True, exist_ok=True)
        self._index = 0

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        name = self.options.pattern.format(index=self._index, timestamp_us=int(ctx.timestamp))
        path = self._folder / name
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"OpenCV could not write '{path}' (unknown image extension?)")
        self._index += 1
        ctx.count("images_written")
