"""The placement keys (``executor:``, ``groups:``, a node's ``group:``): read, checked with file:line, drawn."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graphflow import ConfigError, Graph
from graphflow.config import load_graph
from graphflow.export import to_dot, to_mermaid
from graphflow.validate import validate

GROUPED = """\
input_streams: [x]
output_streams: [z]
executor: {type: ray, address: auto}
groups:
  a: {num_cpus: 1, resources: {camera: 1}}
  b: {max_restarts: 2}
nodes:
  - {name: p1, calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}, group: a}
  - {name: p2, calculator: PassThrough, inputs: {IN: y}, outputs: {OUT: z}, group: b}
"""


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_groups_and_executor_are_read(tmp_path):
    spec = load_graph(write(tmp_path, GROUPED))
    assert spec.executor.type == "ray" and spec.executor.address == "auto"
    assert spec.groups["a"].num_cpus == 1.0 and spec.groups["a"].resources == {"camera": 1.0}
    assert spec.groups["b"].max_restarts == 2 and spec.groups["b"].num_cpus is None
    assert [n.group for n in spec.nodes] == ["a", "b"]


def test_threads_executor_runs_a_grouped_graph_in_one_process(tmp_path):
    out = []
    with Graph.from_yaml(write(tmp_path, GROUPED), executor="threads") as graph:  # overrides the file's ray
        graph.observe("z", lambda p: out.append(p.payload))
        graph.start()
        for t in range(5):
            graph.add_packet("x", t, t)
    assert out == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("change, line, message", [
    ("group: b}", 9, "group 'c' is not declared"),
    ("b: {max_restarts: 2}", 6, "unknown option 'max_restart' of group 'b'"),
    ("a: {num_cpus: 1, resources: {camera: 1}}", 5, "num_cpus must be a number >= 0"),
    ("executor: {type: ray, address: auto}", 3, "executor type 'dask' is not one of"),
    ("b: {max_restarts: 2}", 6, "max_restarts must be an integer >= -1"),
])
def test_bad_group_keys_name_file_and_line(tmp_path, change, line, message):
    replacement = {
        "group: b}": "group: c}",
        "b: {max_restarts: 2}": "b: {max_restart: 2}" if "unknown" in message else "b: {max_restarts: many}",
        "a: {num_cpus: 1, resources: {camera: 1}}": "a: {num_cpus: -1}",
        "executor: {type: ray, address: auto}": "executor: dask",
    }[change]
    path = write(tmp_path, GROUPED.replace(change, replacement))
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    assert message in str(info.value)
    assert info.value.location == f"{path.resolve()}:{line}", str(info.value)


def test_a_subgraph_nodes_group_applies_to_all_its_nodes(tmp_path):
    write(tmp_path, """\
        input_streams: [a]
        output_streams: [c]
        nodes:
          - {name: one, calculator: PassThrough, inputs: {IN: a}, outputs: {OUT: b}}
          - {name: two, calculator: PassThrough, inputs: {IN: b}, outputs: {OUT: c}}
        """, "inner.yaml")
    path = write(tmp_path, """\
        input_streams: [x]
        output_streams: [z]
        groups: {models: {}}
        nodes:
          - {name: sub, subgraph: inner.yaml, inputs: {a: x}, outputs: {c: z}, group: models}
        """)
    spec = load_graph(path)
    assert {n.name: n.group for n in spec.nodes} == {"sub/one": "models", "sub/two": "models"}


def test_groups_are_drawn_as_clusters(tmp_path):
    graph = validate(load_graph(write(tmp_path, GROUPED)))
    dot = to_dot(graph)
    assert 'label="group a"' in dot and 'label="group b"' in dot and dot.count("subgraph cluster_") == 2
    cluster_a = dot.split('label="group a"')[1].split("}")[0]
    assert '"p1"' in cluster_a and '"p2"' not in cluster_a
    mermaid = to_mermaid(graph)
    assert 'subgraph group0["group a"]' in mermaid and mermaid.count("  end") == 2


def test_schema_accepts_the_placement_keys(tmp_path):
    import jsonschema
    import yaml

    from graphflow.schema import graph_schema

    jsonschema.validate(yaml.safe_load(GROUPED), graph_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(GROUPED.replace("max_restarts", "max_restart")), graph_schema())


def test_the_engine_does_not_import_ray():
    code = ("import sys, graphflow, graphflow.cli, graphflow.export; "
            "import json; print(json.dumps('ray' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) is False
