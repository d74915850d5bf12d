"""A corpus of broken graph files: each must give exactly one ``ConfigError`` whose message starts with
``file:line`` (the line marked ``#!`` in the case), says what is wrong in one line, and never a Python traceback from
inside the engine, nor a hang. The same files through ``graphflow validate`` exit 2 with that one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from graphflow import ConfigError, Graph
from graphflow.cli import main as cli_main

OK_NODE = """
  - calculator: PassThrough
    inputs: {IN: a}
    outputs: {OUT: b}
"""

# (case id, graph text with '#!' on the line the error must point at, a phrase the message must contain)
CORPUS: list[tuple[str, str, str]] = [
    # --- file level
    ("empty", "#!\n", "the graph is empty"),
    ("scalar", "hello #!\n", "must be a mapping at the top level, got str"),
    ("top_list", "- a #!\n- b\n", "must be a mapping at the top level, got LineList"),
    ("no_nodes", "input_streams: [a] #!\n", "has no 'nodes:' list"),
    ("syntax_colon", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a\n    outputs: #!\n",
     "YAML syntax error"),
    ("tab_indent", "nodes:\n\t- calculator: PassThrough #!\n", "YAML syntax error"),
    ("nul_byte", "input_streams: [a]\nnodes: [\x00] #!\n", "U+0000 is not allowed"),
    ("python_tag", "input_streams: [a]\nnodes: !!python/object/apply:os.system ['true'] #!\n",
     "could not determine a constructor for the tag"),
    ("duplicate_key", "input_streams: [a]\ninput_streams: [b] #!\nnodes: []\n", "duplicate key 'input_streams'"),
    ("null_key", "input_streams: [a]\nnodes:\n  - ~: PassThrough #!\n", "mapping keys must be plain scalars"),
    ("list_key", "input_streams: [a]\nnodes:\n  - [x]: PassThrough #!\n", "mapping keys must be plain scalars"),
    ("deep_nesting", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    options: {x: " + "[" * 200 + "]" * 200 + "} #!\n", "nesting is deeper than 64 levels"),
    ("billion_laughs", "input_streams: [a]\noptions:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" + (" #!" if i == 5 else "") + "\n"
               for i in range(1, 9)) + "nodes: []\n", "aliases expand to more than"),
    # --- unknown keys
    ("unknown_top_key", "input_streams: [a]\nnode: [] #!\n", "unknown top-level key 'node'"),
    ("unknown_node_key", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    input: {IN: a} #!\n",
     "unknown node key 'input'"),
    ("unknown_input_key", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n"
     "    inputs: {IN: {stream: a, queue: 3}} #!\n", "unknown key 'queue' in input 'IN'"),
    ("unknown_option", "input_streams: [a]\nnodes:\n  - calculator: FlowLimiter\n    inputs: {IN: a}\n"
     "    outputs: {OUT: b}\n    options:\n      max_inflight: 2 #!\n", "unknown option 'max_inflight'"),
    ("unknown_calculator", "input_streams: [a]\nnodes:\n  - calculator: PassTrough #!\n    inputs: {IN: a}\n",
     "unknown calculator 'PassTrough'"),
    ("unknown_port", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a, IMAGE: a} #!\n",
     "PassThrough has no input port 'IMAGE'"),
    ("undeclared_graph_option", "input_streams: [a]\nnodes:\n  - calculator: FlowLimiter\n    inputs: {IN: a}\n"
     "    outputs: {OUT: b}\n    options: {max_in_flight: $limit} #!\n", "option reference '$limit' names no option"),
    # --- wrong types
    ("nodes_scalar", "input_streams: [a]\nnodes: 5 #!\n", "'nodes' must be a list, got int"),
    ("node_scalar", "input_streams: [a]\nnodes:\n  - 5 #!\n", "node #1 must be a mapping, got int"),
    ("inputs_list", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: [a] #!\n",
     "'inputs' must be a mapping"),
    ("options_list", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    options: [1] #!\n", "'options' must be a mapping"),
    ("option_wrong_type", "input_streams: [a]\nnodes:\n  - calculator: FlowLimiter\n    inputs: {IN: a}\n"
     "    outputs: {OUT: b}\n    options:\n      max_in_flight: two #!\n", "must be an integer, got str"),
    ("option_date", "input_streams: [a]\nnodes:\n  - calculator: FlowLimiter\n    inputs: {IN: a}\n"
     "    outputs: {OUT: b}\n    options:\n      max_in_flight: 2001-01-01 #!\n", "must be an integer, got date"),
    ("queue_size_string", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    queue_size: big #!\n", "queue_size must be an integer"),
    ("queue_size_bool", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    queue_size: true #!\n", "queue_size must be an integer"),
    ("queue_size_huge", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    queue_size: 99999999999999999999999999999 #!\n", "queue_size must be an integer from 1 to"),
    ("queue_size_negative", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    queue_size: -1 #!\n", "queue_size must be an integer from 1 to"),
    ("queue_policy_bad", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n"
     "    inputs: {IN: {stream: a, queue_policy: newest}} #!\n", "queue_policy 'newest' is not one of"),
    ("input_policy_bad", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    input_policy: fast #!\n", "input_policy 'fast' is not one of"),
    ("back_edge_string", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n"
     "    inputs: {IN: {stream: a, back_edge: \"yes\"}} #!\n", "back_edge must be true or false"),
    ("calculator_number", "input_streams: [a]\nnodes:\n  - calculator: 42 #!\n", "'calculator' must be a non-empty"),
    ("stream_binary", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n"
     "    inputs: {IN: !!binary aGVsbG8=} #!\n", "input 'IN' must name a stream"),
    ("streams_set", "input_streams: !!set {a, b} #!\nnodes: []\n", "'input_streams' must be a list of names"),
    ("stream_number", "input_streams: [1] #!\nnodes: []\n", "'input_streams' entry 1 is not a valid name"),
    ("both_calc_and_subgraph", "input_streams: [a]\nnodes:\n  - calculator: PassThrough #!\n    subgraph: x.yaml\n",
     "needs exactly one of 'calculator' or 'subgraph'"),
    # --- unicode
    ("unicode_node_name", "input_streams: [a]\nnodes:\n  - name: ñodo #!\n    calculator: PassThrough\n",
     "node name 'ñodo' is not valid"),
    ("unicode_stream", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: a}\n"
     "    outputs: {OUT: 流} #!\n", "outputs 'OUT' must name a stream, got '流'"),
    ("zero_width_space", "input_streams: [a]\nnodes:\n  - calculator: Pass\u200bThrough #!\n",
     "contains U+200B"),
    ("emoji_tag", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {😀: a} #!\n",
     "input tag '😀' is not a valid identifier"),
    # --- missing streams, duplicates, cycles
    ("missing_stream", "input_streams: [a]\nnodes:\n  - calculator: PassThrough\n    inputs: {IN: nope} #!\n",
     "reads stream 'nope', which nothing produces"),
    ("missing_output_stream", "input_streams: [a]\noutput_streams: [zz] #!\nnodes:" + OK_NODE,
     "graph output stream 'zz' is produced by no node"),
    ("missing_required_input", "input_streams: [a]\nnodes:\n  - calculator: FlowLimiter #!\n    outputs: {OUT: b}\n",
     "required input 'IN' of FlowLimiter is not connected"),
    ("undeclared_side_packet", "input_streams: [a]\nnodes:\n  - calculator: VideoSource\n    outputs: {IMAGE: b}\n"
     "    side_inputs: {STOP: stop_event} #!\n", "reads side packet 'stop_event', which the graph does not declare"),
    ("duplicate_node_name", "input_streams: [a]\nnodes:\n  - {name: n, calculator: PassThrough, inputs: {IN: a}}\n"
     "  - name: n #!\n    calculator: PassThrough\n    inputs: {IN: a}\n", "two nodes are named 'n'"),
    ("stream_produced_twice", "input_streams: [a]\nnodes:" + OK_NODE + "  - calculator: PassThrough\n"
     "    inputs: {IN: a}\n    outputs: {OUT: b} #!\n", "stream 'b' is produced twice"),
    ("duplicate_input_stream", "input_streams: [a, a] #!\nnodes: []\n", "'input_streams' lists 'a' twice"),
    ("cycle", "input_streams: [a]\nnodes:\n  - {name: p, calculator: TestFaultsAdd, inputs: {A: a, B: d}, outputs: "
     "{SUM: c}} #!\n  - name: q\n    calculator: PassThrough\n    inputs: {IN: c}\n    outputs: {OUT: d}\n",
     "has no back edge"),
    ("module_path_not_allowed", "input_streams: [a]\nnodes:\n  - calculator: os.path:join #!\n",
     "names module 'os.path', which the caller has not permitted"),
    ("module_permitted_by_the_file", "allow_imports: [os.path] #!\ninput_streams: [a]\nnodes:\n"
     "  - calculator: os.path:join\n", "the graph asks to import module 'os.path' (allow_imports)"),
]


@pytest.fixture(autouse=True, scope="module")
def _two_input_calculator():
    from dataclasses import dataclass  # noqa: F401 - keeps the helper self-contained

    from graphflow import Calculator, Input, Output, register_calculator
    from graphflow.registry import unregister

    @register_calculator("TestFaultsAdd")
    class _Add(Calculator):
        A = Input(int)
        B = Input(int)
        SUM = Output(int)

        def process(self, ctx):  # pragma: no cover - never runs: the graph is invalid
            ctx.emit("SUM", ctx.get("A", 0) + ctx.get("B", 0))

    yield
    unregister("TestFaultsAdd")


def marked_line(text: str) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines() or [""]) if "#!" in line]
    assert len(lines) == 1, "mark exactly one line with #!"
    return lines[0]


@pytest.mark.parametrize(("case", "text", "phrase"), CORPUS, ids=[c[0] for c in CORPUS])
def test_broken_graph_gives_one_error_at_file_line(tmp_path, case, text, phrase):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(path)
    assert time.monotonic() - t0 < 5.0
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}:{marked_line(text)}: "), message
    assert phrase in message, message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize(("case", "text", "phrase"), CORPUS[::5], ids=[c[0] for c in CORPUS[::5]])
def test_graphflow_validate_prints_the_one_line_and_exits_2(tmp_path, capsys, case, text, phrase):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    assert cli_main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and phrase in err and f"{path.name}:{marked_line(text)}:" in err


def test_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"input_streams: [a]\nnodes: []\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml:3: graph file is not UTF-8 text \(byte 0xe9"):
        Graph.from_yaml(path)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Graph.from_yaml(tmp_path / "nope.yaml")


# --- subgraphs -------------------------------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def subgraph_node(target: str, mark: bool = True) -> str:
    return (f"input_streams: [x]\noutput_streams: [y]\nnodes:\n  - subgraph: {target}{' #!' if mark else ''}\n"
            "    inputs: {x: x}\n    outputs: {y: y}\n")


def test_subgraph_including_itself(tmp_path):
    path = write(tmp_path / "self.yaml", subgraph_node("self.yaml"))
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(path)
    assert str(info.value).startswith(f"{path}:4: node 'self': subgraph includes itself: self.yaml -> self.yaml")


def test_subgraphs_including_each_other(tmp_path):
    write(tmp_path / "a.yaml", subgraph_node("b.yaml"))
    b = write(tmp_path / "b.yaml", subgraph_node("a.yaml"))
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(tmp_path / "a.yaml")
    assert str(info.value).startswith(f"{b}:4: ") and "a.yaml -> b.yaml -> a.yaml" in str(info.value)


def test_deeply_nested_subgraphs(tmp_path):
    depth = 40
    for i in range(depth):
        write(tmp_path / f"level{i}.yaml", subgraph_node(f"level{i + 1}.yaml"))
    write(tmp_path / f"level{depth}.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
          "  - {calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}}\n")
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(tmp_path / "level0.yaml")
    assert time.monotonic() - t0 < 5.0
    assert "subgraphs nest deeper than 16 levels" in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'level15.yaml'}:4: ")  # the include one level too deep


def test_error_inside_a_subgraph_points_into_the_subgraph_file(tmp_path):
    inner = write(tmp_path / "inner.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
                  "  - calculator: PassThrough\n    inputs: {IN: x}\n    outputs: {OUT: y}\n    bogus: 1\n")
    write(tmp_path / "outer.yaml", subgraph_node("inner.yaml"))
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(tmp_path / "outer.yaml")
    assert str(info.value).startswith(f"{inner}:7: unknown node key 'bogus'")


@pytest.mark.parametrize(("wiring", "phrase"), [
    ("    inputs: {nope: x}\n    outputs: {y: y}\n", "has no input_streams entry 'nope'"),
    ("    outputs: {y: y}\n", "subgraph input stream 'x' is not connected"),
    ("    inputs: {x: x}\n    outputs: {y: y}\n    options: {speed: 3}\n", "graph option 'speed' is not declared"),
])
def test_subgraph_wiring_errors(tmp_path, wiring, phrase):
    write(tmp_path / "inner.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
          "  - {calculator: PassThrough, inputs: {IN: x}, outputs: {OUT: y}}\n")
    outer = write(tmp_path / "outer.yaml", "input_streams: [x]\noutput_streams: [y]\nnodes:\n"
                  "  - subgraph: inner.yaml\n" + wiring)
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(outer)
    assert str(info.value).startswith(f"{outer}:") and phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_subgraph_file(tmp_path):
    outer = write(tmp_path / "outer.yaml", subgraph_node("gone.yaml"))
    with pytest.raises(ConfigError, match=r"outer\.yaml:4: node 'gone': subgraph file 'gone.yaml' not found"):
        Graph.from_yaml(outer)
