"""Every validation error names file:line and node, and says what to do; nothing runs before validation."""

import re
import textwrap
from pathlib import Path

import pytest

from graphflow import ConfigError, Graph
from graphflow.config import load_graph
from graphflow.validate import validate

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, text: str, line: int, *fragments: str, node: str | None = None, **options) -> ConfigError:
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml(path, **options)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert "\n" not in msg, "errors are one line"
    if node is not None:
        assert f"node '{node}'" in msg, msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert "->" in msg, f"no hint in {msg!r}"
    return info.value


def test_unknown_calculator(tmp_path):
    check(tmp_path, """
        nodes:
          - calculator: PassThru
            inputs: {IN: a}
        """, 2, "unknown calculator 'PassThru'", "did you mean PassThrough", node="PassThru")


def test_undefined_stream(tmp_path):
    check(tmp_path, """
        input_streams: [frames]
        nodes:
          - name: p
            calculator: PassThrough
            inputs: {IN: frame}
            outputs: {OUT: out}
        """, 5, "reads stream 'frame', which nothing produces", "did you mean 'frames'", node="p")


def test_doubly_produced_stream(tmp_path):
    check(tmp_path, """
        input_streams: [a]
        nodes:
          - name: one
            calculator: PassThrough
            inputs: {IN: a}
            outputs: {OUT: b}
          - name: two
            calculator: PassThrough
            inputs: {IN: a}
            outputs: {OUT: b}
        """, 10, "stream 'b' is produced twice", "node 'one'", node="two")


def test_port_type_mismatch(tmp_path):
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: s
            calculator: TestStringOut
            inputs: {IN: n}
            outputs: {OUT: text}
          - name: add
            calculator: TestAdd
            inputs: {A: text, B: n}
            outputs: {SUM: total}
        """, 9, "type mismatch on stream 'text'", "produces str", "takes int", node="add")


def test_missing_required_port(tmp_path):
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: add
            calculator: TestAdd
            inputs: {A: n}
            outputs: {SUM: total}
        """, 3, "required input 'B' of TestAdd is not connected", node="add")


def test_unknown_port(tmp_path):
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: add
            calculator: TestAdd
            inputs: {A: n, B: n, C: n}
        """, 5, "TestAdd has no input port 'C'", "its inputs: A, B", node="add")


def test_unknown_option_and_wrong_type(tmp_path):
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: scale
            calculator: TestScale
            inputs: {IN: n}
            options:
              factr: 2
        """, 7, "unknown option 'factr'", "did you mean 'factor'", node="scale")
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: scale
            calculator: TestScale
            inputs: {IN: n}
            options:
              tags: [a, b]
              factor: "two"
        """, 8, "option 'factor' must be an integer", node="scale")


def test_cycle_without_back_edge(tmp_path):
    check(tmp_path, """
        input_streams: [x]
        nodes:
          - name: prev
            calculator: PreviousLoopback
            inputs: {MAIN: x, LOOP: sum}
            outputs: {PREV_LOOP: prev_sum}
          - name: acc
            calculator: TestRunningSum
            inputs: {IN: x, PREV: prev_sum}
            outputs: {SUM: sum}
        """, 5, "has no back edge", "back_edge: true", "prev")


def test_side_packet_not_declared_and_missing_at_start(tmp_path):
    check(tmp_path, """
        input_streams: [n]
        nodes:
          - name: scale
            calculator: TestScale
            inputs: {IN: n}
            side_inputs: {FACTOR: factor}
        """, 6, "side packet 'factor'", "input_side_packets", node="scale")
    path = tmp_path / "side.yaml"
    path.write_text("input_streams: [n]\ninput_side_packets: [factor]\nnodes:\n  - calculator: TestScale\n"
                    "    inputs: {IN: n}\n    side_inputs: {FACTOR: factor}\n")
    g = Graph.from_yaml(path)
    with pytest.raises(ConfigError, match=r"side packet 'factor' is missing at start.*side_packets=\{'factor'"):
        g.start()
    g.close()


def test_yaml_syntax_error_has_line(tmp_path):
    check(tmp_path, """
        nodes:
          - calculator: PassThrough
            inputs: {IN: a
          - calculator: PassThrough
        """, 4, "YAML syntax error")


def test_unknown_keys(tmp_path):
    check(tmp_path, """
        input_streams: [a]
        nodez: []
        """, 2, "unknown top-level key 'nodez'", "did you mean 'nodes'")
    check(tmp_path, """
        input_streams: [a]
        nodes:
          - calculator: PassThrough
            input: {IN: a}
        """, 4, "unknown node key 'input'", "did you mean 'inputs'")


def test_queue_settings_checked(tmp_path):
    check(tmp_path, """
        input_streams: [a]
        nodes:
          - calculator: PassThrough
            inputs: {IN: {stream: a, queue_size: 0}}
        """, 4, "queue_size must be an integer")
    check(tmp_path, """
        input_streams: [a]
        nodes:
          - calculator: PassThrough
            inputs: {IN: {stream: a, queue_policy: leaky}}
        """, 4, "queue_policy 'leaky'")


def test_module_path_calculators_need_allow_imports(tmp_path):
    check(tmp_path, """
        input_streams: [a]
        nodes:
          - calculator: "engine_calcs:Add"
            inputs: {A: a, B: a}
        """, 3, "has not permitted", "--allow-import engine_calcs")
    ok = "allow_imports: [engine_calcs]\ninput_streams: [a]\nnodes:\n  - calculator: 'engine_calcs:Add'\n" \
         "    inputs: {A: a, B: a}\n    outputs: {SUM: s}\n"
    with pytest.raises(ConfigError, match="asks to import module 'engine_calcs'"):  # a file cannot permit itself
        load_graph(ok)
    validate(load_graph(ok, allow_imports=["engine_calcs"]))


SUB = """
input_streams: [value]
output_streams: [scaled]
options: {factor: 2}
nodes:
  - name: scale
    calculator: TestScale
    inputs: {IN: value}
    outputs: {OUT: scaled}
    options: {factor: $factor}
"""


def test_subgraph_expansion_namespaces_streams_and_takes_options(tmp_path):
    (tmp_path / "sub.yaml").write_text(SUB)
    main = tmp_path / "main.yaml"
    main.write_text(textwrap.dedent("""
        input_streams: [x]
        output_streams: [y]
        options: {k: 3}
        nodes:
          - name: first
            subgraph: sub.yaml
            inputs: {value: x}
            outputs: {scaled: mid}
            options: {factor: $k}
          - name: second
            subgraph: sub.yaml
            inputs: {value: mid}
            outputs: {scaled: y}
        """))
    spec = load_graph(main, {"k": 5})
    assert [n.name for n in spec.nodes] == ["first/scale", "second/scale"]
    g = Graph.from_yaml(main, executor="inline", k=5)
    out = g.poller("y")
    g.start()
    g.add_packet("x", 1, 0)
    g.add_packet("x", 2, 1)
    g.wait_until_done(timeout=5)
    assert [p.payload for p in out] == [10, 20]  # *5 then *2 (the subgraph's default)


def test_subgraph_errors(tmp_path):
    (tmp_path / "sub.yaml").write_text(SUB)
    check(tmp_path, """
        input_streams: [x]
        nodes:
          - name: s
            subgraph: sub.yaml
            inputs: {valu: x}
        """, 5, "has no input_streams entry 'valu'", node="s")
    check(tmp_path, """
        input_streams: [x]
        nodes:
          - name: s
            subgraph: sub.yaml
            inputs: {value: x}
            options: {fact: 1}
        """, 6, "graph option 'fact' is not declared", node="s")
    (tmp_path / "loop.yaml").write_text("input_streams: [a]\nnodes:\n  - name: again\n    subgraph: loop.yaml\n"
                                        "    inputs: {a: a}\n")
    with pytest.raises(ConfigError, match=r"loop.yaml:4: node 'again': subgraph includes itself: loop.yaml -> loop"):
        load_graph(tmp_path / "loop.yaml")


def test_graph_options_from_python(tmp_path):
    (tmp_path / "sub.yaml").write_text(SUB)
    with pytest.raises(ConfigError, match="graph option 'factr' is not declared.*declared options: factor"):
        Graph.from_yaml(tmp_path / "sub.yaml", factr=3)


def test_every_shipped_graph_validates():
    graphs = sorted((ROOT / "graphs").glob("*.yaml"))
    for path in graphs:
        validate(load_graph(path))


def test_error_messages_are_short():
    with pytest.raises(ConfigError) as info:
        Graph.from_yaml("nodes:\n  - calculator: Nope\n")
    assert len(str(info.value)) < 200
    assert re.match(r"<string>:2: node 'Nope': unknown calculator", str(info.value))


def test_options_checked_by_the_dataclass_itself(tmp_path):
    check(tmp_path, """
        input_streams: [frames, done]
        nodes:
          - name: limiter
            calculator: FlowLimiter
            inputs: {IN: frames, FINISHED: {stream: done, back_edge: true}}
            outputs: {OUT: admitted}
            options: {max_in_flight: 0}
        """, 7, "max_in_flight >= 1", node="limiter")
