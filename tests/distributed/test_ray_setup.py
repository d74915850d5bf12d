"""What a user sees before anything runs: Ray missing, an unreachable cluster, the partition of a graph."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from graphflow.config import load_graph
from graphflow.distributed import DRIVER, partition
from graphflow.validate import validate

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_without_ray_the_error_is_one_line_saying_what_to_install():
    code = ("import sys; sys.modules['ray'] = None\n"
            "try:\n    import graphflow.distributed\nexcept Exception as exc:\n    print(type(exc).__name__, exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=ENV)
    assert out.stdout.strip() == ("GraphflowError executor 'ray' needs Ray, which is not installed: "
                                  "pip install -e '.[ray]'")


def test_an_unreachable_address_is_one_line(tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text(textwrap.dedent("""\
        executor: {type: ray, address: "127.0.0.1:9"}
        groups: {g: {}}
        allow_imports: [ray_calcs]
        nodes:
          - {calculator: "ray_calcs:Source", outputs: {OUT: y}, group: g}
        """))
    t0 = time.monotonic()
    env = {**ENV, "RAY_ADDRESS": "", "PYTHONPATH": f"{ROOT}:{Path(__file__).parent}"}
    out = subprocess.run([sys.executable, "-m", "graphflow.cli", "run", str(graph),
                          "--allow-import", "ray_calcs"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert time.monotonic() - t0 < 60
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("graphflow: cannot reach the Ray cluster at 127.0.0.1:9") and "ray start" in lines[0]


def test_partition_edges_and_their_queue_rules():
    spec = load_graph(textwrap.dedent("""\
        input_streams: [x]
        output_streams: [z, w]
        groups: {a: {}, b: {}}
        nodes:
          - {name: n1, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}, group: a}
          - {name: n2, calculator: PassThrough, group: b, outputs: {OUT: z},
             inputs: {IN: {stream: y, queue_size: 3, queue_policy: drop_oldest}}}
          - {name: n3, calculator: PassThrough, group: b, outputs: {OUT: w},
             inputs: {IN: {stream: y, queue_size: 5, queue_policy: latest_only}}}
          - {name: n4, calculator: PassThrough, inputs: {IN: {stream: y, queue_size: 7}}, outputs: {OUT: v}}
        """))
    parts = partition(validate(spec))
    assert list(parts) == [DRIVER, "a", "b"]
    edges = {e.id: (e.src, e.policy, e.capacity) for p in parts.values() for e in p.outputs}
    assert edges == {
        "x->a": (DRIVER, "block", 100),
        "y->b": ("a", "drop_oldest", 3),  # the largest dropping queue there (latest_only counts 1)
        "y-><driver>": ("a", "block", 7),
        "z-><driver>": ("b", "block", 100), "w-><driver>": ("b", "block", 100),
    }
    assert [n for n, _ in parts["b"].graph.spec.input_streams] == ["y"]
    assert parts["a"].node_names == ["n1"] and parts[DRIVER].node_names == ["n4"]
