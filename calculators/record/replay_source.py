"""ReplaySource: a recorded stream as a graph source, in place of VideoSource."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphflow import Calculator, Context, Output, SideInput, StopSource, register_calculator
from graphflow.record import Pacer, Recording, looped
from graphflow.record.reader import RecordedPacket
from graphflow.record.replay import DONE_US
from graphflow.record.writer import KIND_BOUNDS


@register_calculator("ReplaySource")
class ReplaySourceCalculator(Calculator):
    """Emits one recorded stream of an MCAP recording with its recorded timestamps and bound advances.

    Outputs: IMAGE - the recorded payloads of ``options.stream`` (np.ndarray (H, W, 3) uint8 RGB for an image
      stream), at the recorded timestamps (int microseconds, strictly increasing; shifted per pass with loop)
    Side inputs: STOP - threading.Event (optional): once set, the source ends at its next packet
    Options: path (.mcap), stream (default "image"), speed (1 recorded pace, 0 as fast as possible, x scaled),
      loop (start over at the end), max_frames (0 = all)
    Counters: frames, bounds
    Example (in place of VideoSource):
      - calculator: ReplaySource
        outputs: {IMAGE: image}
        options: {path: run.mcap, stream: image, speed: 1}
    """

    IMAGE = Output(Any)
    STOP = SideInput(threading.Event, optional=True)
    timestamp_offset = None  # a source: it sets its own timestamps

    @dataclass
    class Options:
        path: str = ""
        stream: str = "image"
        speed: float = 1.0
        loop: bool = False
        max_frames: int = 0

    def open(self, ctx: Context) -> None:
        o = self.options
        recording = Recording(o.path)  # a missing, foreign or damaged file fails here, before any process()
        if o.stream not in recording.streams():
            raise ValueError(f"ReplaySource: {o.path} has no stream '{o.stream}' "
                             f"(recorded: {', '.join(recording.streams())})")
        self._stop: threading.Event = ctx.side("STOP") or threading.Event()
        self._pacer = Pacer(o.speed, self._stop)
        self._packets: Iterator[RecordedPacket] = looped(recording, [o.stream], loop=o.loop)
        self._frames = 0

    def process(self, ctx: Context) -> None:
        o = self.options
        if o.max_frames and self._frames >= o.max_frames:
            raise StopSource
        for p in self._packets:
            if p.kind == KIND_BOUNDS:
                if p.timestamp_us != DONE_US:
                    ctx.set_bound("IMAGE", p.timestamp_us)
                    ctx.count("bounds")
                continue
            if not self._pacer.wait(p.timestamp_us):
                raise StopSource
            ctx.emit("IMAGE", p.payload, timestamp=p.timestamp_us)
            ctx.count("frames")
            self._frames += 1
            return
        raise StopSource
