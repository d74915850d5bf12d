"""Helpers for the Ray executor tests (imported by ``conftest.py`` and test modules; not a conftest, so
``from ray_support import ...`` finds this file whichever other test folders are collected with it).

The Ray start is sized for the shared 2-core CI machine: 2 CPUs, no dashboard, a small object store (Ray's
default is 30% of RAM, ~7 GB of the box's 24 GiB /dev/shm; the tests hold a few MB at a time). A failing
``ray.init`` is retried once, then the module fails with one message carrying the tail of Ray's own logs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from http import HTTPStatus
from pathlib import Path

import numpy as np
import psutil
import pytest
import ray
import ray_calcs

from graphflow.distributed import live_graphs

ray.cloudpickle.register_pickle_by_value(ray_calcs)  # group actors get the test calculators by value
os.environ.pop("RAY_ADDRESS", None)  # the tests start their own Ray; a cluster named by the environment is not theirs
HERE = Path(__file__).resolve().parent

RAY_CPUS = 2
OBJECT_STORE_BYTES = 200 * 2**20
RAY_OPTIONS = {"num_cpus": RAY_CPUS, "include_dashboard": False, "object_store_memory": OBJECT_STORE_BYTES,
               "log_to_driver": False, "configure_logging": False}
# payloads whose type a bridge must keep: marshal (the bridges' cheapest writer) would make bytes of the numpy
# scalars and the bytearray, an exact-type check must not take the IntEnum for an int; then plain ones
AWKWARD_PAYLOADS = [np.float32(1.5), np.int64(3), bytearray(b"ab"), HTTPStatus.OK, (1, 2), 7, 2.5, "s", b"b", True]
TEST_TIMEOUT_S = 60  # each test; a hang fails the test instead of the CI run
LOG_FILES = ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out")


class TestTimeout(Exception):  # noqa: N818
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f"test ran past {TEST_TIMEOUT_S} s")


def alive_actors() -> list[str]:
    import ray._private.state as state

    return [a["ActorID"] for a in state.actors().values() if a["State"] not in ("DEAD",)]


def ray_log_tail(lines: int = 12) -> str:
    """The last lines of Ray's own logs (latest session): why a start failed."""
    logs = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "session_latest" / "logs"  # Ray's default place
    out = []
    for name in LOG_FILES:
        path = logs / name
        if path.exists():
            tail = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()][-lines:]
            if tail:
                out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out) or f"(no Ray logs under {logs})"


def session_processes(nodes) -> list[psutil.Process]:
    """Every process a Ray node of this test process started (gcs, raylet, agents, workers), found by pid."""
    procs: dict[int, psutil.Process] = {}
    for node in nodes:
        for _, popen in node.live_processes():
            try:
                top = psutil.Process(popen.pid)
                for p in [top, *top.children(recursive=True)]:
                    procs[p.pid] = p
            except psutil.NoSuchProcess:
                continue
    return list(procs.values())


def reap(procs: list[psutil.Process], grace_s: float = 5.0) -> None:
    """Last resort after Ray's own shutdown: end (by pid) what this module's Ray started and left running."""
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


@contextlib.contextmanager
def ray_pythonpath():
    """While Ray starts its processes (they inherit the environment): the repository and the test calculators'
    folder on PYTHONPATH, so a driver that joins the module's Ray (the CLI in a subprocess) finds
    ``ray_calcs:...`` installed on the "cluster", as a user's modules are on theirs."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), str(HERE), *filter(None, [old])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old


def start_ray(**options) -> None:
    """``ray.init(**options)``, retried once; a second failure fails the module with the tail of Ray's logs."""
    error: BaseException | None = None
    for _ in range(2):
        try:
            with ray_pythonpath():
                ray.init(**options)
            return
        except Exception as exc:  # noqa: BLE001 - retried once, then reported with Ray's logs
            error = exc
            ray.shutdown()
    pytest.fail(f"ray.init({options}) failed twice: {type(error).__name__}: {error}\n{ray_log_tail()}",
                pytrace=False)


def release_leftovers() -> list[str]:
    """Cancel the graphs still running (which kills their actors); returns what there was."""
    left = []
    for graph in live_graphs():
        left.append(repr(graph))
        graph.cancel()
    return left


def graphflow_threads(before: set[threading.Thread] | None = None) -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith("graphflow") and (before is None or t not in before)]


def guarded():
    before = set(threading.enumerate())
    actors_before = set(alive_actors())
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        graphs = release_leftovers()  # joins their threads and kills their actors, whatever the test did
    assert not graphs, f"graphs neither closed nor cancelled by the test: {graphs}"
    deadline = time.monotonic() + 10.0
    while True:
        threads = graphflow_threads(before)
        actors = [a for a in alive_actors() if a not in actors_before]
        if not threads and not actors:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: threads {threads}, actors {actors}")
        time.sleep(0.05)
