"""Calculators that fail on purpose, for the fault-injection tests (registered under Fault* names).

Every calculator here appends ``(label, event)`` to ``EVENTS`` on open/close so a test can check which lifecycle
calls ran. ``BLOCKERS`` holds the ``threading.Event`` each ``FaultBlocker`` waits on, by label, so a test can
release a node that is stuck in ``process`` after ``Graph.close`` gave up on it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphflow import Calculator, Context, Input, Output, StopSource, register_calculator

EVENTS: list[tuple[str, str]] = []
_EVENTS_LOCK = threading.Lock()
BLOCKERS: dict[str, threading.Event] = {}


def log_event(label: str, what: str) -> None:
    with _EVENTS_LOCK:
        EVENTS.append((label, what))


def events_of(label: str) -> list[str]:
    with _EVENTS_LOCK:
        return [what for who, what in EVENTS if who == label]


@register_calculator("FaultSource")
class FaultSource(Calculator):
    """Emits 0..count-1 at timestamps i * step; raises ``RuntimeError`` when about to emit packet ``fail_at``.

    Outputs: OUT - int
    Options: count, step (us), fail_at (-1: never), delay (seconds slept per packet), label
    """

    OUT = Output(int)
    timestamp_offset = None

    @dataclass
    class Options:
        count: int = 10
        step: int = 1
        fail_at: int = -1
        delay: float = 0.0
        label: str = "source"

    def open(self, ctx: Context) -> None:
        log_event(self.options.label, "open")
        self.i = 0

    def process(self, ctx: Context) -> None:
        if self.i >= self.options.count:
            raise StopSource
        if self.i == self.options.fail_at:
            raise RuntimeError(f"source died before packet {self.i}")
        if self.options.delay:
            time.sleep(self.options.delay)
        ctx.emit("OUT", self.i, self.i * self.options.step)
        self.i += 1

    def close(self, ctx: Context) -> None:
        log_event(self.options.label, "close")


@register_calculator("FaultRelay")
class FaultRelay(Calculator):
    """Forwards IN to OUT; raises in ``fail_in`` ('open', 'process', 'close') at its ``at``-th packet (0-based).

    Inputs:  IN - Any
    Outputs: OUT - Any
    Options: fail_in ('none'|'open'|'process'|'close'), at, delay (seconds slept per packet), label
    """

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        fail_in: str = "none"
        at: int = 0
        delay: float = 0.0
        label: str = "relay"

    def open(self, ctx: Context) -> None:
        log_event(self.options.label, "open")
        if self.options.fail_in == "open":
            raise RuntimeError("injected failure in open")
        self.n = 0

    def process(self, ctx: Context) -> None:
        if self.options.fail_in == "process" and self.n == self.options.at:
            raise ValueError(f"injected failure at packet {self.n}")
        self.n += 1
        if self.options.delay:
            time.sleep(self.options.delay)
        ctx.emit_packet("OUT", ctx.packet("IN"))

    def close(self, ctx: Context) -> None:
        log_event(self.options.label, "close")
        if self.options.fail_in == "close":
            raise RuntimeError("injected failure in close")


@register_calculator("FaultBlocker")
class FaultBlocker(Calculator):
    """Forwards IN to OUT, but its ``at``-th ``process`` call waits on ``BLOCKERS[label]`` (forever if never set).

    Inputs:  IN - Any
    Outputs: OUT - Any
    Options: at, label
    """

    IN = Input(Any)
    OUT = Output(Any)

    @dataclass
    class Options:
        at: int = 0
        label: str = "blocker"

    def open(self, ctx: Context) -> None:
        log_event(self.options.label, "open")
        self.n = 0
        self.release = BLOCKERS.setdefault(self.options.label, threading.Event())

    def process(self, ctx: Context) -> None:
        if self.n == self.options.at:
            log_event(self.options.label, "blocked")
            self.release.wait()
            log_event(self.options.label, "released")
        self.n += 1
        ctx.emit_packet("OUT", ctx.packet("IN"))

    def close(self, ctx: Context) -> None:
        log_event(self.options.label, "close")


@register_calculator("FaultGate")
class FaultGate(Calculator):
    """Emits IN + FEEDBACK only when FEEDBACK carries a packet: a loop body that needs its own output to start.

    Inputs:  IN - int; FEEDBACK - int (meant to be a back edge)
    Outputs: OUT - int
    """

    IN = Input(int)
    FEEDBACK = Input(int, optional=True)
    OUT = Output(int)

    def process(self, ctx: Context) -> None:
        fb = ctx.get("FEEDBACK")
        if fb is None:
            ctx.count("waiting_for_feedback")
            return
        ctx.emit("OUT", ctx.get("IN", 0) + fb)


@register_calculator("FaultAccumulate")
class FaultAccumulate(Calculator):
    """Running sum: emits IN + the last FEEDBACK value at IN's timestamp (FEEDBACK empty counts as 0).

    Inputs:  IN - int; FEEDBACK - int (back edge)
    Outputs: SUM - int
    """

    IN = Input(int)
    FEEDBACK = Input(int, optional=True)
    SUM = Output(int)

    def process(self, ctx: Context) -> None:
        ctx.emit("SUM", ctx.get("IN", 0) + ctx.get("FEEDBACK", 0))


@register_calculator("FaultSlowImage")
class FaultSlowImage(Calculator):
    """Forwards an image after sleeping ``delay`` seconds: a slow model stand-in for the CLI Ctrl-C test.

    Inputs:  IMAGE - np.ndarray (H, W, 3) uint8 RGB
    Outputs: IMAGE_OUT - np.ndarray (H, W, 3) uint8 RGB
    Options: delay - seconds per frame
    """

    IMAGE = Input(np.ndarray)
    IMAGE_OUT = Output(np.ndarray)

    @dataclass
    class Options:
        delay: float = 0.05

    def process(self, ctx: Context) -> None:
        time.sleep(self.options.delay)
        ctx.emit("IMAGE_OUT", ctx.get("IMAGE"))


@register_calculator("FaultLineSink")
class FaultLineSink(Calculator):
    """Writes one line per packet to ``path``; ``close`` writes the line ``END`` and closes the file.

    A file that ends with ``END`` was finalised by ``close``: the CLI Ctrl-C test checks for it.

    Inputs:  IN - Any
    Options: path - the text file to write
    """

    IN = Input(Any)

    @dataclass
    class Options:
        path: str = ""

    def open(self, ctx: Context) -> None:
        self.file = open(self.options.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def process(self, ctx: Context) -> None:
        self.file.write(f"{int(ctx.timestamp)} {ctx.get('IN')}\n")
        self.file.flush()

    def close(self, ctx: Context) -> None:
        self.file.write("END\n")
        self.file.close()


@register_calculator("FaultBoundsGate")
class FaultBoundsGate(FaultGate):
    """``FaultGate`` that also sees timestamp bounds (as loop nodes do) but forgets to raise ``StopSource`` when
    its main input ends: its back edge can then never close.

    Inputs:  IN - int; FEEDBACK - int (back edge)
    Outputs: OUT - int
    """

    input_policy = "immediate"
    timestamp_offset = None
    process_timestamp_bounds = True

    def process(self, ctx: Context) -> None:
        if ctx.has("IN") or ctx.has("FEEDBACK"):
            super().process(ctx)
