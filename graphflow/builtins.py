"""Calculators every graph may use: pass-through, flow limiting for live video, loopback for tracking loops."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from .calculator import Calculator, Context
from .errors import StopSource
from .ports import Input, Output
from .registry import register_calculator
from .timestamp import Timestamp


@register_calculator("PassThrough")
class PassThroughCalculator(Calculator):
    """Forwards each packet unchanged (same payload object, same timestamp).

    Inputs:  IN - Any (one or more streams)
    Outputs: OUT - Any (as many streams as IN, index for index)
    Example:
      - calculator: PassThrough
        inputs: {IN: frames}
        outputs: {OUT: frames_copy}
    """

    IN = Input(Any, multiple=True)
    OUT = Output(Any, multiple=True)

    def open(self, ctx: Context) -> None:
        self.n = ctx.input_count("IN")

    def process(self, ctx: Context) -> None:
        if self.n == 1:
            p = ctx.packet("IN")
            if p is not None:
                ctx.emit_packet("OUT", p)  # same payload object, same timestamp: nothing is copied
            return
        for i in range(self.n):
            p = ctx.packet("IN", i)
            if p is not None:
                ctx.emit_packet("OUT", p, i)


@register_calculator("FlowLimiter")
class FlowLimiterCalculator(Calculator):
    """Lets a frame into the pipeline only while fewer than ``max_in_flight`` frames are being processed.

    Live cameras produce frames faster than a model can process them; queueing them makes the output lag further
    and further behind reality. This node drops (and counts) frames instead, so the pipeline always works on a
    recent one. ``FINISHED`` must come back over a back edge from the pipeline's last stream (one packet per
    admitted frame).

    Inputs:  IN - Any (frames); FINISHED - Any (back edge: one packet per finished frame)
    Outputs: OUT - Any (the admitted frames, same timestamps)
    Options: max_in_flight - frames allowed inside at once; max_in_queue - newest frames kept waiting (0: drop)
    Counters: dropped_frames
    Example:
      - calculator: FlowLimiter
        inputs: {IN: camera, FINISHED: {stream: hands, back_edge: true}}
        outputs: {OUT: throttled}
    """

    IN = Input(Any)
    FINISHED = Input(Any, optional=True)
    OUT = Output(Any)
    input_policy = "immediate"
    timestamp_offset = None
    process_timestamp_bounds = True

    @dataclass
    class Options:
        max_in_flight: int = 1
        max_in_queue: int = 0

        def __post_init__(self) -> None:
            if self.max_in_flight < 1 or self.max_in_queue < 0:
                raise ValueError("FlowLimiter needs max_in_flight >= 1 and max_in_queue >= 0")

    def open(self, ctx: Context) -> None:
        self.in_flight: list[int] = []  # timestamps admitted and not yet finished, ascending
        self.waiting: deque[Any] = deque()

    def process(self, ctx: Context) -> None:
        # A frame is finished when FINISHED carries a packet at its timestamp, or when FINISHED's bound passes it
        # (the pipeline produced nothing for it): matched by timestamp, as MediaPipe's FlowLimiterCalculator does,
        # so a frame that never yields an output still leaves.
        finished = ctx.packet("FINISHED")
        if finished is not None and int(finished.timestamp) in self.in_flight:
            self.in_flight.remove(int(finished.timestamp))
        bound = int(ctx.input_bound("FINISHED"))
        while self.in_flight and self.in_flight[0] < bound:
            self.in_flight.pop(0)
        frame = ctx.packet("IN")
        limit = self.options.max_in_flight
        if frame is not None:
            self.waiting.append(frame)
            while len(self.waiting) > self.options.max_in_queue + (1 if len(self.in_flight) < limit else 0):
                dropped = self.waiting.popleft()
                ctx.count("dropped_frames")
                ctx.set_bound("OUT", dropped.timestamp + 1)
        while self.waiting and len(self.in_flight) < limit:
            admitted = self.waiting.popleft()
            ctx.emit_packet("OUT", admitted)
            self.in_flight.append(int(admitted.timestamp))
        if ctx.input_bound("IN") == Timestamp.DONE and not self.waiting:
            raise StopSource  # no more frames: finished, whatever is still in flight


@register_calculator("PreviousLoopback")
class PreviousLoopbackCalculator(Calculator):
    """For each MAIN packet at T, emits at T the LOOP packet that came for the previous MAIN timestamp.

    This closes tracking loops: e.g. the hand ROIs computed for frame k-1 arrive with frame k. On the first MAIN
    packet (and whenever LOOP carried nothing for the previous timestamp) the output is empty at T.

    Inputs:  MAIN - Any (the clock); LOOP - Any (back edge)
    Outputs: PREV_LOOP - Any
    Example:
      - calculator: PreviousLoopback
        inputs: {MAIN: image, LOOP: {stream: next_rois, back_edge: true}}
        outputs: {PREV_LOOP: prev_rois}
    """

    MAIN = Input(Any)
    LOOP = Input(Any)
    PREV_LOOP = Output(Any)
    input_policy = "immediate"
    timestamp_offset = None
    process_timestamp_bounds = True

    def open(self, ctx: Context) -> None:
        self.pending: deque[tuple[Timestamp, Timestamp | None]] = deque()  # (main ts, previous main ts)
        self.prev_main: Timestamp | None = None
        self.loop_values: dict[int, Any] = {}

    def process(self, ctx: Context) -> None:
        main = ctx.packet("MAIN")
        if main is not None:
            self.pending.append((main.timestamp, self.prev_main))
            self.prev_main = main.timestamp
        loop = ctx.packet("LOOP")
        if loop is not None:
            self.loop_values[int(loop.timestamp)] = loop
        loop_bound = int(ctx.input_bound("LOOP"))
        while self.pending:
            ts, prev = self.pending[0]
            if prev is None:
                ctx.set_bound("PREV_LOOP", ts + 1)
            elif int(prev) in self.loop_values:
                ctx.emit("PREV_LOOP", self.loop_values.pop(int(prev)).payload, ts)
            elif loop_bound > int(prev):
                ctx.set_bound("PREV_LOOP", ts + 1)
            else:
                break
            self.pending.popleft()
        for k in [k for k in self.loop_values if self.pending and k < int(self.pending[0][1] or 0)]:
            del self.loop_values[k]
        if ctx.input_bound("MAIN") == Timestamp.DONE and not self.pending:
            raise StopSource  # the loop's clock has ended: close PREV_LOOP so the loop can finish
