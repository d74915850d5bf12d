"""How a bridge call's message travels: as bytes we wrote, when it holds no buffers; as itself otherwise.

Ray serialises every argument and return value of an actor call itself, and for the bridges' small messages (a
tuple of a few strings and ints around a batch of item tuples) that costs about 0.1-0.15 ms per round trip on a
2-core machine, against nothing for a ``bytes`` object, which it passes through (``benchmarks/ray_executor.py``
reports the hop; the measurement behind this choice is in ``docs/notes/2026-12-02-s6-issue-15.md``). Three
writers, the first that applies:

- every payload in the message's batches a plain scalar (an exact ``int``, ``float``, ``str``, ``bytes``,
  ``bool`` or None; the rest of a message is always made of such values, tuples, lists and dicts): ``marshal``,
  the cheapest. In a lock-step hop on a 2-core machine it took ~13 us to write and ~7 to read against ~20 and
  ~10 for the pickler (``docs/notes/2026-12-03-s10-issue-15.md``). Only for those: marshal writes any object with
  a buffer (a bytearray, a numpy scalar) as ``bytes``, and the application's containers could hold one.
- only builtin types (the C pickler never calls ``reducer_override`` for them): the C pickler alone;
- anything else: Ray's own cloudpickle, so a payload class defined in the user's ``__main__`` travels by value
  as it would through Ray.

A message with out-of-band buffers (numpy arrays: protocol 5 hands their memory to ``buffer_callback`` without
copying it) or one larger than Ray's inline limit goes unchanged, so arrays keep Ray's zero-copy object-store
path; so does anything cloudpickle refuses (Ray then reports it as before), and any message holding a Ray handle
(``ObjectRef``, ``ActorHandle``): Ray serialises those itself, registering the receiver as a borrower, where a
pickle of ours would pin the object for the life of the worker.

``unpack`` unmarshals or unpickles (by the first byte: pickle's PROTO opcode, ``PICKLE_FIRST_BYTE``), which the
runtime does nowhere else (``tests/badinput/test_badinput_security.py`` names this module as its one exception):
the bytes come only from the graph's own actors over Ray, which unpickles every call argument and reply itself,
so this opens no new way in.
"""

from __future__ import annotations

import io
import marshal
import pickle
from collections.abc import Iterable
from typing import Any

from ray import ObjectRef, cloudpickle
from ray.actor import ActorHandle

INLINE_LIMIT = 100 * 1024  # Ray's default max_direct_call_object_size: larger values go through the object store
RAY_HANDLES = (ObjectRef, ActorHandle)  # left to Ray's own serialiser (see the module docstring)
PAYLOAD = 3  # an item's payload field (``bridge.py``: (seq, ts_us, kind, payload, put_ns))
# payloads marshal keeps as they are (exact types: marshal writes any other buffer, a numpy scalar say, as bytes)
MARSHAL_PAYLOADS = frozenset({int, float, str, bytes, bool, type(None)})
PICKLE_FIRST_BYTE = 0x80  # pickle's PROTO opcode; marshal's first byte is a type code (maybe with its FLAG_REF bit,
# 0x80, set), and no type code is 0, so it is never exactly this


class _LeaveToRay(Exception):  # noqa: N818 - a signal inside pack
    pass


class _NotPlain(Exception):  # noqa: N818 - a signal inside pack
    pass


def _not_plain(buffer: pickle.PickleBuffer) -> None:
    """A ``PickleBuffer``, which the C pickler handles itself: the general way keeps it out of band."""
    raise _NotPlain


class _PlainPickler(pickle.Pickler):
    """The C pickler alone, for a message of builtin types (the usual one: tuples of strings and ints around a
    batch of small payloads), which it pickles exactly as cloudpickle would, without cloudpickle's Python set-up.
    The pickler consults ``reducer_override`` only for objects of other types; this one then gives up, and
    ``pack`` goes the general way (``_Pickler``), as it does for anything the pickler refuses."""

    def reducer_override(self, obj: Any) -> Any:
        raise _NotPlain


class _Pickler(cloudpickle.CloudPickler):
    """Ray's cloudpickle, refusing Ray's handles (``pack`` then sends the message as it is)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, RAY_HANDLES):
            raise _LeaveToRay
        return super().reducer_override(obj)


def pack(message: Any, batches: Iterable[list[tuple]]) -> Any:
    """``message`` as bytes when that is cheaper for Ray to move (see the module docstring), else itself.
    ``batches``: the item lists in it (``()``: none), the one part of a message that is not the bridge's own: their
    payloads are the application's; the rest is made of strings, numbers, None, tuples, lists and dicts of them."""
    if all(type(item[PAYLOAD]) in MARSHAL_PAYLOADS for batch in batches for item in batch):
        try:
            data = marshal.dumps(message)
        except ValueError:  # a field of another type (see ``Push``/``Pull`` in actor.py): the pickler takes it
            pass
        else:
            return data if len(data) <= INLINE_LIMIT else message
    file = io.BytesIO()
    try:
        _PlainPickler(file, protocol=5, buffer_callback=_not_plain).dump(message)
    except Exception:  # noqa: BLE001 - _NotPlain, or what the C pickler refuses: the general way decides
        pass
    else:
        return file.getvalue() if file.tell() <= INLINE_LIMIT else message
    buffers: list[pickle.PickleBuffer] = []
    file = io.BytesIO()
    try:
        _Pickler(file, protocol=5, buffer_callback=buffers.append).dump(message)
    except Exception:  # noqa: BLE001 - a Ray handle, or left to Ray's serialiser, which reports it as it always has
        return message
    if buffers or file.tell() > INLINE_LIMIT:
        return message
    return file.getvalue()


def unpack(message: Any) -> Any:
    """The message ``pack`` was given (a message is never ``bytes`` itself: it is always a tuple)."""
    if not isinstance(message, bytes):
        return message
    return pickle.loads(message) if message[0] == PICKLE_FIRST_BYTE else marshal.loads(message)
