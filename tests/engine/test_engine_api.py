"""Graph API: pollers, observe, latest(), stats, trace, export, CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphflow import Graph, GraphTimeoutError
from graphflow.cli import main as cli
from graphflow.export import to_dot, to_mermaid
from graphflow.stats import table

ROOT = Path(__file__).resolve().parents[2]

CHAIN = """
input_streams: [in]
output_streams: [out]
nodes:
  - {name: a, calculator: PassThrough, inputs: {IN: in}, outputs: {OUT: m1}}
  - {name: b, calculator: PassThrough, inputs: {IN: m1}, outputs: {OUT: m2}}
  - {name: c, calculator: PassThrough, inputs: {IN: m2}, outputs: {OUT: out}}
"""


@pytest.mark.parametrize("executor", ["threads", "inline"])
def test_numpy_payload_travels_by_reference(executor):
    frame = np.zeros((480, 640, 3), np.uint8)
    g = Graph.from_yaml(CHAIN, executor=executor)
    seen = []
    g.observe("out", lambda p: seen.append(p.payload))
    g.start()
    g.add_packet("in", frame, 0)
    g.wait_until_done(timeout=5)
    assert seen[0] is frame


def test_poller_timeout_and_latest():
    g = Graph.from_yaml(CHAIN, executor="threads")
    poller = g.poller("out")
    g.start()
    with pytest.raises(GraphTimeoutError, match="no packet on stream 'out'"):
        poller.next(timeout=0.05)
    for ts in range(5):
        g.add_packet("in", ts, ts)
    g.wait_until_idle(timeout=5)
    latest = poller.latest()
    assert latest is not None and latest.payload == 4
    assert poller.latest() is None  # nothing new
    assert g.stats()["pollers"]["out"]["skipped_by_latest"] == 4
    g.close()
    assert poller.next(timeout=1) is None  # closed and drained


def test_stats_and_table():
    g = Graph.from_yaml(CHAIN, executor="inline")
    g.start()
    for ts in range(50):
        g.add_packet("in", ts, ts)
    g.wait_until_done()
    stats = g.stats()
    assert stats["nodes"]["b"]["process_calls"] == 50
    assert stats["nodes"]["b"]["inputs"]["IN"]["received"] == 50
    lat = stats["nodes"]["b"]["latency_us"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert stats["streams"]["out"]["packets"] == 50
    text = table(stats)
    assert "PassThrough" in text and "total drops: 0" in text


def test_trace_is_chrome_trace_json(tmp_path):
    path = tmp_path / "trace.json"
    g = Graph.from_yaml(CHAIN, executor="threads", trace=path)
    g.start()
    for ts in range(10):
        g.add_packet("in", ts, ts)
    g.close()
    doc = json.loads(path.read_text())
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == 30 and {e["name"] for e in spans} == {"a", "b", "c"}
    assert all(e["dur"] >= 0 and "timestamp_us" in e["args"] for e in spans)
    starts = {e["id"] for e in doc["traceEvents"] if e["ph"] == "s"}
    ends = {e["id"] for e in doc["traceEvents"] if e["ph"] == "f"}
    assert ends and ends <= starts  # every arrival has a departure


def test_export_dot_and_mermaid():
    from graphflow.config import load_graph
    from graphflow.validate import validate

    y = """
input_streams: [x]
output_streams: [sum]
nodes:
  - {name: prev, calculator: PreviousLoopback, inputs: {MAIN: x, LOOP: {stream: sum, back_edge: true}},
     outputs: {PREV_LOOP: p}}
  - {name: acc, calculator: TestRunningSum, inputs: {IN: x, PREV: p}, outputs: {SUM: sum}}
"""
    vg = validate(load_graph(y))
    dot = to_dot(vg)
    assert '"acc" -> "prev" [label="sum", style=dashed' in dot
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    mmd = to_mermaid(vg)
    assert mmd.startswith("flowchart TD") and "-.->|sum|" in mmd


def test_cli_validate_graph_run(tmp_path, capsys):
    assert cli(["validate", str(ROOT / "graphs" / "hand_tracking.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - calculator: PassThrough\n    inputs: {IN: missing}\n")
    assert cli(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: node 'PassThrough': input 'IN' reads stream 'missing'" in err
    assert "Traceback" not in err
    out = tmp_path / "g.dot"
    assert cli(["graph", str(ROOT / "graphs" / "hand_tracking.yaml"), "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    src = tmp_path / "count.yaml"
    src.write_text("input_side_packets: [n]\nnodes:\n  - {calculator: TestCountingSource, outputs: {OUT: x}, "
                   "options: {count: 5}}\n  - {name: s, calculator: TestScale, inputs: {IN: x}, "
                   "side_inputs: {FACTOR: n}, outputs: {OUT: y}}\n")
    stats_path = tmp_path / "stats.json"
    assert cli(["run", str(src), "--side", "n=3", "--stats", "--stats-json", str(stats_path)]) == 0
    assert json.loads(stats_path.read_text())["nodes"]["s"]["process_calls"] == 5
    assert cli(["run", str(src)]) == 2  # side packet missing: one line, exit 2
    assert "side packet 'n' is missing at start" in capsys.readouterr().err


def test_console_script_runs_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [")
    proc = subprocess.run([sys.executable, "-m", "graphflow", "validate", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "YAML syntax error" in proc.stderr and "Traceback" not in proc.stderr


def test_schema_accepts_shipped_graphs():
    import jsonschema
    import yaml

    from graphflow.schema import SCHEMA_PATH, graph_schema

    assert json.loads(SCHEMA_PATH.read_text()) == graph_schema(), (
        "regenerate it: python -c 'from graphflow.schema import write_schema; write_schema()'")
    for path in sorted((ROOT / "graphs").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), graph_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"nodes": [{"calculator": "X", "inputz": {}}]}, graph_schema())


def test_engine_does_not_import_torch_or_cv2():
    code = "import sys, graphflow, graphflow.cli, graphflow.testing; " \
           "print(sorted(m for m in ('torch', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
