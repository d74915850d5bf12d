"""Reading frames with OpenCV from a webcam, a video file, a network stream, or a folder/glob of images.

This module and the OpenCV sinks (``display.py``, ``video_writer_sink.py``, ``image_folder_sink.py``) are the
only places where BGR meets RGB: OpenCV decodes to BGR, ``FrameReader`` converts every frame to RGB with
``cv2.cvtColor`` right after decoding, and from here on every image in a graph is (H, W, 3) uint8 RGB.

Timestamps (int microseconds, strictly increasing):

- webcams and network streams (``rtsp://``, ``rtmp://``, ``udp://``, ``tcp://``, an ``http(s)://`` URL that does
  not end in a video file extension): the capture time, ``time.monotonic_ns() // 1000`` taken right after the
  frame was grabbed (same clock as ``Frame.capture_time``, so latency = now - timestamp);
- video files (local or ``http(s)://.../x.mp4``): the container's presentation time, repaired by
  ``TimestampRepair`` where it is missing, repeated or goes backwards (each repair counted);
- image folders and globs: ``index / fps`` (fps defaults to 30), in sorted file-name order.

Failure handling: a frame that fails to decode is skipped and counted (``stats["decode_failures"]``); a file that
ends before its container's frame count (truncated, or corrupt past the decoder's recovery) counts the frames never
read (``stats["missing_frames"]``); the end of a file or folder ends iteration (or starts over with ``loop=True``);
a pass over a file or folder that yields no frame at all (nothing decodable, or ``start``/``end`` select nothing)
raises ``NoFramesError`` instead of ending silently or looping on nothing; a live source that stops delivering is
reopened up to ``retries`` times, ``retry_delay`` seconds apart, then ``SourceLostError`` is raised.
``should_stop`` (e.g. a ``threading.Event``'s ``is_set``) is checked before every grab and image load, so Ctrl-C
ends a reader that is skipping undecodable frames, not only between frames.
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .timestamps import TimestampRepair

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")
_LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://")


class SourceLostError(IOError):
    """A live source stopped delivering frames and could not be reopened."""


class SourceOpenError(IOError):
    """An input could not be opened at all (missing file, no camera at that index, bad URL)."""


class NoFramesError(SourceOpenError):
    """A pass over a file or image folder yielded no frame (nothing decodable, or start/end select nothing)."""


@dataclass(frozen=True)
class SourceSpec:
    """What an ``input`` string names.

    kind: "camera" (webcam index), "stream" (live network URL), "file" (video file or file URL), "images".
    target: the camera index, the URL/path, or the sorted list of image paths.
    """

    kind: str
    target: Any

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "stream")


def classify_input(text: str) -> SourceSpec:
    """Decide what ``text`` names: "0" -> camera 0, a URL, a video file, an image file, folder or glob."""
    text = str(text).strip()
    if re.fullmatch(r"\d+", text):
        return SourceSpec("camera", int(text))
    lower = text.lower()
    if lower.startswith(_LIVE_SCHEMES):
        return SourceSpec("stream", text)
    if lower.startswith(("http://", "https://")):
        path = lower.split("?", 1)[0]
        return SourceSpec("file" if path.endswith(VIDEO_EXTENSIONS) else "stream", text)
    path = Path(text).expanduser()
    if path.is_file():  # before the glob test: an existing name may contain '[' or '*'
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return SourceSpec("images", [str(path)])
        return SourceSpec("file", str(path))
    if path.is_dir():
        images = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise SourceOpenError(f"folder '{text}' holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return SourceSpec("images", images)
    if any(ch in text for ch in "*?["):
        images = sorted(p for p in glob.glob(str(path)) if Path(p).suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise SourceOpenError(f"glob '{text}' matches no images")
        return SourceSpec("images", images)
    raise SourceOpenError(
        f"input '{text}' is not a camera index, a URL, an existing file, a folder or a glob of images"
    )


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    image: (H, W, 3) uint8 RGB. timestamp: int microseconds (see the module docstring).
    capture_time: ``time.monotonic()`` seconds when the frame left the decoder (for end-to-end latency).
    index: position in decode order, counting skipped (undecodable) frames too.
    """

    image: np.ndarray
    timestamp: int
    capture_time: float
    index: int


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the reader uses (tests pass fakes)."""

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name
    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop: int) -> float: ...
    def set(self, prop: int, value: float) -> bool: ...
    def release(self) -> None: ...


def opencv_capture(target: int | str) -> Capture:
    """Open ``target`` with OpenCV (FFmpeg backend for files and URLs)."""
    if isinstance(target, int):
        return cv2.VideoCapture(target)
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG)


def bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR (or gray/BGRA) decode -> (H, W, 3) uint8 RGB, C-contiguous."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize_to(image: np.ndarray, width: int = 0, height: int = 0) -> np.ndarray:
    """Resize to width x height; a 0 keeps the aspect ratio from the other; both 0 = unchanged."""
    h, w = image.shape[:2]
    if not width and not height:
        return image
    if not width:
        width = max(1, round(w * height / h))
    if not height:
        height = max(1, round(h * width / w))
    if (width, height) == (w, h):
        return image
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


class FrameReader:
    """Iterate ``Frame``s from any input ``classify_input`` understands.

    Options mirror ``VideoSource.Options``: width/height (resize; 0 = keep), fps (requested camera rate, the
    playback rate of image folders, or, for files, a cap: frames closer than 1/fps to the last one are dropped),
    loop (files and folders start over at the end), start/end (seconds of stream time; end 0 = to the end),
    max_frames (0 = no limit), realtime (files/folders are paced to their timestamps, like a camera),
    retries/retry_delay (live sources). ``stats`` counts frames, decode failures, timestamp repairs, reconnects.
    """

    def __init__(
        self,
        source: str | SourceSpec,
        *,
        width: int = 0,
        height: int = 0,
        fps: float = 0.0,
        loop: bool = False,
        start: float = 0.0,
        end: float = 0.0,
        max_frames: int = 0,
        realtime: bool = False,
        retries: int = 3,
        retry_delay: float = 1.0,
        capture_factory: Callable[[int | str], Capture] = opencv_capture,
        image_loader: Callable[[str], np.ndarray | None] = cv2.imread,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.spec = source if isinstance(source, SourceSpec) else classify_input(source)
        self.width, self.height, self.fps = width, height, fps
        self.loop, self.start, self.end, self.max_frames = loop, start, end, max_frames
        self.realtime = realtime
        self.retries, self.retry_delay = retries, retry_delay
        self._factory, self._load_image = capture_factory, image_loader
        self._clock, self._sleep = clock, sleep
        self._should_stop = should_stop or (lambda: False)
        self.stats: Counter[str] = Counter()
        self.repair = TimestampRepair()
        self._cap: Capture | None = None
        self._closed = False

    # ---- public ----
    @property
    def live(self) -> bool:
        return self.spec.live

    def open(self) -> None:
        """Open the capture now (files, cameras, streams), so an input that cannot be opened fails here rather than
        at the first frame; image lists need nothing. Raises ``SourceOpenError``."""
        if self.spec.kind != "images":
            self._open()

    def frame_count(self) -> int:
        """Frames the iteration will yield at most (0 when unknown or unbounded: live sources, loops)."""
        if self.live or self.loop:
            return 0
        if self.spec.kind == "images":
            n = len(self.spec.target)
        else:
            cap = self._open()
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
            if n > 0 and fps > 0 and (self.start or self.end):
                last = min(n, round(self.end * fps)) if self.end else n
                n = max(0, last - round(self.start * fps))
            if n > 0 and fps > 0 and self.fps and self.fps < fps:
                n = int(np.ceil(n * self.fps / fps))
        return min(n, self.max_frames) if self.max_frames else n

    def __iter__(self) -> Iterator[Frame]:
        if self.spec.kind == "images":
            frames = self._iter_images()
        elif self.live:
            frames = self._iter_live()
        else:
            frames = self._iter_file()
        emitted = 0
        t0_stream: int | None = None
        t0_clock = 0.0
        for frame in frames:
            if self.max_frames and emitted >= self.max_frames:
                break
            if self.realtime and not self.live:
                if t0_stream is None:
                    t0_stream, t0_clock = frame.timestamp, self._clock()
                delay = t0_clock + (frame.timestamp - t0_stream) / 1e6 - self._clock()
                if delay > 0:
                    self._sleep(delay)
            emitted += 1
            self.stats["frames"] += 1
            yield frame
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    # ---- one generator per kind ----
    def _iter_images(self) -> Iterator[Frame]:
        fps = self.fps or 30.0
        period = round(1_000_000 / fps)
        index = 0
        pass_offset = 0
        while True:
            yielded = 0
            for i, path in enumerate(self.spec.target):
                if self._should_stop():
                    return
                in_pass = i * period  # start/end are times within one pass; the pass offset only keeps ts increasing
                if in_pass < self.start * 1e6 or (self.end and in_pass >= self.end * 1e6):
                    continue
                decoded = self._load_image(path)
                if decoded is None or decoded.size == 0:
                    self.stats["decode_failures"] += 1
                    index += 1
                    continue
                yield Frame(self._finish(decoded), pass_offset + in_pass, self._clock(), index)
                yielded += 1
                index += 1
            if not yielded:
                raise self._no_frames()
            if not self.loop:
                return
            pass_offset += len(self.spec.target) * period

    def _no_frames(self) -> NoFramesError:
        failed = self.stats["decode_failures"]
        window = f", start={self.start:g} s, end={self.end:g} s" if (self.start or self.end) else ""
        return NoFramesError(
            f"{self._describe()} gave no frame ({failed} undecodable{window}); check the file(s) and the "
            "start/end options"
        )

    def _iter_file(self) -> Iterator[Frame]:
        cap = self._open()
        self.repair.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if self.start > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, self.start * 1000.0)
        offset = 0
        index = 0
        yielded = 0  # frames of this pass
        next_due: float | None = None
        while True:
            if self._should_stop():
                return
            if not cap.grab():
                self._count_missing(cap, index)
                if not yielded:
                    raise self._no_frames()
                if not self.loop:
                    return
                cap = self._reopen_file()
                offset, yielded = self.repair.rebase(), 0
                continue
            raw_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            ok, decoded = cap.retrieve()
            index += 1
            if not ok or decoded is None or decoded.size == 0:
                self.stats["decode_failures"] += 1
                continue
            stream_raw = raw_ms * 1000.0 if raw_ms is not None else None
            if stream_raw is not None and self.end and stream_raw >= self.end * 1e6:
                if not yielded:
                    raise self._no_frames()
                if not self.loop:
                    return
                cap = self._reopen_file()
                offset, yielded = self.repair.rebase(), 0
                continue
            if stream_raw is not None and stream_raw < self.start * 1e6 - 1:
                continue  # the seek landed before ``start``
            ts = self.repair(None if stream_raw is None else stream_raw + offset)
            if self.fps:
                # keep frames on a 1/fps grid, tolerant by half a source frame so 25 -> 10 fps keeps 10, not 8.3
                period, tolerance = 1e6 / self.fps, self.repair.period_us / 2
                if next_due is not None and ts < next_due - tolerance:
                    self.stats["dropped_by_fps"] += 1
                    continue
                next_due = ts + period if next_due is None else max(next_due + period, ts + period - tolerance)
            yielded += 1
            yield Frame(self._finish(decoded), ts, self._clock(), index - 1)

    def _count_missing(self, cap: Capture, grabbed: int) -> None:
        """At a file's premature end (truncated or corrupt: the decoder gives up before the container's frame
        count), count the frames never read as ``missing_frames`` instead of ending silently."""
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if total > grabbed and not self.start and not self.end:
            self.stats["missing_frames"] += total - grabbed

    def _iter_live(self) -> Iterator[Frame]:
        cap = self._open()
        index = 0
        last_ts = -1
        failures = 0
        while True:
            if self._should_stop():
                return
            if not cap.grab():
                failures += 1
                if failures > self.retries:
                    raise SourceLostError(
                        f"{self._describe()} stopped delivering frames and {self.retries} reconnect attempt(s) "
                        f"failed; check the cable/network, or raise the source's 'retries' option"
                    )
                self.stats["reconnects"] += 1
                self._sleep(self.retry_delay)
                cap = self._reopen_live()
                continue
            failures = 0
            grabbed_us = time.monotonic_ns() // 1000  # the capture time: right after the grab, before decoding
            capture_time = self._clock()
            ok, decoded = cap.retrieve()
            index += 1
            if not ok or decoded is None or decoded.size == 0:
                self.stats["decode_failures"] += 1
                continue
            ts = max(grabbed_us, last_ts + 1)
            last_ts = ts
            yield Frame(self._finish(decoded), ts, capture_time, index - 1)

    # ---- helpers ----
    def _finish(self, decoded: np.ndarray) -> np.ndarray:
        # the one BGR -> RGB conversion of the input side
        return resize_to(bgr_to_rgb(decoded), self.width, self.height)

    def _describe(self) -> str:
        if self.spec.kind == "camera":
            return f"camera {self.spec.target}"
        return f"'{self.spec.target}'"

    def _open(self) -> Capture:
        if self._cap is not None:
            return self._cap
        cap = self._factory(self.spec.target)
        if not cap.isOpened():
            cap.release()
            if self.spec.kind == "camera":
                raise SourceOpenError(
                    f"no camera at index {self.spec.target}; pass a video file instead "
                    f"(e.g. --input path/to/video.mp4) or another index"
                )
            raise SourceOpenError(f"OpenCV cannot open {self._describe()} (missing file, unsupported codec, bad URL?)")
        if self.spec.kind == "camera":
            if self.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            if self.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap
        return cap

    def _reopen_file(self) -> Capture:
        self.close()
        cap = self._open()
        if self.start > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, self.start * 1000.0)
        return cap

    def _reopen_live(self) -> Capture:
        self.close()
        try:
            return self._open()
        except SourceOpenError:
            return _DeadCapture()


class _DeadCapture:
    """Stands in for a live source that could not be reopened yet (its grab fails, so the retry loop goes on)."""

    def isOpened(self) -> bool:  # noqa: N802
        return False

    def grab(self) -> bool:
        return False

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        return False, None

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False

    def release(self) -> None:
        pass


def camera_available(index: int = 0) -> bool:
    """Whether a camera answers at ``index`` (opened and released at once; on Linux, no /dev/videoN = no)."""
    if os.path.isdir("/dev") and os.uname().sysname == "Linux" and not os.path.exists(f"/dev/video{index}"):
        return False
    cap = cv2.VideoCapture(index)
    try:
        return bool(cap.isOpened())
    finally:
        cap.release()
