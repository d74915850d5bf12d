"""Ctrl-C and SystemExit inside a node's call.

A light node fed by ``add_packet`` runs in the application's thread (``caller_runs``, on by default; the inline
executor always), so a Ctrl-C in a lock-step control loop usually lands inside a node's ``process``. It must reach
the application as the ``KeyboardInterrupt`` it is (it used to surface as "RuntimeError: cannot release un-acquired
lock", after which ``close()`` waited its whole timeout for a node it thought was stuck), and leave a graph that
still works: ``stop()`` drains it, every packet accounted for. In a worker thread nobody would see a
``SystemExit``, so there it fails the run with one ``GraphError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_no_graphflow_threads
from faults_accounting import check_accounting

from graphflow import Calculator, Context, Graph, GraphError, Input, Output, register_calculator

REPO = Path(__file__).resolve().parents[2]
INTERRUPT_AT = 20  # after the node's first calls (it is light from then on, so the caller's thread runs it)
PACKETS = 30
MODES = {"threads": {"executor": "threads"}, "inline": {"executor": "inline"}}


@register_calculator("InterruptAt")
class InterruptAt(Calculator):
    """Forwards IN; raises ``error`` (a BaseException class name) in ``phase`` ("process" at payload ``at``, or
    "close"), after ``delay`` seconds of GIL-free wait per call.

    Inputs: IN - int; Outputs: OUT - int
    """

    IN = Input(int)
    OUT = Output(int)

    @dataclass
    class Options:
        error: str = "KeyboardInterrupt"  # or "SystemExit"
        at: int = INTERRUPT_AT
        phase: str = "process"  # or "close"
        delay: float = 0.0

    def open(self, ctx: Context) -> None:
        self.error: type[BaseException] = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit}[
            self.options.error]

    def process(self, ctx: Context) -> None:
        if self.options.delay:
            time.sleep(self.options.delay)
        value = ctx.get("IN")
        if self.options.phase == "process" and value == self.options.at:
            raise self.error()
        ctx.emit("OUT", value)

    def close(self, ctx: Context) -> None:
        if self.options.phase == "close":
            raise self.error()


def _graph(mode: str, **options: Any) -> Graph:
    return Graph.from_yaml({
        "input_streams": ["in"], "output_streams": ["out"],
        "nodes": [{"name": "first", "calculator": "PassThrough", "inputs": {"IN": "in"}, "outputs": {"OUT": "s"}},
                  {"name": "node", "calculator": "InterruptAt", "inputs": {"IN": "s"}, "outputs": {"OUT": "out"},
                   "options": options}]}, **MODES[mode])


@pytest.mark.parametrize("mode", list(MODES))
def test_ctrl_c_in_a_call_run_by_the_application_reaches_it_and_the_graph_still_works(mode):
    graph = _graph(mode)
    poller = graph.poller("out")
    graph.start()
    got = []
    interrupted_at = None
    for i in range(PACKETS):
        try:
            graph.add_packet("in", i, i)
        except KeyboardInterrupt:
            interrupted_at = i
            continue
        packet = poller.next(timeout=5)
        assert packet is not None, i
        got.append(packet.payload)
    assert interrupted_at == INTERRUPT_AT
    assert got == [i for i in range(PACKETS) if i != INTERRUPT_AT]  # it goes on after the interrupted call
    t0 = time.monotonic()
    graph.stop(timeout=5)
    assert time.monotonic() - t0 < 2.0  # nothing is left "stuck in a call"
    table = check_accounting(graph.stats())
    assert table["node"] == {"received": PACKETS, "consumed": PACKETS - 1, "drops": 1, "depth": 0}
    assert wait_no_graphflow_threads() == []


def test_ctrl_c_in_close_run_by_the_application_still_closes_the_outputs():
    graph = _graph("inline", phase="close")
    seen = []
    graph.observe("out", lambda p: seen.append(p.payload))
    graph.start()
    for i in range(5):
        graph.add_packet("in", i, i)
    with pytest.raises(KeyboardInterrupt):
        graph.close_input("in")  # the inline executor runs the closes right here
    assert seen == list(range(5))
    graph.close(timeout=5)  # the outputs were closed on the way: nothing waits for them
    assert wait_no_graphflow_threads() == []


def test_system_exit_in_a_worker_fails_the_run_with_one_graph_error():
    graph = _graph("threads", error="SystemExit", delay=0.002)  # 2 ms calls: heavy, so a worker runs it
    graph.start()
    with pytest.raises(GraphError) as info:
        for i in range(PACKETS):
            graph.add_packet("in", i, i)
        graph.wait_until_done(timeout=10)
    err = info.value
    assert (err.node, err.phase, err.timestamp) == ("node", "process", INTERRUPT_AT)
    assert "SystemExit" in str(err)
    assert wait_no_graphflow_threads() == []


CHILD = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    from graphflow import Calculator, Graph, Input, Output, register_calculator

    @register_calculator("SelfInterrupt")
    class SelfInterrupt(Calculator):
        IN = Input(int)
        OUT = Output(int)

        def process(self, ctx):
            value = ctx.get("IN")
            if value == AT:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: the handler raises in the main thread
                until = time.monotonic() + 2.0
                while time.monotonic() < until:  # pure Python: the interrupt lands here, inside process
                    pass
            ctx.emit("OUT", value)

    graph = Graph.from_yaml({"input_streams": ["in"], "output_streams": ["out"], "nodes": [
        {"name": "node", "calculator": "SelfInterrupt", "inputs": {"IN": "in"}, "outputs": {"OUT": "out"}}]})
    poller = graph.poller("out")
    graph.start()
    try:
        for i in range(1000):
            graph.add_packet("in", i, i)
            poller.next(timeout=5)
    except KeyboardInterrupt:
        t0 = time.monotonic()
        graph.stop(timeout=5)
        stats = graph.stats()["nodes"]["node"]
        print(json.dumps({"interrupted_at": i, "stop_s": time.monotonic() - t0, "calls": stats["process_calls"],
                          "drops": stats["inputs"]["IN"]["drops"],
                          "threads": [t.name for t in threading.enumerate() if t.name.startswith("graphflow")]}))
        sys.exit(0)
    sys.exit(3)
""").replace("AT", str(INTERRUPT_AT))


def test_a_real_sigint_during_a_call_in_the_callers_thread_ends_a_control_loop_cleanly():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["interrupted_at"] == INTERRUPT_AT
    assert report["stop_s"] < 2.0 and report["threads"] == []
    assert (report["calls"], report["drops"]) == (INTERRUPT_AT, 1)


def test_the_interrupted_node_ran_in_the_callers_thread():
    """The premise of the tests above: after its first calls the light node runs in the application's thread."""
    names = []

    @register_calculator("ThreadOfCall")
    class ThreadOfCall(Calculator):
        IN = Input(int)
        OUT = Output(int)

        def process(self, ctx: Context) -> None:
            names.append(threading.current_thread().name)
            ctx.emit("OUT", ctx.get("IN"))

    graph = Graph.from_yaml({"input_streams": ["in"], "output_streams": ["out"], "nodes": [
        {"name": "node", "calculator": "ThreadOfCall", "inputs": {"IN": "in"}, "outputs": {"OUT": "out"}}]})
    poller = graph.poller("out")
    graph.start()
    for i in range(PACKETS):
        graph.add_packet("in", i, i)
        assert poller.next(timeout=5) is not None
    graph.close()
    assert names[INTERRUPT_AT] == threading.current_thread().name
