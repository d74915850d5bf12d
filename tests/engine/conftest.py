import threading
import time

import engine_calcs  # noqa: F401 - registers the Test* calculators
import pytest


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
