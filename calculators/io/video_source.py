"""VideoSource: frames from a webcam, a video file, a network stream or a folder/glob of images, into a graph."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from graphflow import Calculator, Context, Output, SideInput, StopSource, register_calculator

from .frame_reader import Frame, FrameReader

#: what 0 means for each numeric option (they are never negative)
NON_NEGATIVE_MEANING = {
    "width": "keep", "height": "keep", "fps": "the source's rate", "start": "the beginning", "end": "to the end",
    "max_frames": "all", "retries": "no reconnect", "retry_delay": "retry at once",
}


@register_calculator("VideoSource")
class VideoSourceCalculator(Calculator):
    """Emits decoded frames (RGB; the BGR->RGB conversion happens in ``frame_reader.py``) until the input ends.

    Outputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB, one packet per frame; timestamps are the capture time (live
          sources) or the container's repaired presentation time (files), int microseconds, strictly increasing
      CAPTURE_TIME - float, time.monotonic() seconds when the frame was decoded (for end-to-end latency)
    Side inputs:
      STOP - threading.Event (optional): once set, the source ends cleanly at the next frame (Ctrl-C, 'q')
    Options: input ("0" webcam index | file | URL | folder | glob), width/height (0 = keep), fps (camera rate,
      folder playback rate, or a cap for files), loop, start/end (seconds; end 0 = to the end), max_frames
      (0 = all), realtime (pace files to their timestamps, like a camera), retries/retry_delay (live sources).
    Counters: decode_failures, missing_frames (a file that ends early), timestamp_repairs, reconnects,
      dropped_by_fps. A pass over a file or folder that yields no frame fails the node (``NoFramesError``).
    Example:
      - calculator: VideoSource
        outputs: {IMAGE: image}
        options: {input: ../shared/data/hands/videos/hand_landmarker_test_video.mp4, max_frames: 50}
    """

    IMAGE = Output(np.ndarray)
    CAPTURE_TIME = Output(float, optional=True)
    STOP = SideInput(threading.Event, optional=True)
    timestamp_offset = None  # a source: it sets its own timestamps

    @dataclass
    class Options:
        input: str = "0"
        width: int = 0
        height: int = 0
        fps: float = 0.0
        loop: bool = False
        start: float = 0.0
        end: float = 0.0
        max_frames: int = 0
        realtime: bool = False
        retries: int = 3
        retry_delay: float = 1.0

        def __post_init__(self) -> None:
            for name in ("width", "height", "fps", "start", "end", "max_frames", "retries", "retry_delay"):
                if getattr(self, name) < 0:
                    raise ValueError(f"option '{name}' must be >= 0 (0 = {NON_NEGATIVE_MEANING[name]}), "
                                     f"got {getattr(self, name)}")
            if self.end and self.end <= self.start:
                raise ValueError(f"option 'end' ({self.end}) must be after 'start' ({self.start}), or 0 = to the end")

    def open(self, ctx: Context) -> None:
        o = self.options
        self._stop: threading.Event | None = ctx.side("STOP")
        stop = self._stop
        self.reader = FrameReader(
            o.input, width=o.width, height=o.height, fps=o.fps, loop=o.loop, start=o.start, end=o.end,
            max_frames=o.max_frames, realtime=o.realtime, retries=o.retries, retry_delay=o.retry_delay,
            should_stop=stop.is_set if stop is not None else None,
        )
        self.reader.open()  # a missing file or camera fails in open(), before any process() call
        self._frames: Iterator[Frame] = iter(self.reader)
        self._reported: dict[str, int] = {}

    def process(self, ctx: Context) -> None:
        if self._stop is not None and self._stop.is_set():
            raise StopSource
        try:
            frame = next(self._frames)
        except StopIteration:
            self._report(ctx)
            raise StopSource from None
        ctx.emit("IMAGE", frame.image, timestamp=frame.timestamp)
        if ctx.output_connected("CAPTURE_TIME"):
            ctx.emit("CAPTURE_TIME", frame.capture_time, timestamp=frame.timestamp)
        self._report(ctx)

    def close(self, ctx: Context) -> None:
        self._report(ctx)
        self.reader.close()

    def _report(self, ctx: Context) -> None:
        """Mirror the reader's counters into the node's counters (as deltas)."""
        now = dict(self.reader.stats)
        now["timestamp_repairs"] = self.reader.repair.total_repairs
        for name, value in now.items():
            if name == "frames":
                continue
            delta = value - self._reported.get(name, 0)
            if delta:
                ctx.count(name, delta)
                self._reported[name] = value
