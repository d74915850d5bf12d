"""CallbackSink: hands every packet of a stream to a Python callable (how an application embeds a graph)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphflow import Calculator, Context, Input, SideInput, register_calculator


@register_calculator("CallbackSink")
class CallbackSinkCalculator(Calculator):
    """Calls ``CALLBACK(timestamp_us, payload)`` for every packet on ``IN``, on the graph's worker thread.

    Inputs:
      IN - Any
    Side inputs:
      CALLBACK - Callable[[int, Any], None]; it should return quickly (copy the payload and hand it to your
          own thread if it needs long work); an exception it raises fails the graph like any node error
    Counters: calls.
    Example:
      - calculator: CallbackSink
        inputs: {IN: hands}
        side_inputs: {CALLBACK: on_hands}
    """

    IN = Input(Any)
    CALLBACK = SideInput(Callable)  # type: ignore[arg-type]

    def open(self, ctx: Context) -> None:
        callback = ctx.side("CALLBACK")
        if not callable(callback):
            raise TypeError(f"CallbackSink: side input CALLBACK must be callable, got {type(callback).__name__}")
        self._callback: Callable[[int, Any], None] = callback

    def process(self, ctx: Context) -> None:
        packet = ctx.packet("IN")
        if packet is None:
            return
        self._callback(int(packet.timestamp), packet.payload)
        ctx.count("calls")
