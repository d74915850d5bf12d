"""The graph's topology as JSON for the live page: nodes, edges (one per consumer input), and groups.

Groups are the subgraphs a node came from: ``build`` expands a subgraph node ``app`` into nodes named
``app/palm_detection/palm_model``, so every ``/``-separated prefix of a node name is a group (a cluster on the
page), nested like the subgraphs were. Drawn from the validated graph itself, so the page always shows what runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..validate import ValidatedGraph

#: separator between a subgraph node's name and the names of the nodes it expands to
GROUP_SEPARATOR = "/"


def _group_of(name: str) -> str | None:
    head, sep, _ = name.rpartition(GROUP_SEPARATOR)
    return head if sep else None


def topology(graph: ValidatedGraph) -> dict[str, Any]:
    """``{"name", "nodes": [{id, label, calculator, kind, group}], "edges": [{id, source, target, stream, tag,
    back_edge, policy}], "groups": [{id, label, parent}]}``; graph inputs and outputs are nodes of kind
    ``input``/``output`` (ids ``in:NAME``/``out:NAME``)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    groups: dict[str, str | None] = {}
    for name, _ in graph.spec.input_streams:
        nodes.append({"id": f"in:{name}", "label": name, "calculator": "", "kind": "input", "group": None})
    for info in graph.nodes:
        group = _group_of(info.name)
        while group is not None and group not in groups:
            groups[group] = _group_of(group)
            group = groups[group]
        nodes.append({"id": info.name, "label": info.name.rpartition(GROUP_SEPARATOR)[2],
                      "calculator": info.spec.calculator, "kind": "node", "group": _group_of(info.name),
                      "policy": info.input_policy})
    for name, _ in graph.spec.output_streams:
        nodes.append({"id": f"out:{name}", "label": name, "calculator": "", "kind": "output", "group": None})
    for info in graph.nodes:
        for index, inp in enumerate(info.spec.inputs):
            producer = graph.producers[inp.stream][0]
            edges.append({"id": f"{info.name}#{index}", "source": producer or f"in:{inp.stream}",
                          "target": info.name, "stream": inp.stream, "tag": inp.tag, "back_edge": inp.back_edge,
                          "policy": inp.queue_policy or "block"})
    for name, _ in graph.spec.output_streams:
        producer = graph.producers[name][0]
        edges.append({"id": f"out:{name}", "source": producer or f"in:{name}", "target": f"out:{name}",
                      "stream": name, "tag": "", "back_edge": False, "policy": ""})
    return {
        "name": Path(graph.spec.source).name if graph.spec.source else "graph",
        "nodes": nodes,
        "edges": edges,
        "groups": [{"id": g, "label": g.rpartition(GROUP_SEPARATOR)[2], "parent": parent}
                   for g, parent in groups.items()],
    }
