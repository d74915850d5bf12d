"""On-screen display: swappable backends and the queue that carries frames from the graph to the main thread.

GUI toolkits want their windows driven from the main thread (Cocoa insists; GTK and Win32 are happier for it), and
graph nodes run on worker threads. So ``WindowSink`` never touches a window: it drops the latest frame into a
``DisplayQueue``, and the application's main thread calls ``DisplayQueue.pump(backend)``, which shows frames and
reads keys until the graph is done or the user presses 'q' or Esc.

Backends: ``OpenCVDisplay`` (highgui; the one place on the output side, with the video sinks, where RGB turns into
BGR), or anything with the ``DisplayBackend`` methods (the tests' recording backend lives in ``tests/io``).

``opencv-python-headless`` has no highgui. Decision: asking to show a window there is an error reported *before*
the graph starts (``HeadlessDisplayError``, whose message says to ``pip install 'opencv-python<5'``, or to write a
video with ``--output`` instead); nothing falls back silently.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # 27 = Esc


class HeadlessDisplayError(RuntimeError):
    """The installed OpenCV cannot open windows."""

    def __init__(self) -> None:
        super().__init__(
            "this OpenCV build has no GUI (opencv-python-headless is installed), so --show cannot open a window; "
            "run `pip uninstall -y opencv-python-headless && pip install 'opencv-python<5'` (below 5, as the "
            "headless build: README), "
            "or drop --show and write a video with --output out.mp4"
        )


class Flag(Protocol):
    """Anything with ``is_set()`` (a ``threading.Event``, or several of them combined)."""

    def is_set(self) -> bool: ...


class DisplayBackend(Protocol):
    """Shows RGB frames in named windows; ``poll_key`` waits up to ``delay_ms`` and returns a key code or -1."""

    def show(self, window: str, image: np.ndarray) -> None: ...
    def poll_key(self, delay_ms: int) -> int: ...
    def close(self) -> None: ...


def highgui_available() -> bool:
    """Whether cv2 was built with a GUI backend (False for opencv-python-headless)."""
    import cv2

    info = cv2.getBuildInformation()
    for line in info.splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return False


class OpenCVDisplay:
    """OpenCV highgui windows. Raises ``HeadlessDisplayError`` at construction when highgui is missing."""

    def __init__(self) -> None:
        if not highgui_available():
            raise HeadlessDisplayError()
        import cv2

        self._cv2 = cv2
        self._windows: set[str] = set()

    def show(self, window: str, image: np.ndarray) -> None:
        if window not in self._windows:
            self._cv2.namedWindow(window, self._cv2.WINDOW_NORMAL)
            self._windows.add(window)
        # RGB (graph convention) -> BGR (OpenCV's) for display
        self._cv2.imshow(window, self._cv2.cvtColor(image, self._cv2.COLOR_RGB2BGR))

    def poll_key(self, delay_ms: int) -> int:
        return int(self._cv2.waitKey(max(1, delay_ms)))

    def close(self) -> None:
        if self._windows:
            self._cv2.destroyAllWindows()
            self._cv2.waitKey(1)
        self._windows.clear()


class DisplayQueue:
    """Latest-frame mailbox between the graph (``put``, any thread) and the main thread (``pump``).

    The display never lags: a frame not yet shown when a newer one arrives is replaced, and counted in
    ``replaced``. ``finish()`` (called when the graph is done) makes ``pump`` return.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[str, np.ndarray] = {}
        self._finished = False
        self.replaced = 0
        self.shown = 0
        self.quit_requested = threading.Event()

    def put(self, window: str, image: np.ndarray) -> None:
        with self._cond:
            if window in self._pending:
                self.replaced += 1
            self._pending[window] = image
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        return self._finished

    def pump(self, backend: DisplayBackend, poll_ms: int = 10, until: Flag | None = None) -> bool:
        """Show frames on the calling (main) thread until ``finish()``, ``until`` is set, or 'q'/Esc is pressed.

        Returns True when the user asked to quit (``quit_requested`` is then set as well). Frames still pending
        at ``finish()`` are shown before returning. The backend is closed on the way out.
        """
        try:
            while True:
                with self._cond:
                    if not self._pending and not self._finished:
                        self._cond.wait(poll_ms / 1000.0)
                    batch, self._pending = self._pending, {}
                    done = self._finished and not batch
                for window, image in batch.items():
                    backend.show(window, image)
                    self.shown += 1
                key = backend.poll_key(1 if batch else poll_ms)
                if key != -1 and (key & 0xFF) in QUIT_KEYS:
                    self.quit_requested.set()
                    return True
                if done or (until is not None and until.is_set()):
                    return False
        finally:
            backend.close()
