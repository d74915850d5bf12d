"""A display backend for tests: records the frames shown and replays scripted key presses (no window)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

import numpy as np


class FakeDisplay:
    """A backend for tests: records (window, image) pairs and returns scripted keys.

    keys: key codes returned by successive ``poll_key`` calls made after a frame was shown (then -1 forever).
    ``quit_after``: press 'q' once this many frames have been shown (0 = never).
    """

    def __init__(self, keys: Iterable[int] = (), quit_after: int = 0) -> None:
        self.frames: list[tuple[str, np.ndarray]] = []
        self.keys = deque(keys)
        self.quit_after = quit_after
        self.closed = False
        self.polls = 0
        self.thread_ids: set[int] = set()

    def show(self, window: str, image: np.ndarray) -> None:
        self.thread_ids.add(threading.get_ident())
        self.frames.append((window, image))

    def poll_key(self, delay_ms: int) -> int:
        self.polls += 1
        if self.quit_after and len(self.frames) >= self.quit_after:
            return ord("q")
        if self.frames and self.keys:
            return self.keys.popleft()
        time.sleep(min(delay_ms, 5) / 1000.0)
        return -1

    def close(self) -> None:
        self.closed = True
