"""Property-based bad graphs (hypothesis): random mutations of a valid graph (wrong types, huge numbers, unicode,
deleted and unknown keys, duplicated nodes) and random edits of its YAML text. Every outcome is either a graph that
validates (and then starts and closes cleanly), or exactly one ``ConfigError`` whose message starts with
``<string>:LINE:`` and is one line: never another exception type, never a hang."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphflow import ConfigError, Graph, GraphError

BASE: dict[str, Any] = {
    "description": "a valid graph the strategies mutate",
    "input_streams": ["frames", "finished"],
    "output_streams": ["out"],
    "options": {"limit": 2, "size": 4},
    "queue_size": 8,
    "nodes": [
        {"name": "limiter", "calculator": "FlowLimiter",
         "inputs": {"IN": "frames", "FINISHED": {"stream": "out", "back_edge": True, "queue_size": 1}},
         "outputs": {"OUT": "admitted"}, "options": {"max_in_flight": "$limit"}},
        {"name": "loop", "calculator": "PreviousLoopback",
         "inputs": {"MAIN": "admitted", "LOOP": {"stream": "out", "back_edge": True}},
         "outputs": {"PREV_LOOP": "previous"}},
        {"name": "copy", "calculator": "PassThrough", "input_policy": "default",
         "inputs": {"IN": [{"stream": "admitted", "queue_size": 4, "queue_policy": "drop_oldest"}, "finished"]},
         "outputs": {"OUT": ["out", "finished_copy"]}},
    ],
}
PLAUSIBLE = st.sampled_from([0, 1, 2, 64, 1_000_000, True, False, "block", "drop_oldest", "latest_only", "default",
                             "immediate", "frames", "finished", "out", "admitted", "previous", "$limit", "$size"])
LOCATION = re.compile(r"^<string>:[1-9][0-9]*: ")
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | texts
    | st.sampled_from(["$limit", "$nope", "$$x", "block", "latest_only", "immediate", "PassThrough", "os:system",
                       "a:b", "out", "frames", "-1", "1e999", "~", "*x", "&y"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts | st.sampled_from(
        ["stream", "queue_size", "back_edge", "IN", "OUT", "calculator", "name", "initial"]), inner, max_size=3),
    max_leaves=6,
)


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += paths(v, (*prefix, i))
    return out


def parent_of(tree: Any, path: tuple) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def mutated_graphs(draw: st.DrawFn) -> dict[str, Any]:
    graph = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        candidates = [p for p in paths(graph) if p]
        path = draw(st.sampled_from(candidates))
        parent = parent_of(graph, path)
        op = draw(st.sampled_from(["replace", "delete", "add_key", "duplicate_node", "plausible", "plausible"]))
        if op == "replace":
            parent[path[-1]] = draw(junk)
        elif op == "plausible":  # a value of the right kind for some key: many of these graphs stay valid
            parent[path[-1]] = draw(PLAUSIBLE)
        elif op == "delete":
            del parent[path[-1]]
        elif op == "add_key" and isinstance(parent, dict):
            parent[draw(texts | st.sampled_from(["inputs", "outputs", "subgraph", "options", "nodes"]))] = draw(junk)
        elif op == "duplicate_node" and isinstance(graph.get("nodes"), list) and graph["nodes"]:
            graph["nodes"].append(copy.deepcopy(draw(st.sampled_from(graph["nodes"]))))
    return graph


def check_outcome(text: str) -> None:
    t0 = time.monotonic()
    try:
        graph = Graph.from_yaml(text)
    except ConfigError as exc:
        message = str(exc)
        assert LOCATION.match(message), f"no <string>:line in {message!r}"
        assert "\n" not in message, message
        return
    finally:
        assert time.monotonic() - t0 < 5.0
    # valid: it must also start and close cleanly (a failing open is a GraphError naming the node)
    try:
        graph.start()
    except GraphError as exc:
        assert exc.node and exc.phase == "open", str(exc)
        return
    try:
        for ts in range(3):
            for stream in graph.spec.input_streams:
                graph.add_packet(stream[0], ts, ts)
        graph.close(timeout=5.0)
    except GraphError as exc:
        assert exc.node, str(exc)
    finally:
        if not graph.failed:
            graph.close(timeout=1.0)


def dump(graph: dict[str, Any]) -> str:
    return yaml.safe_dump(graph, allow_unicode=True, sort_keys=False)


def test_the_base_graph_is_valid_and_runs():
    graph = Graph.from_yaml(dump(BASE))
    assert [n.name for n in graph.validated.nodes] == ["limiter", "loop", "copy"]
    check_outcome(dump(BASE))


@SETTINGS
@given(mutated_graphs())
def test_mutated_graphs_validate_or_fail_with_one_located_error(graph):
    check_outcome(dump(graph))


YAML_CHARS = list(":-[]{},&*!|>'\"#%@`\t\n ") + ["\n  ", "\n- ", ": ", "\x00", "\u200b", "é", "流", "\ufeff"]


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(YAML_CHARS)), min_size=1,
                max_size=4))
def test_edited_yaml_text_validates_or_fails_with_one_located_error(edits):
    text = dump(BASE)
    for position, delete, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + delete:]
    check_outcome(text)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=200))
def test_arbitrary_text_validates_or_fails_with_one_located_error(text):
    check_outcome(text)
