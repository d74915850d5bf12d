"""Turning a container's presentation times into strictly increasing stream timestamps.

Video files lie: some repeat a presentation time, some jump backwards at an edit, some report nothing (0 or NaN)
for every frame. A graphflow stream must increase strictly, so ``TimestampRepair`` accepts every raw value a
reader hands it and returns one that is usable, counting each repair by reason instead of failing.

Rule: a raw time that is finite and later than the previous output is kept as is. Anything else becomes
"previous output + one nominal frame period" (the period comes from the container's fps, or 1/30 s when it is
unknown), so a file whose clock is broken throughout plays at its nominal rate.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

DEFAULT_FPS = 30.0


@dataclass
class TimestampRepair:
    """Stateful repairer for one stream; feed it raw times in microseconds in decode order.

    fps: the nominal frame rate used to synthesise a time for a frame whose own time is unusable.
    repairs: counts by reason: "missing" (None/NaN/negative), "repeated" (equal to the previous raw value),
        "backwards" (earlier than the previous output).
    """

    fps: float = DEFAULT_FPS
    repairs: Counter[str] = field(default_factory=Counter)
    _last: int | None = None
    _last_raw: float | None = None

    @property
    def period_us(self) -> int:
        fps = self.fps if self.fps and math.isfinite(self.fps) and self.fps >= 0.01 else DEFAULT_FPS
        return max(1, round(1_000_000 / fps))

    @property
    def last(self) -> int | None:
        """The last timestamp handed out (None before the first frame)."""
        return self._last

    @property
    def total_repairs(self) -> int:
        return sum(self.repairs.values())

    def __call__(self, raw_us: float | None) -> int:
        """Return the stream timestamp (int microseconds) for a frame whose container time is ``raw_us``."""
        usable = raw_us is not None and math.isfinite(raw_us) and raw_us >= 0
        if usable and (self._last is None or round(raw_us) > self._last):  # type: ignore[arg-type]
            out = round(raw_us)  # type: ignore[arg-type]
        elif self._last is None:
            # the first frame has no usable time: start the clock at zero
            self.repairs["missing"] += 1
            out = 0
        else:
            if not usable:
                reason = "missing"
            elif self._last_raw is not None and round(raw_us) == round(self._last_raw):  # type: ignore[arg-type]
                reason = "repeated"
            else:
                reason = "backwards"
            self.repairs[reason] += 1
            out = self._last + self.period_us
        self._last = out
        self._last_raw = raw_us if usable else None
        return out

    def rebase(self, gap_us: int | None = None) -> int:
        """Offset for a stream that starts over (a looped file): later raw times are shifted past ``last``.

        Returns the offset to add to the restarted stream's raw times so the first one lands ``gap_us`` (default:
        one period) after the last timestamp handed out.
        """
        if self._last is None:
            return 0
        self._last_raw = None
        return self._last + (self.period_us if gap_us is None else gap_us)
