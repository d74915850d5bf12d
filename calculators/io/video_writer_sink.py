"""VideoWriterSink: writes frames to a video file with OpenCV (RGB -> BGR here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from graphflow import Calculator, Context, Input, register_calculator

from .output_file import PendingOutput, disk_full, no_space_error

FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
# OpenCV's VideoWriter.write reports nothing, so the free space is checked every this many frames (a statvfs call)
SPACE_CHECK_EVERY = 10


def estimate_fps(timestamps_us: list[int], default: float = 30.0) -> float:
    """Frame rate from the median interval of increasing timestamps (``default`` when fewer than two)."""
    if len(timestamps_us) < 2:
        return default
    intervals = np.diff(np.asarray(timestamps_us, np.float64))
    median = float(np.median(intervals[intervals > 0])) if (intervals > 0).any() else 0.0
    return 1e6 / median if median > 0 else default


@register_calculator("VideoWriterSink")
class VideoWriterSinkCalculator(Calculator):
    """Appends every frame to a video file; the file is finalised in ``close`` (also after Ctrl-C or an error).

    The video is written under a temporary name beside ``path`` and renamed onto it in ``close`` only after it was
    reopened and holds every frame written (see ``output_file.py``): a full disk or a failing encoder is an error
    naming the file and the cause, never a silently unplayable file, and a run that wrote no frame leaves an
    existing ``path`` untouched. The parent directory must exist.

    Inputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB; frames of another size than the first are resized to it
    Options: path (.mp4/.avi/...), fps (0 = estimated from the first ``probe_frames`` timestamps), fourcc
      ("" = by extension: mp4v for .mp4, MJPG for .avi), probe_frames.
    Counters: frames_written, frames_resized.
    Example:
      - calculator: VideoWriterSink
        inputs: {IMAGE: annotated}
        options: {path: out.mp4}
    """

    IMAGE = Input(np.ndarray)

    @dataclass
    class Options:
        path: str = "out.mp4"
        fps: float = 0.0
        fourcc: str = ""
        probe_frames: int = 10

    def open(self, ctx: Context) -> None:
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._pending: list[tuple[int, np.ndarray]] = []
        self._written = 0
        path = Path(self.options.path)
        fourcc = self.options.fourcc or FOURCC_BY_SUFFIX.get(path.suffix.lower(), "mp4v")
        if len(fourcc) != 4:
            raise ValueError(f"fourcc must be 4 characters, got {fourcc!r}")
        self._fourcc = fourcc
        self._out = PendingOutput(path, "VideoWriterSink")

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        if self._writer is None:
            self._pending.append((int(ctx.timestamp), image))
            if self.options.fps > 0 or len(self._pending) >= max(1, self.options.probe_frames):
                self._start(ctx)
            return
        self._write(ctx, image)

    def close(self, ctx: Context) -> None:
        try:
            if self._writer is None and self._pending:
                self._start(ctx)
            if self._writer is not None:
                self._writer.release()
                self._writer = None
                self._verify()
                self._out.commit()
        finally:
            self._out.discard()  # after commit() there is nothing left to remove

    def _verify(self) -> None:
        """Reopen the finished file: it must decode and hold every frame written, else say why it does not."""
        path, temp = self._out.path, self._out.temp
        cap = cv2.VideoCapture(str(temp), cv2.CAP_FFMPEG)
        try:
            readable = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
        finally:
            cap.release()
        if readable >= self._written:
            return
        if disk_full(temp.parent):
            raise no_space_error(path)
        raise OSError(f"cannot write '{path}': the finished video holds {readable} of the {self._written} frames "
                      f"written (codec {self._fourcc!r}); try another --output extension such as .avi")

    def _start(self, ctx: Context) -> None:
        fps = self.options.fps or estimate_fps([t for t, _ in self._pending])
        h, w = self._pending[0][1].shape[:2]
        self._size = (w, h)
        temp = str(self._out.temp)
        self._writer = cv2.VideoWriter(temp, cv2.VideoWriter_fourcc(*self._fourcc), fps, (w, h))
        if not self._writer.isOpened():
            self._writer = None
            raise OSError(f"OpenCV cannot write '{self.options.path}' with codec {self._fourcc!r}; try a .avi path")
        pending, self._pending = self._pending, []
        for _, image in pending:
            self._write(ctx, image)

    def _write(self, ctx: Context, image: np.ndarray) -> None:
        assert self._writer is not None and self._size is not None
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
            ctx.count("frames_resized")
        # RGB (graph convention) -> BGR (OpenCV's) on the way out
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self._written += 1
        if self._written % SPACE_CHECK_EVERY == 0 and disk_full(self._out.temp.parent):
            raise no_space_error(self._out.path)
        ctx.count("frames_written")
