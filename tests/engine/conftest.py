import threading
import time

import engine_calcs  # noqa: F401 - registers the Test* calculators
import pytest

import graphflow.scheduler as scheduler_module


@pytest.fixture(params=[(True, True), (True, False), (False, False)], ids=["specialised", "no-hand-off", "general"])
def specialize(request, monkeypatch):
    """Run the test with the scheduler's specialised rule forms and links, once with the hand-off of a packet into
    its link's context (``HAND_OFF``) and once without, and with the general forms. Returns ``SPECIALIZE``."""
    monkeypatch.setattr(scheduler_module, "SPECIALIZE", request.param[0])
    monkeypatch.setattr(scheduler_module, "HAND_OFF", request.param[1])
    return request.param[0]


@pytest.fixture
def no_thread_leak():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.name.startswith("graphflow")]
        if not extra:
            return
        time.sleep(0.01)
    raise AssertionError(f"threads left running: {extra}")
