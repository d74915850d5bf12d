"""WindowSink: sends frames to the main thread's on-screen window (see ``display.py`` for why it is split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphflow import Calculator, Context, Input, SideInput, register_calculator

from .display import DisplayQueue


@register_calculator("WindowSink")
class WindowSinkCalculator(Calculator):
    """Puts each frame into a ``DisplayQueue``; the application's main thread shows it (``DisplayQueue.pump``).

    The queue keeps only the newest frame per window, so a slow display never slows the graph or lags behind it.
    Pressing 'q' or Esc in the window sets ``DisplayQueue.quit_requested``; ``run_app`` then stops the source
    and the graph drains and closes cleanly.

    Inputs:
      IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Side inputs:
      DISPLAY - DisplayQueue, created and pumped by the application (``calculators.io.app.run_app`` does both)
    Options: window - the window title.
    Counters: frames_queued.
    Example:
      - calculator: WindowSink
        inputs: {IMAGE: annotated}
        side_inputs: {DISPLAY: display}
        options: {window: graphflow}
    """

    IMAGE = Input(np.ndarray)
    DISPLAY = SideInput(DisplayQueue)

    @dataclass
    class Options:
        window: str = "graphflow"

    def open(self, ctx: Context) -> None:
        queue = ctx.side("DISPLAY")
        if not isinstance(queue, DisplayQueue):
            raise TypeError(
                "WindowSink needs side input DISPLAY = calculators.io.display.DisplayQueue() pumped on the main "
                f"thread (run_app does this); got {type(queue).__name__}"
            )
        self._queue = queue

    def process(self, ctx: Context) -> None:
        image = ctx.get("IMAGE")
        if image is None:
            return
        self._queue.put(self.options.window, image)
        ctx.count("frames_queued")
