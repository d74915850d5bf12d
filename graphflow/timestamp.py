"""Timestamps: integer microseconds with named special values.

A ``Timestamp`` is never a float. Regular values lie in ``[Timestamp.MIN, Timestamp.MAX]``;
the specials order as ``UNSET < UNSTARTED < PRE_STREAM < MIN ... MAX < POST_STREAM < ONE_OVER_POST_STREAM < DONE``.

- ``PRE_STREAM``: a packet for "before every regular timestamp" (e.g. a header).
- ``POST_STREAM``: a packet for "after every regular timestamp" (e.g. a summary).
- ``DONE``: the bound of a closed stream: nothing more will ever arrive.

``Timestamp - Timestamp`` is an ``int`` number of microseconds; ``Timestamp + int`` is a ``Timestamp``;
adding two timestamps is an error.
"""

from __future__ import annotations

from functools import total_ordering
from typing import Final

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

_SPECIAL_NAMES: dict[int, str] = {}


@total_ordering
class Timestamp:
    """An instant in integer microseconds (immutable, hashable)."""

    __slots__ = ("_us",)
    _us: int

    def __init__(self, microseconds: int | Timestamp) -> None:
        if isinstance(microseconds, Timestamp):
            object.__setattr__(self, "_us", microseconds._us)
            return
        if isinstance(microseconds, bool) or not isinstance(microseconds, int):
            raise TypeError(
                f"Timestamp takes integer microseconds, got {type(microseconds).__name__} "
                f"{microseconds!r}; convert seconds with Timestamp.from_seconds()"
            )
        if not (MIN_US <= microseconds <= MAX_US):
            raise ValueError(
                f"Timestamp {microseconds} is outside the range of regular timestamps "
                f"[{MIN_US}, {MAX_US}]; use the named specials (Timestamp.PRE_STREAM, ...) instead"
            )
        object.__setattr__(self, "_us", microseconds)

    @classmethod
    def _special(cls, value: int, name: str) -> Timestamp:
        ts = object.__new__(cls)
        object.__setattr__(ts, "_us", value)
        _SPECIAL_NAMES[value] = name
        return ts

    @classmethod
    def from_seconds(cls, seconds: float) -> Timestamp:
        """Round seconds to the nearest microsecond."""
        return cls(round(seconds * 1_000_000))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Timestamp is immutable")

    @property
    def microseconds(self) -> int:
        return self._us

    @property
    def seconds(self) -> float:
        return self._us / 1_000_000

    def is_special(self) -> bool:
        return self._us in _SPECIAL_NAMES

    def is_range_value(self) -> bool:
        """True for a regular timestamp (MIN..MAX), the kind an ordinary packet carries."""
        return MIN_US <= self._us <= MAX_US

    def is_allowed_in_stream(self) -> bool:
        """Regular values plus PRE_STREAM and POST_STREAM."""
        return self.is_range_value() or self._us in (_PRE_US, _POST_US)

    def next_allowed_in_stream(self) -> Timestamp:
        """The smallest timestamp a stream may carry after a packet at ``self``."""
        if self._us >= _POST_US:
            return Timestamp.ONE_OVER_POST_STREAM
        if self._us == _PRE_US or self._us == MAX_US:
            return Timestamp.MIN if self._us == _PRE_US else Timestamp.POST_STREAM
        return _from_raw(self._us + 1)

    def __int__(self) -> int:
        return self._us

    def __index__(self) -> int:
        return self._us

    def __hash__(self) -> int:
        return hash(self._us)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Timestamp):
            return self._us == other._us
        if isinstance(other, int) and not isinstance(other, bool):
            return self._us == other
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Timestamp):
            return self._us < other._us
        if isinstance(other, int) and not isinstance(other, bool):
            return self._us < other
        return NotImplemented

    def __add__(self, other: int) -> Timestamp:
        if isinstance(other, Timestamp):
            raise TypeError("adding two Timestamps is undefined; add an int number of microseconds")
        if self.is_special():
            raise ValueError(f"cannot offset the special timestamp {self}")
        return Timestamp(self._us + int(other))

    def __sub__(self, other: Timestamp | int) -> int | Timestamp:  # type: ignore[override]
        if isinstance(other, Timestamp):
            return self._us - other._us
        return self + (-int(other))

    def __repr__(self) -> str:
        name = _SPECIAL_NAMES.get(self._us)
        return f"Timestamp.{name}" if name else f"Timestamp({self._us})"

    def __str__(self) -> str:
        name = _SPECIAL_NAMES.get(self._us)
        return name if name else f"{self._us}us"


def _from_raw(value: int) -> Timestamp:
    ts = object.__new__(Timestamp)
    object.__setattr__(ts, "_us", value)
    return ts


# Layout mirrors MediaPipe's: specials sit just outside the regular range.
_UNSET_US: Final = _INT64_MIN
_UNSTARTED_US: Final = _INT64_MIN + 1
_PRE_US: Final = _INT64_MIN + 2
MIN_US: Final = _INT64_MIN + 3
MAX_US: Final = _INT64_MAX - 3
_POST_US: Final = _INT64_MAX - 2
_ONE_OVER_POST_US: Final = _INT64_MAX - 1
_DONE_US: Final = _INT64_MAX

Timestamp.UNSET = Timestamp._special(_UNSET_US, "UNSET")  # type: ignore[attr-defined]
Timestamp.UNSTARTED = Timestamp._special(_UNSTARTED_US, "UNSTARTED")  # type: ignore[attr-defined]
Timestamp.PRE_STREAM = Timestamp._special(_PRE_US, "PRE_STREAM")  # type: ignore[attr-defined]
Timestamp.MIN = _from_raw(MIN_US)  # type: ignore[attr-defined]
Timestamp.MAX = _from_raw(MAX_US)  # type: ignore[attr-defined]
Timestamp.POST_STREAM = Timestamp._special(_POST_US, "POST_STREAM")  # type: ignore[attr-defined]
Timestamp.ONE_OVER_POST_STREAM = Timestamp._special(_ONE_OVER_POST_US, "ONE_OVER_POST_STREAM")  # type: ignore[attr-defined]
Timestamp.DONE = Timestamp._special(_DONE_US, "DONE")  # type: ignore[attr-defined]

# The same values as raw microseconds, for the scheduler's hot path (which compares ints, not Timestamps).
UNSET_US: Final = _UNSET_US
UNSTARTED_US: Final = _UNSTARTED_US
PRE_STREAM_US: Final = _PRE_US
POST_STREAM_US: Final = _POST_US
DONE_US: Final = _DONE_US


def as_timestamp(value: int | Timestamp) -> Timestamp:
    """Accept an int (microseconds) or a Timestamp."""
    return value if isinstance(value, Timestamp) else Timestamp(value)
