"""Small calculators for the Ray executor tests (registered under RayTest* names).

The conftest registers this module with Ray's cloudpickle by value, so group actors get the classes themselves
(as they get calculators defined in a user's ``__main__``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphflow import Calculator, Context, Input, Output, StopSource, register_calculator


@register_calculator("RayTestKeep")
class Keep(Calculator):
    """Forwards IN only at timestamps t with t % every in keep: the other timestamps are gaps (bound only)."""

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        every: int = 2
        keep: tuple[int, ...] = (0,)

    def process(self, ctx: Context) -> None:
        if int(ctx.timestamp) % self.options.every in self.options.keep:
            ctx.emit_packet("OUT", ctx.packet("IN"))


@register_calculator("RayTestPairs")
class Pairs(Calculator):
    """(a, b) at each timestamp, None for an empty input: what the default input policy delivered."""

    A = Input(Any)
    B = Input(Any)
    OUT = Output(tuple)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", (ctx.get("A"), ctx.get("B")))


@register_calculator("RayTestAdd")
class Add(Calculator):
    """IN + PREV (PREV empty counts 0): the body of a tracking loop."""

    IN = Input(int)
    PREV = Input(int, optional=True)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        ctx.emit("OUT", ctx.get("IN") + ctx.get("PREV", 0))


@register_calculator("RayTestSlow")
class Slow(Calculator):
    """Sleeps ``delay`` s per packet, then forwards it."""

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        delay: float = 0.01

    def process(self, ctx: Context) -> None:
        time.sleep(self.options.delay)
        ctx.emit_packet("OUT", ctx.packet("IN"))


@register_calculator("RayTestFaulty")
class Faulty(Calculator):
    """Forwards IN; raises ValueError at the packet with timestamp ``at`` (RuntimeError in ``open`` with
    ``fail_open``); appends open/close to ``log``."""

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        at: int = -1
        log: str = ""
        label: str = "faulty"
        fail_open: bool = False

    def _log(self, what: str) -> None:
        if self.options.log:
            with Path(self.options.log).open("a") as f:
                f.write(f"{self.options.label} {what}\n")

    def open(self, ctx: Context) -> None:
        if self.options.fail_open:
            raise RuntimeError(f"{self.options.label} cannot open")
        self._log("open")

    def process(self, ctx: Context) -> None:
        if int(ctx.timestamp) == self.options.at:
            raise ValueError(f"boom at {self.options.at}")
        ctx.emit_packet("OUT", ctx.packet("IN"))

    def close(self, ctx: Context) -> None:
        self._log("close")


@register_calculator("RayTestSource")
class Source(Calculator):
    """Emits 0..count-1 at timestamps 0, 1, ...; sleeps ``delay`` s before each."""

    OUT = Output(int)
    timestamp_offset = None

    @dataclass
    class Options:
        count: int = 10
        delay: float = 0.0

    def open(self, ctx: Context) -> None:
        self.i = 0

    def process(self, ctx: Context) -> None:
        if self.i >= self.options.count:
            raise StopSource
        time.sleep(self.options.delay)
        ctx.emit("OUT", self.i, self.i)
        self.i += 1


@register_calculator("RayTestBurn")
class Burn(Calculator):
    """GIL-holding Python work: ``iterations`` rounds of integer arithmetic, then forwards IN + the checksum."""

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        iterations: int = 20000

    def process(self, ctx: Context) -> None:
        acc = ctx.get("IN")
        for k in range(self.options.iterations):
            acc = (acc * 31 + k) % 1_000_003
        ctx.emit("OUT", acc)
