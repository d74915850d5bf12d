"""How a bridge call's message travels: as bytes we pickled, when it holds no buffers; as itself otherwise.

Ray serialises every argument and return value of an actor call itself, and for the bridges' small messages (a
tuple of a few strings and ints around a batch of item tuples) that costs about 0.1-0.15 ms per round trip on a
2-core machine, against nothing for a ``bytes`` object, which it passes through (``benchmarks/ray_executor.py``
reports the hop; the measurement behind this choice is in ``docs/notes/2026-12-02-s6-issue-15.md``). ``pack``
pickles with Ray's own cloudpickle, so a payload class defined in the user's ``__main__`` travels by value as it
would through Ray. A message with out-of-band buffers (numpy arrays: protocol 5 hands their memory to
``buffer_callback`` without copying it) or one larger than Ray's inline limit goes unchanged, so arrays keep Ray's
zero-copy object-store path; so does anything cloudpickle refuses (Ray then reports it as before).

``unpack`` unpickles, which the runtime does nowhere else (``tests/badinput/test_badinput_security.py`` names this
module as its one exception): the bytes come only from the graph's own actors over Ray, which unpickles every call
argument and reply itself, so this opens no new way in.
"""

from __future__ import annotations

import pickle
from typing import Any

from ray import cloudpickle

INLINE_LIMIT = 100 * 1024  # Ray's default max_direct_call_object_size: larger values go through the object store


def pack(message: Any) -> Any:
    """``message`` as pickled bytes when that is cheaper for Ray to move (see the module docstring), else itself."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = cloudpickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - left to Ray's serialiser, which reports it as it always has
        return message
    if buffers or len(data) > INLINE_LIMIT:
        return message
    return data


def unpack(message: Any) -> Any:
    """The message ``pack`` was given (a message is never ``bytes`` itself: it is always a tuple)."""
    return pickle.loads(message) if isinstance(message, bytes) else message
