"""ImageFolderSink: writes every frame as an image file (RGB -> BGR for OpenCV's encoder here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from graphflow import Calculator, Context, Input, register_calculator

from .output_file import describe_os_error


@register_calculator("ImageFolderSink")
class ImageFolderSinkCalculator(Calculator):
    """Saves each frame to ``folder/pattern``.

    Inputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Options: folder (created if missing; its parent must exist), pattern (str.format fields: index = 0-based frame
      count, timestamp_us; the extension picks the format), e.g. "{index:06d}.png" or "{timestamp_us}.jpg". Every
      name the pattern makes must stay inside ``folder`` (no "..", no absolute path): anything else is an error.
    Counters: images_written. A failed write is an error naming the file and the cause (e.g. no space left).
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
        self._folder.mkdir(exist_ok=True)  # one level: a missing parent is an error, not a tree made on request
        self._root = self._folder.resolve()
        self._path(self._name(0, 0))  # a pattern that leaves the folder fails here, before any frame
        self._extension = Path(self._name(0, 0)).suffix.lower()
        if not cv2.haveImageWriter(f"x{self._extension}"):
            raise ValueError(f"ImageFolderSink pattern {self.options.pattern!r}: OpenCV cannot write "
                             f"'{self._extension or '(no extension)'}' images; end it in .png or .jpg")
        self._index = 0

    def _name(self, index: int, timestamp_us: int) -> str:
        return self.options.pattern.format(index=index, timestamp_us=timestamp_us)

    def _path(self, name: str) -> Path:
        """``folder/name``, refused unless it stays inside ``folder`` (a pattern is file-name data, not a path)."""
        path = self._folder / name
        if Path(name).is_absolute() or not path.resolve().is_relative_to(self._root):
            raise ValueError(f"ImageFolderSink pattern {self.options.pattern!r} names '{name}', outside the folder "
                             f"'{self._folder}'; use a plain file name pattern such as '{{index:06d}}.png'")
        return path

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        path = self._path(self._name(self._index, int(ctx.timestamp)))
        ok, encoded = cv2.imencode(self._extension, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"OpenCV could not encode frame {self._index} as '{self._extension}'")
        try:
            with open(path, "wb") as f:
                f.write(encoded.tobytes())
        except OSError as exc:
            path.unlink(missing_ok=True)  # no half-written image left behind
            raise OSError(f"cannot write '{path}': {describe_os_error(exc)}") from exc
        self._index += 1
        ctx.count("images_written")
