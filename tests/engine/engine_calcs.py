"""Small calculators used by the engine tests (registered under Test* names)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from graphflow import Calculator, Context, Input, Output, SideInput, StopSource, register_calculator


@register_calculator("TestCountingSource")
class CountingSource(Calculator):
    """Emits 0..count-1 at timestamps start + i*step."""

    OUT = Output(int)
    timestamp_offset = None

    @dataclass
    class Options:
        count: int = 10
        start: int = 0
        step: int = 1

    def open(self, ctx: Context) -> None:
        self.i = 0

    def process(self, ctx: Context) -> None:
        if self.i >= self.options.count:
            raise StopSource
        ctx.emit("OUT", self.i, self.options.start + self.i * self.options.step)
        self.i += 1


@register_calculator("TestAdd")
class Add(Calculator):
    """Sum of A and B at each timestamp; an empty input counts as ``missing``."""

    A = Input(int)
    B = Input(int)
    SUM = Output(int)

    @dataclass
    class Options:
        missing: int = 0

    def process(self, ctx: Context) -> None:
        ctx.emit("SUM", ctx.get("A", self.options.missing) + ctx.get("B", self.options.missing))


@register_calculator("TestPairs")
class Pairs(Calculator):
    """Emits (a, b) with None for an empty input: shows exactly what the input policy delivered."""

    A = Input(Any)
    B = Input(Any)
    OUT = Output(tuple)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", (ctx.get("A"), ctx.get("B")))


@register_calculator("TestRunningSum")
class RunningSum(Calculator):
    IN = Input(int)
    PREV = Input(int, optional=True)
    SUM = Output(int)

    def process(self, ctx: Context) -> None:
        ctx.emit("SUM", ctx.get("IN") + ctx.get("PREV", 0))


@register_calculator("TestScale")
class Scale(Calculator):
    IN = Input(int)
    OUT = Output(int)
    FACTOR = SideInput(int, optional=True)

    @dataclass
    class Options:
        factor: int = 1
        tags: list[str] = field(default_factory=list)

    def open(self, ctx: Context) -> None:
        self.factor = ctx.side("FACTOR", self.options.factor)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN") * self.factor)


@register_calculator("TestSlow")
class Slow(Calculator):
    """Sleeps ``delay`` seconds per packet, then forwards it."""

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        delay: float = 0.001

    def process(self, ctx: Context) -> None:
        time.sleep(self.options.delay)
        ctx.emit_packet("OUT", ctx.packet("IN"))


@register_calculator("TestStringOut")
class StringOut(Calculator):
    IN = Input(int)
    OUT = Output(str)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", str(ctx.get("IN")))


EVENTS: list[tuple[str, str]] = []
EVENTS_LOCK = threading.Lock()


@register_calculator("TestFaulty")
class Faulty(Calculator):
    """Forwards IN; raises in ``fail_in`` ('open', 'process', 'close') at packet ``at``."""

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        fail_in: str = "none"
        at: int = 0
        label: str = "faulty"

    def _log(self, what: str) -> None:
        with EVENTS_LOCK:
            EVENTS.append((self.options.label, what))

    def open(self, ctx: Context) -> None:
        self._log("open")
        if self.options.fail_in == "open":
            raise RuntimeError("boom in open")
        self.n = 0

    def process(self, ctx: Context) -> None:
        if self.options.fail_in == "process" and self.n == self.options.at:
            raise ValueError(f"boom at packet {self.n}")
        self.n += 1
        ctx.emit_packet("OUT", ctx.packet("IN"))

    def close(self, ctx: Context) -> None:
        self._log("close")
        if self.options.fail_in == "close":
            raise RuntimeError("boom in close")


@register_calculator("TestBackwards")
class Backwards(Calculator):
    """Emits at a timestamp below its input's: a node-side ordering error."""

    IN = Input(int)
    OUT = Output(int)
    timestamp_offset = None

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", 0, 100 - ctx.get("IN") * 10)


@register_calculator("TestStopAfter")
class StopAfter(Calculator):
    """Forwards IN and raises StopSource after ``n`` packets.

    Inputs:  IN - Any
    Outputs: OUT - Any
    """

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        n: int = 3

    def open(self, ctx: Context) -> None:
        self.seen = 0

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN"))
        self.seen += 1
        if self.seen >= self.options.n:
            raise StopSource


@register_calculator("TestThreadName")
class ThreadName(Calculator):
    """Forwards its input as (input, name of the thread that ran this call); ``delay`` seconds of GIL-free wait."""

    IN = Input(Any)
    OUT = Output(tuple)

    @dataclass
    class Options:
        delay: float = 0.0

    def process(self, ctx: Context) -> None:
        if self.options.delay:
            time.sleep(self.options.delay)
        ctx.emit("OUT", (ctx.get("IN"), threading.current_thread().name))
