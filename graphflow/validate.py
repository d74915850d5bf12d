"""Check a ``GraphSpec`` against the registered calculators, before anything runs.

Errors (each a one-line ``ConfigError`` naming file:line and node, with what to do): unknown calculator, unknown
option or wrong option type, unknown/missing port, a stream produced twice or never, port type mismatch, a side
packet the graph does not declare, a cycle not closed by a ``back_edge`` input. The result, ``ValidatedGraph``,
is what the scheduler runs: nodes in topological order with their classes and built options.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .calculator import Calculator
from .config import GraphSpec, InputSpec, NodeSpec, OutputSpec
from .errors import ConfigError
from .options import OptionError, build_options
from .ports import type_name, types_compatible
from .registry import RegistryError, resolve


@dataclass
class NodeInfo:
    spec: NodeSpec
    cls: type[Calculator]
    options: Any
    input_policy: str

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class ValidatedGraph:
    spec: GraphSpec
    nodes: list[NodeInfo]
    producers: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # stream -> (node or None, loc)
    consumers: dict[str, list[tuple[str, InputSpec]]] = field(default_factory=dict)
    stream_types: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> NodeInfo:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _hint_streams(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean '{close[0]}'?" if close else "produce it with a node's outputs or list it in input_streams"


def validate(spec: GraphSpec) -> ValidatedGraph:
    infos: list[NodeInfo] = []
    for node in spec.nodes:
        try:
            cls = resolve(node.calculator, node.allow_imports)
        except RegistryError as exc:
            raise ConfigError(exc.message, location=node.loc, node=node.name, hint=exc.hint) from None
        try:
            options = build_options(cls.Options, node.options)
        except OptionError as exc:
            top = exc.key.split(".")[0].split("[")[0]
            raise ConfigError(f"{exc} (calculator {node.calculator})", location=node.option_locs.get(top, node.loc),
                              node=node.name, hint="fix the option under 'options:'") from None
        except TypeError as exc:
            raise ConfigError(f"{node.calculator}.Options is not a dataclass: {exc}", location=node.loc,
                              node=node.name) from None
        _check_ports(node, cls)
        policy = node.input_policy or getattr(cls, "input_policy", "default")
        for i in node.inputs:
            if i.back_edge and policy == "default":
                raise ConfigError(
                    f"back edge '{i.stream}' into input '{i.tag}' of a node with input_policy default: its packet "
                    "at T can only come after the node ran at T, so the node would wait for it forever",
                    location=i.loc, node=node.name,
                    hint="read the loop through a PreviousLoopback node (the packet of the previous timestamp), "
                         "or give this node input_policy: immediate")
        infos.append(NodeInfo(node, cls, options, policy))

    graph = ValidatedGraph(spec, infos)
    _check_streams(graph)
    _check_side_packets(graph)
    graph.nodes = _topological(graph)
    return graph


def _check_ports(node: NodeSpec, cls: type[Calculator]) -> None:
    calc = node.calculator
    for kind, items, ports in (
        ("input", node.inputs, cls.input_ports()),
        ("output", node.outputs, cls.output_ports()),
        ("side input", node.side_inputs, cls.side_input_ports()),
    ):
        given: dict[str, list[Any]] = {}
        for item in items:
            given.setdefault(item.tag, []).append(item)
        for tag, entries in given.items():
            if tag not in ports:
                known = ", ".join(ports) or "(none)"
                close = difflib.get_close_matches(tag, list(ports), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigError(f"{calc} has no {kind} port '{tag}'", location=entries[0].loc, node=node.name,
                                  hint=f"{hint}its {kind}s: {known}")
            port = ports[tag]
            if not port.multiple and (len(entries) > 1 or tag in node.multiple_tags):
                raise ConfigError(f"{kind} '{tag}' of {calc} takes one stream, got a list", location=entries[0].loc,
                                  node=node.name, hint="connect a single stream")
        for tag, port in ports.items():
            if not port.optional and tag not in given and kind != "output":
                raise ConfigError(f"required {kind} '{tag}' of {calc} is not connected", location=node.loc,
                                  node=node.name, hint=f"add {'side_inputs' if kind == 'side input' else 'inputs'}: "
                                                       f"{{{tag}: <name>}}")


def _check_streams(graph: ValidatedGraph) -> None:
    spec = graph.spec
    producers: dict[str, tuple[str | None, str]] = {}
    types: dict[str, Any] = {}
    for name, loc in spec.input_streams:
        producers[name] = (None, loc)
        types[name] = Any
    for info in graph.nodes:
        outs = info.cls.output_ports()
        for o in info.spec.outputs:
            if o.stream in producers:
                other, oloc = producers[o.stream]
                who = f"node '{other}'" if other else "the graph's input_streams"
                raise ConfigError(f"stream '{o.stream}' is produced twice (also by {who} at {oloc})", location=o.loc,
                                  node=info.name, hint="rename one of the two output streams")
            producers[o.stream] = (info.name, o.loc)
            types[o.stream] = outs[o.tag].type_
    known = sorted(producers)
    consumers: dict[str, list[tuple[str, InputSpec]]] = {}
    for info in graph.nodes:
        ins = info.cls.input_ports()
        for i in info.spec.inputs:
            if i.stream not in producers:
                raise ConfigError(f"input '{i.tag}' reads stream '{i.stream}', which nothing produces", location=i.loc,
                                  node=info.name, hint=_hint_streams(i.stream, known))
            port = ins[i.tag]
            produced = types[i.stream]
            if not types_compatible(produced, port.type_):
                pnode, ploc = producers[i.stream]
                raise ConfigError(
                    f"type mismatch on stream '{i.stream}': {pnode} produces {type_name(produced)}, "
                    f"input '{i.tag}' of {info.spec.calculator} takes {type_name(port.type_)}",
                    location=i.loc, node=info.name, hint=f"connect a stream of type {type_name(port.type_)}")
            consumers.setdefault(i.stream, []).append((info.name, i))
    for name, loc in spec.output_streams:
        if name not in producers:
            raise ConfigError(f"graph output stream '{name}' is produced by no node", location=loc,
                              hint=_hint_streams(name, known))
    graph.producers, graph.consumers, graph.stream_types = producers, consumers, types


def _check_side_packets(graph: ValidatedGraph) -> None:
    declared = {n for n, _ in graph.spec.input_side_packets}
    for info in graph.nodes:
        for s in info.spec.side_inputs:
            if s.name not in declared:
                raise ConfigError(f"side input '{s.tag}' reads side packet '{s.name}', which the graph does not "
                                  "declare", location=s.loc, node=info.name,
                                  hint=f"add '{s.name}' to input_side_packets")


def _topological(graph: ValidatedGraph) -> list[NodeInfo]:
    dag = nx.DiGraph()
    by_name = {n.name: n for n in graph.nodes}
    dag.add_nodes_from(by_name)
    for info in graph.nodes:
        for i in info.spec.inputs:
            producer = graph.producers[i.stream][0]
            if producer is not None and not i.back_edge:
                dag.add_edge(producer, info.name, input=i)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        order = list(nx.lexicographical_topological_sort(dag, key=lambda n: graph.nodes.index(by_name[n])))
        return [by_name[n] for n in order]
    names = [u for u, _v in cycle]
    last_u, last_v = cycle[-1]
    closing: InputSpec = dag.edges[last_u, last_v]["input"]
    raise ConfigError(
        f"cycle {' -> '.join([*names, names[0]])} has no back edge", location=closing.loc, node=last_v,
        hint=f"mark the input that closes the loop as a back edge: {closing.tag}: "
             f"{{stream: {closing.stream}, back_edge: true}}")


def output_spec(graph: ValidatedGraph, stream: str) -> OutputSpec | None:
    node, _ = graph.producers.get(stream, (None, ""))
    if node is None:
        return None
    for o in graph.node(node).spec.outputs:
        if o.stream == stream:
            return o
    return None
