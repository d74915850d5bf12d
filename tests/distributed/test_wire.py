"""``wire.pack``: a bridge message goes as bytes only when that keeps its meaning and Ray's zero-copy path."""

from __future__ import annotations

import enum
import pickle
import threading

import numpy as np
import pytest

from graphflow.distributed.bridge import PACKET
from graphflow.distributed.wire import INLINE_LIMIT, pack, unpack


def message(payload: object) -> tuple:
    return ("a->g", "inc-1", [(1, 1000, PACKET, payload, 123)], {"g-><driver>": 2}, "inc-2")


class Flag(enum.IntEnum):  # an int subclass: not an exact int
    ON = 1


def packed(m: tuple) -> object:
    """``pack`` of a push message (its one batch is ``m[2]``)."""
    return pack(m, (m[2],))


@pytest.mark.parametrize("payload", [7, "text", None, {"k": [1, 2.5]}, (1, (2, 3)), b"raw bytes"])
def test_small_array_free_messages_travel_as_bytes_and_come_back_equal(payload):
    sent = packed(message(payload))
    assert isinstance(sent, bytes)
    assert unpack(sent) == message(payload)


@pytest.mark.parametrize("payload", [7, -(2**70), 2.5, "té\u20acxt", b"raw", True, False, None])
def test_plain_scalar_payloads_are_marshalled_and_keep_their_types(payload):
    sent = packed(message(payload))
    assert isinstance(sent, bytes) and sent[0] != pickle.PROTO[0]  # marshal: a type code (+ FLAG_REF), never 0x80
    back = unpack(sent)
    assert back == message(payload) and type(back[2][0][3]) is type(payload)


@pytest.mark.parametrize("payload", [np.float32(1.5), np.int64(3), bytearray(b"ab"), (1, 2),
                                     [1], {"k": 1}, frozenset({1}), Flag.ON])
def test_other_payloads_are_pickled_because_marshal_would_change_their_type(payload):
    """marshal writes any object with a buffer (a numpy scalar, a bytearray) as bytes; containers are the
    application's and could hold one. So only exact-type scalars are marshalled."""
    sent = packed(message(payload))
    assert isinstance(sent, bytes) and sent[0] == pickle.PROTO[0]
    back = unpack(sent)[2][0][3]
    assert type(back) is type(payload) and back == payload


def test_a_message_without_batches_is_marshalled():
    pull = ("g-><driver>", 3, "inc-1", 0.05)
    sent = pack(pull, ())
    assert isinstance(sent, bytes) and sent[0] != pickle.PROTO[0] and unpack(sent) == pull


def test_messages_with_arrays_go_unchanged_so_ray_keeps_them_out_of_band():
    frame = np.zeros((4, 5, 3), np.uint8)
    m = message(frame)
    assert packed(m) is m  # protocol 5 would have handed the array's memory to a buffer: Ray moves it without copies


def test_a_message_over_rays_inline_limit_goes_unchanged():
    m = message("x" * (INLINE_LIMIT + 1))
    assert packed(m) is m


def test_messages_holding_ray_handles_are_left_to_ray():
    """Ray serialises an ObjectRef in-band (the receiver borrows it); a pickle of ours would pin it for good."""
    import ray

    ref = ray.ObjectRef(b"\x01" * 28)
    for m in (message(ref), message({"nested": [ref]})):
        assert packed(m) is m


def test_what_the_plain_pickler_refuses_goes_the_general_way():
    """A memoryview: the C pickler refuses it; cloudpickle (as through Ray itself) sends its bytes."""
    assert unpack(packed(message(memoryview(b"cd"))))[2][0][3] == b"cd"


def test_a_pickle_buffer_stays_out_of_band():
    m = message(pickle.PickleBuffer(b"abc"))
    assert packed(m) is m  # as before the plain pickler: Ray moves the buffer itself


def test_a_message_field_marshal_refuses_is_pickled():
    m = ("a->g", Flag.ON, [], {}, None)  # not a field the bridges send today: the writer must still cope
    sent = pack(m, (m[2],))
    assert isinstance(sent, bytes) and sent[0] == pickle.PROTO[0] and unpack(sent)[1] is Flag.ON


def test_what_cloudpickle_refuses_is_left_to_ray():
    m = message(threading.Lock())
    assert packed(m) is m


def test_a_class_of_the_users_script_travels_by_value():
    """Calculators and payload types defined in ``__main__`` must arrive in a group whose process never imported
    that script: cloudpickle (Ray's serialiser) sends them by value, plain pickle would send a reference."""
    namespace: dict = {"__name__": "__main__"}
    exec("class Point:\n    def __init__(self, x):\n        self.x = x\n", namespace)
    point = namespace["Point"](3)
    data = packed(message(point))
    assert isinstance(data, bytes) and b"__main__" in data
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(point)  # plain pickle cannot even find it (it is not an attribute of the real __main__)
    assert unpack(data)[2][0][3].x == 3


def test_unpack_passes_unpacked_messages_through():
    m = message(1)
    assert unpack(m) is m
