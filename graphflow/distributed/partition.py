"""Cutting a validated graph into parts: one per ``group``, plus the driver's part (the ungrouped nodes).

Each part is an ordinary graph for the in-process engine. A stream produced in one part and read in another is
a *bridge edge* (one per stream and receiving part): in the producing part the stream is observed; in the
receiving part it is a graph input stream, fed by the bridge. The driver's part also holds the graph's own input
streams (the application's ``add_packet``) and output streams (its pollers and observers).

No Ray here: this is plain graph surgery, tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..config import DEFAULT_QUEUE_SIZE, GraphSpec
from ..groups import GroupSpec
from ..validate import ValidatedGraph, validate

DRIVER = "<driver>"  # not a valid group name, so it never collides with one


@dataclass(frozen=True)
class Edge:
    """One bridge: ``stream`` from part ``src`` to part ``dst``, with the queue rule the sender enforces."""

    stream: str
    src: str
    dst: str
    policy: str  # block | drop_oldest | latest_only
    capacity: int  # block: credit (packets in transit); drops: packets the sender keeps

    @cached_property  # (read on every transfer: worked out once)
    def id(self) -> str:
        return f"{self.stream}->{self.dst}"

    @cached_property
    def dropping(self) -> bool:
        return self.policy != "block"


@dataclass
class Part:
    name: str  # a group name, or DRIVER
    graph: ValidatedGraph
    inputs: list[Edge] = field(default_factory=list)  # bridges into this part
    outputs: list[Edge] = field(default_factory=list)  # bridges out of it
    group: GroupSpec | None = None

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.graph.nodes]


def part_of(validated: ValidatedGraph, node: str | None) -> str:
    """The part a node runs in (graph input streams, ``node=None``, belong to the driver)."""
    if node is None:
        return DRIVER
    return validated.node(node).spec.group or DRIVER


def edge_rule(validated: ValidatedGraph, stream: str, dst: str, lossless: bool = False) -> tuple[str, int]:
    """The sender-side queue rule of ``stream`` into part ``dst``, from its consumers' queue settings there.

    A ``block`` consumer makes the edge ``block`` with the smallest such queue as credit (the receiver would wait
    anyway). Otherwise the edge drops at the sender: ``latest_only`` if every consumer is, else ``drop_oldest``,
    keeping as many packets as the largest consumer queue (no consumer loses more than it would in one process).
    The application's pollers/observers in the driver count as a ``block`` consumer of the default size. With
    ``lossless`` (the engine's flag: dropping queues behave as ``block`` of the same size) every edge blocks.
    """
    rules = [("block" if lossless else i.queue_policy or "block",
              1 if i.queue_policy == "latest_only" else i.queue_size or DEFAULT_QUEUE_SIZE)
             for node, i in validated.consumers.get(stream, []) if part_of(validated, node) == dst]
    if dst == DRIVER and stream in {n for n, _ in validated.spec.output_streams}:
        rules.append(("block", DEFAULT_QUEUE_SIZE))
    blocking = [size for policy, size in rules if policy == "block"]
    if blocking:
        return "block", min(blocking)
    if all(policy == "latest_only" for policy, _ in rules):
        return "latest_only", 1
    return "drop_oldest", max(size for _, size in rules)


def partition(validated: ValidatedGraph, lossless: bool = False) -> dict[str, Part]:
    """The parts of ``validated`` keyed by name (the driver's first, then groups in topological order)."""
    spec = validated.spec
    order = [DRIVER] + list(dict.fromkeys(n.spec.group for n in validated.nodes if n.spec.group))
    outputs = {n for n, _ in spec.output_streams}
    readers: dict[str, list[str]] = {}  # stream -> parts that read it (in part order)
    for stream, consumers in validated.consumers.items():
        readers[stream] = [p for p in order if any(part_of(validated, c) == p for c, _ in consumers)]
    for stream in outputs:
        readers.setdefault(stream, [])
        if DRIVER not in readers[stream]:
            readers[stream].append(DRIVER)
    edges: list[Edge] = []
    for stream, parts in readers.items():
        src = part_of(validated, validated.producers[stream][0])
        for dst in parts:
            if dst != src:
                edges.append(Edge(stream, src, dst, *edge_rule(validated, stream, dst, lossless)))
    out: dict[str, Part] = {}
    for name in order:
        nodes = [n.spec for n in validated.nodes if (n.spec.group or DRIVER) == name]
        ins = [e for e in edges if e.dst == name]
        outs = [e for e in edges if e.src == name]
        in_streams = [e.stream for e in ins]
        out_streams = list(dict.fromkeys(e.stream for e in outs))
        if name == DRIVER:
            in_streams = [n for n, _ in spec.input_streams] + in_streams
            out_streams += [n for n in outputs if n not in out_streams]
        used_side = {s.name for n in nodes for s in n.side_inputs}
        locs = dict(spec.input_streams) | dict(spec.output_streams)
        part_spec = GraphSpec(
            source=spec.source if name == DRIVER else f"{spec.source} [group {name}]",
            description=spec.description,
            input_streams=[(s, locs.get(s, spec.source)) for s in in_streams],
            output_streams=[(s, locs.get(s, spec.source)) for s in out_streams],
            input_side_packets=[(s, loc) for s, loc in spec.input_side_packets if name == DRIVER or s in used_side],
            options=spec.options, nodes=nodes, allow_imports=spec.allow_imports, groups={}, executor=None)
        out[name] = Part(name, validate(part_spec), ins, outs, spec.groups.get(name))
    return out


def downstream_streams(graph: ValidatedGraph, stream: str) -> set[str]:
    """The streams of ``graph`` that a packet on ``stream`` can lead to (through its nodes; ``stream`` included):
    whether a push into a part can set off output on one of its bridges out."""
    seen = {stream}
    todo = [stream]
    while todo:
        for node, _ in graph.consumers.get(todo.pop(), []):
            for out in graph.node(node).spec.outputs:
                if out.stream not in seen:
                    seen.add(out.stream)
                    todo.append(out.stream)
    return seen
