"""Ray for the executor tests: one local instance per test module (``ray_session``), shut down after it, and a
per-test check that no graphflow thread and no actor is left behind."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import ray
import ray_calcs

ray.cloudpickle.register_pickle_by_value(ray_calcs)  # group actors get the test calculators by value

RAY_CPUS = 2
# The Ray tests run with GRAPHFLOW_RUN_RAY=1 (see README, "Scale out"): on the shared 2-core CI machine a local Ray
# start failed inside the suite (raylet crash in GlobalStateAccessor.AddWorkerInfo), and a failed Ray test left a
# bridge thread that then failed every later thread-leak check. Until that is understood they stay out of the
# default run, reported as skipped with this reason.
RUN_RAY = os.environ.get("GRAPHFLOW_RUN_RAY") == "1"


def pytest_collection_modifyitems(config, items):
    if RUN_RAY:
        return
    skip = pytest.mark.skip(reason="Ray executor tests: set GRAPHFLOW_RUN_RAY=1 (kept out of CI, see README)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)
TEST_TIMEOUT_S = 60  # each test; a hang fails the test instead of the CI run


class TestTimeout(Exception):  # noqa: N818
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f"test ran past {TEST_TIMEOUT_S} s")


def alive_actors() -> list[str]:
    import ray._private.state as state

    return [a["ActorID"] for a in state.actors().values() if a["State"] not in ("DEAD",)]


@pytest.fixture(scope="module")
def ray_session():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def clean(ray_session):
    """Fails the test if it runs past TEST_TIMEOUT_S, or if a graphflow thread or an actor outlives it."""
    before = set(threading.enumerate())
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    _wait_clean(before)


def _wait_clean(before: set[threading.Thread]) -> None:
    deadline = time.monotonic() + 10.0
    while True:
        threads = [t.name for t in threading.enumerate() if t not in before and t.name.startswith("graphflow")]
        actors = alive_actors()
        if not threads and not actors:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: threads {threads}, actors {actors}")
        time.sleep(0.05)


@pytest.fixture
def clean_cluster():
    """``clean`` for a module that brings its own Ray (a simulated cluster)."""
    before = set(threading.enumerate())
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    _wait_clean(before)
