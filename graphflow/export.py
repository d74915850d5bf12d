"""Graph pictures: a networkx model of a validated graph, written as Graphviz DOT, Mermaid, or (with Graphviz
installed) SVG/PNG. Back edges are drawn dashed; graph inputs/outputs and side packets get their own shapes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import networkx as nx

from .validate import ValidatedGraph


def to_networkx(graph: ValidatedGraph) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(name=Path(graph.spec.source).name)
    for name, _ in graph.spec.input_streams:
        g.add_node(f"in:{name}", kind="input", label=name)
    for name, _ in graph.spec.output_streams:
        g.add_node(f"out:{name}", kind="output", label=name)
    for name, _ in graph.spec.input_side_packets:
        g.add_node(f"side:{name}", kind="side", label=name)
    for info in graph.nodes:
        g.add_node(info.name, kind="node", label=f"{info.name}\\n{info.spec.calculator}", policy=info.input_policy,
                   group=info.spec.group)
    for info in graph.nodes:
        for i in info.spec.inputs:
            producer = graph.producers[i.stream][0]
            src = producer if producer is not None else f"in:{i.stream}"
            g.add_edge(src, info.name, stream=i.stream, tag=i.tag, back_edge=i.back_edge,
                       policy=i.queue_policy or "block")
        for s in info.spec.side_inputs:
            g.add_edge(f"side:{s.name}", info.name, stream=s.name, tag=s.tag, back_edge=False, side=True)
    for name, _ in graph.spec.output_streams:
        producer = graph.producers[name][0]
        g.add_edge(producer if producer is not None else f"in:{name}", f"out:{name}", stream=name, tag="",
                   back_edge=False)
    return g


def _q(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def to_dot(graph: ValidatedGraph) -> str:
    g = to_networkx(graph)
    lines = [f"digraph {_q(g.name)} {{", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    shapes = {"input": "invhouse", "output": "house", "side": "note", "node": "box"}
    clusters = _by_group(g)
    for n, data in g.nodes(data=True):
        if data.get("group") is None:
            lines.append(_dot_node(n, data, shapes))
    for k, (group, members) in enumerate(clusters.items()):  # each ray group is one process: draw it as a box
        lines += [f"  subgraph cluster_{k} {{", f"    label={_q('group ' + group)};", '    style="dashed";']
        lines += ["  " + _dot_node(n, g.nodes[n], shapes) for n in members]
        lines.append("  }")
    for u, v, data in g.edges(data=True):
        attrs = [f"label={_q(data['stream'])}"]
        if data.get("back_edge"):
            attrs += ["style=dashed", "constraint=false", 'color="#c0392b"']
        if data.get("side"):
            attrs.append("style=dotted")
        if data.get("policy") in ("drop_oldest", "latest_only"):
            attrs.append(f'taillabel="{data["policy"]}"')
        lines.append(f"  {_q(u)} -> {_q(v)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _by_group(g: nx.MultiDiGraph) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n, data in g.nodes(data=True):
        if data.get("group") is not None:
            out.setdefault(data["group"], []).append(n)
    return out


def _dot_node(n: str, data: dict, shapes: dict[str, str]) -> str:
    style = ', style="rounded,filled", fillcolor="#e8f0fe"' if data["kind"] == "node" else ""
    return f"  {_q(n)} [label={_q(data['label'])}, shape={shapes[data['kind']]}{style}];"


def to_mermaid(graph: ValidatedGraph) -> str:
    g = to_networkx(graph)
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = ["flowchart TD"]
    for n, data in g.nodes(data=True):
        label = data["label"].replace("\\n", "<br/>").replace('"', "'")
        shape = {"input": ('[/"', '"/]'), "output": ('[\\"', '"\\]'), "side": ('[("', '")]'),
                 "node": ('["', '"]')}[data["kind"]]
        lines.append(f"  {ids[n]}{shape[0]}{label}{shape[1]}")
    for k, (group, members) in enumerate(_by_group(g).items()):
        lines.append(f'  subgraph group{k}["group {group}"]')
        lines += [f"    {ids[n]}" for n in members]
        lines.append("  end")
    for u, v, data in g.edges(data=True):
        arrow = "-.->" if data.get("back_edge") else "-->"
        lines.append(f"  {ids[u]} {arrow}|{data['stream']}| {ids[v]}")
    return "\n".join(lines) + "\n"


def write(graph: ValidatedGraph, path: str | Path) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".dot", ".gv"):
        path.write_text(to_dot(graph))
    elif suffix in (".mmd", ".mermaid"):
        path.write_text(to_mermaid(graph))
    elif suffix in (".svg", ".png", ".pdf"):
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(f"writing {suffix} needs Graphviz's 'dot' (apt-get install graphviz); "
                               f"or write {path.with_suffix('.dot').name} / {path.with_suffix('.mmd').name} instead")
        subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(path)], input=to_dot(graph).encode(), check=True,
                       timeout=60)
    else:
        raise ValueError(f"unknown output format '{suffix}': use .dot, .mmd, .svg, .png or .pdf")
    return path
