"""Ray for the executor tests: one local instance per test module (``ray_session``), shut down after it, and a
per-test guard (``clean``) that fails a test which runs too long or leaves a graph, a graphflow thread or an actor
behind, after releasing them, so that one failing test cannot fail the tests after it (here or in later
packages, whose thread-leak checks count every ``graphflow-*`` thread). Helpers: ``ray_support.py``.
"""

from __future__ import annotations

import pytest
import ray
from ray_support import RAY_OPTIONS, graphflow_threads, guarded, reap, release_leftovers, session_processes, start_ray


@pytest.fixture(scope="module")
def ray_session():
    if ray.is_initialized():
        ray.shutdown()
    start_ray(**RAY_OPTIONS)
    node = ray._private.worker._global_node
    yield node
    left = release_leftovers()
    procs = session_processes([node])
    ray.shutdown()
    reap(procs)
    assert not left, f"left behind by the module's tests: {left}"
    assert not graphflow_threads(), f"graphflow threads outlive the module: {graphflow_threads()}"


@pytest.fixture
def clean(ray_session):
    """Fails the test if it runs past TEST_TIMEOUT_S, or if a graph, a graphflow thread or an actor outlives it."""
    yield from guarded()


@pytest.fixture
def clean_cluster():
    """``clean`` for a module that brings its own Ray (a simulated cluster)."""
    yield from guarded()


