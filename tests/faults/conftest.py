import threading
import time

import faults_calcs
import pytest


def graphflow_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("graphflow")]


def wait_no_graphflow_threads(timeout: float = 3.0) -> list[threading.Thread]:
    """Threads named graphflow-* still alive after ``timeout`` seconds (empty when all were joined)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = graphflow_threads()
        if not left:
            return []
        time.sleep(0.01)
    return graphflow_threads()


@pytest.fixture(autouse=True)
def clean_fault_state():
    faults_calcs.EVENTS.clear()
    yield
    for event in faults_calcs.BLOCKERS.values():
        event.set()  # never leave a test's stuck worker blocked
    faults_calcs.BLOCKERS.clear()
