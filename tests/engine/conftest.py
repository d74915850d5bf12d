import threading
import time

import engine_calcs  # noqa: F401 - registers the Test* calculators
import pytest

import graphflow.scheduler as scheduler_module


@pytest.fixture(params=[True, False], ids=["specialised", "general"])
def specialize(request, monkeypatch):
    """Run the test with the scheduler's specialised rule forms and links (True) and with the general forms (False)."""
    monkeypatch.setattr(scheduler_module, "SPECIALIZE", request.param)
    return request.param


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
