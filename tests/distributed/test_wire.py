"""``wire.pack``: a bridge message goes as bytes only when that keeps its meaning and Ray's zero-copy path."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from graphflow.distributed.bridge import PACKET
from graphflow.distributed.wire import INLINE_LIMIT, pack, unpack


def message(payload: object) -> tuple:
    return ("a->g", "inc-1", [(1, 1000, PACKET, payload, 123)], {"g-><driver>": 2}, "inc-2")


@pytest.mark.parametrize("payload", [7, "text", None, {"k": [1, 2.5]}, (1, (2, 3)), b"raw bytes"])
def test_small_array_free_messages_travel_as_bytes_and_come_back_equal(payload):
    sent = pack(message(payload))
    assert isinstance(sent, bytes)
    assert unpack(sent) == message(payload)


def test_messages_with_arrays_go_unchanged_so_ray_keeps_them_out_of_band():
    frame = np.zeros((4, 5, 3), np.uint8)
    m = message(frame)
    assert pack(m) is m  # protocol 5 would have handed the array's memory to a buffer: Ray moves it without copies


def test_a_message_over_rays_inline_limit_goes_unchanged():
    m = message("x" * (INLINE_LIMIT + 1))
    assert pack(m) is m


def test_messages_holding_ray_handles_are_left_to_ray():
    """Ray serialises an ObjectRef in-band (the receiver borrows it); a pickle of ours would pin it for good."""
    import ray

    ref = ray.ObjectRef(b"\x01" * 28)
    for m in (message(ref), message({"nested": [ref]})):
        assert pack(m) is m


def test_what_cloudpickle_refuses_is_left_to_ray():
    m = message(threading.Lock())
    assert pack(m) is m


def test_a_class_of_the_users_script_travels_by_value():
    """Calculators and payload types defined in ``__main__`` must arrive in a group whose process never imported
    that script: cloudpickle (Ray's serialiser) sends them by value, plain pickle would send a reference."""
    namespace: dict = {"__name__": "__main__"}
    exec("class Point:\n    def __init__(self, x):\n        self.x = x\n", namespace)
    point = namespace["Point"](3)
    data = pack(message(point))
    assert isinstance(data, bytes) and b"__main__" in data
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(point)  # plain pickle cannot even find it (it is not an attribute of the real __main__)
    assert unpack(data)[2][0][3].x == 3


def test_unpack_passes_unpacked_messages_through():
    m = message(1)
    assert unpack(m) is m
