"""Graph files -> plain dataclasses (``GraphSpec``), with subgraphs expanded and ``$option`` references resolved.

This step only reads and reshapes: it knows the file format, not the calculators. ``validate.py`` checks the
result against the registered calculators before anything runs. Every spec carries ``loc`` = ``file:line``.

Format (see ``graph.schema.json``)::

    input_streams: [image]                 # streams the application feeds with add_packet
    output_streams: [hands]                # streams the application observes/polls
    input_side_packets: [model_path]       # values given once, at start()
    options: {max_num_hands: 2}            # this graph's own options; nodes use them as "$max_num_hands"
    allow_imports: [mypkg]                 # modules this graph's "module:Class" calculators need (a request:
                                           #   only the caller permits imports, see registry.py)
    nodes:
      - name: detector                     # optional; default: calculator name (made unique)
        calculator: PalmDetection          # registered name, or "package.module:Class"
        inputs: {IMAGE: image, PREV: {stream: rois, back_edge: true, queue_size: 1, queue_policy: latest_only}}
        outputs: {DETECTIONS: palms}
        side_inputs: {MODEL: model_path}
        options: {min_score: 0.5, max_hands: $max_num_hands}
        input_policy: default              # or immediate
      - name: landmarks
        subgraph: hand_landmark.yaml       # a YAML graph used as a node (path relative to this file)
        inputs: {image: image}             # keys: the subgraph's input_streams
        outputs: {hands: hands}            # keys: the subgraph's output_streams
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .groups import ExecutorSpec, GroupSpec, read_executor, read_groups, read_node_group
from .registry import import_permitted, permit_hint
from .yaml_source import LineList, line_of, load_yaml, read_yaml_file

QUEUE_POLICIES = ("block", "drop_oldest", "latest_only")
INPUT_POLICIES = ("default", "immediate")
DEFAULT_QUEUE_SIZE = 100
MAX_QUEUE_SIZE = 1_000_000
MAX_SUBGRAPH_DEPTH = 16
MAX_NODES = 10_000

GRAPH_KEYS = {
    "description": "what the graph does (free text)",
    "input_streams": "streams fed by the application",
    "optional_input_streams": "inputs a parent graph may leave unconnected (then left out, as on their own)",
    "output_streams": "streams observed by the application",
    "input_side_packets": "values given once at start",
    "options": "the graph's own options with defaults",
    "allow_imports": "modules the graph's 'module:Class' calculators need (the caller must permit them)",
    "nodes": "the nodes",
    "queue_size": "default input queue size of every node",
    "queue_policy": "default input queue policy of every node",
    "groups": "process groups for the ray executor: {name: {num_cpus, num_gpus, resources, max_restarts}}",
    "executor": "threads (default), inline, or ray / {type: ray, address: ...}",
}
NODE_KEYS = {
    "name", "calculator", "subgraph", "inputs", "outputs", "side_inputs", "options", "input_policy",
    "queue_size", "queue_policy", "description", "group",
}
INPUT_KEYS = {"stream", "queue_size", "queue_policy", "back_edge", "initial"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_TAG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class InputSpec:
    tag: str
    index: int
    stream: str
    loc: str
    queue_size: int | None = None
    queue_policy: str | None = None
    back_edge: bool = False
    initial: list[Any] | None = None


@dataclass
class OutputSpec:
    tag: str
    index: int
    stream: str
    loc: str


@dataclass
class SideInputSpec:
    tag: str
    index: int
    name: str
    loc: str


@dataclass
class NodeSpec:
    name: str
    calculator: str
    loc: str
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)
    side_inputs: list[SideInputSpec] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    option_locs: dict[str, str] = field(default_factory=dict)
    input_policy: str | None = None
    multiple_tags: set[str] = field(default_factory=set)
    allow_imports: tuple[str, ...] = ()
    description: str = ""
    group: str | None = None  # the ray executor's process group (see groups.py)


@dataclass
class GraphSpec:
    source: str
    description: str = ""
    input_streams: list[tuple[str, str]] = field(default_factory=list)  # (name, loc)
    # a subgraph's inputs its parent may leave unconnected: then every node input reading one is left out (so its
    # port must be optional), as it is when the graph runs on its own (nothing would ever feed it)
    optional_input_streams: list[tuple[str, str]] = field(default_factory=list)
    output_streams: list[tuple[str, str]] = field(default_factory=list)
    input_side_packets: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    nodes: list[NodeSpec] = field(default_factory=list)
    allow_imports: list[str] = field(default_factory=list)
    groups: dict[str, GroupSpec] = field(default_factory=dict)
    executor: ExecutorSpec | None = None

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


# ----------------------------------------------------------------------------------------------------------------
def load_graph(
    source: str | Path | dict[str, Any],
    options: dict[str, Any] | None = None,
    allow_imports: tuple[str, ...] | list[str] = (),
) -> GraphSpec:
    """Read a graph from a path, YAML text, or a dict; expand subgraphs; resolve ``$option`` references."""
    if isinstance(source, dict):
        spec = _Reader(allow_imports).graph(source, "<dict>", None, options or {}, "", [])
    elif isinstance(source, Path) or ("\n" not in str(source) and str(source).endswith((".yaml", ".yml"))):
        path = Path(source).resolve()
        data = read_yaml_file(path)
        spec = _Reader(allow_imports).graph(data, str(path), path.parent, options or {}, "", [str(path)])
    else:
        data = load_yaml(str(source), "<string>")
        spec = _Reader(allow_imports).graph(data, "<string>", Path.cwd(), options or {}, "", [])
    for name, loc in spec.optional_input_streams:  # a graph run on its own: nothing feeds them
        _leave_out_stream(spec, name, name, loc)
    return spec


def _leave_out_stream(spec: GraphSpec, stream: str, declared: str, where: str) -> None:
    """Remove every node input that reads ``stream`` (optional input stream ``declared``, which nobody connected;
    ``where``: the line that left it out). A node left with no input at all is refused: it would run as a source."""
    for node in spec.nodes:
        kept = [i for i in node.inputs if i.stream != stream]
        if node.inputs and not kept:
            raise ConfigError(f"it reads only the optional input stream '{declared}', which is not "
                              f"connected ({where}): left out, the node would have no input and run as a source",
                              location=node.loc, node=node.name,
                              hint=f"connect '{declared}', or give the node an input that is always fed")
        node.inputs = kept


class _Reader:
    def __init__(self, allow_imports: tuple[str, ...] | list[str]) -> None:
        self.caller_allow = tuple(allow_imports)
        self.node_count = 0

    # -- helpers ----------------------------------------------------------------------------------------------
    @staticmethod
    def loc(src: str, container: Any, key: str | int | None = None) -> str:
        line = line_of(container, key)
        return f"{src}:{line}" if line else src

    def names(self, data: dict[str, Any], key: str, src: str, prefix: str) -> list[tuple[str, str]]:
        value = data.get(key, [])
        if value is None:
            return []
        if isinstance(value, str):  # a single name: its entries are located at the key
            value = LineList([value])
            value.line, value.item_lines = line_of(data, key), [line_of(data, key)]
        if not isinstance(value, list):
            raise ConfigError(f"'{key}' must be a list of names, got {type(value).__name__}",
                              location=self.loc(src, data, key), hint=f"write {key}: [name1, name2]")
        out = []
        for i, name in enumerate(value):
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise ConfigError(f"'{key}' entry {name!r} is not a valid name",
                                  location=self.loc(src, value, i),
                                  hint="names start with a letter and use letters, digits, _ . / -")
            out.append((name, self.loc(src, value, i)))
        seen = set()
        for name, loc in out:
            if name in seen:
                raise ConfigError(f"'{key}' lists '{name}' twice", location=loc)
            seen.add(name)
        return out

    # -- graph ------------------------------------------------------------------------------------------------
    def graph(self, data: Any, src: str, base: Path | None, given: dict[str, Any], prefix: str,
              stack: list[str]) -> GraphSpec:
        top = src if src == "<dict>" else f"{src}:{line_of(data) or 1}"  # a file's own problems are at line 1
        if data is None:
            raise ConfigError("the graph is empty", location=top, hint="a graph needs at least a 'nodes:' list")
        if not isinstance(data, dict):
            raise ConfigError(f"a graph must be a mapping at the top level, got {type(data).__name__}",
                              location=top, hint="start the file with keys such as 'nodes:'")
        for key in data:
            if key not in GRAPH_KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), list(GRAPH_KEYS), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(GRAPH_KEYS)}"
                raise ConfigError(f"unknown top-level key '{key}'", location=self.loc(src, data, key), hint=hint)
        spec = GraphSpec(source=src, description=str(data.get("description", "") or ""))
        spec.input_streams = self.names(data, "input_streams", src, prefix)
        spec.optional_input_streams = self.names(data, "optional_input_streams", src, prefix)
        for name, oloc in spec.optional_input_streams:
            if any(name == n for n, _ in spec.input_streams):
                raise ConfigError(f"'{name}' is in both input_streams and optional_input_streams", location=oloc,
                                  hint="list it in one of them")
        spec.output_streams = self.names(data, "output_streams", src, prefix)
        spec.input_side_packets = self.names(data, "input_side_packets", src, prefix)
        allow = data.get("allow_imports", []) or []
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ConfigError("'allow_imports' must be a list of module names", location=self.loc(src, data,
                              "allow_imports"))
        for i, module in enumerate(allow):
            if not import_permitted(module, self.caller_allow):
                raise ConfigError(f"the graph asks to import module '{module}' (allow_imports), which the caller has "
                                  "not permitted", location=self.loc(src, allow, i), hint=permit_hint(module))
        spec.allow_imports = list(allow)
        spec.options = self.graph_options(data, src, given)
        spec.groups = read_groups(data, src, lambda v, c, k: self.resolve_refs(v, spec.options, src, c, k, ""))
        spec.executor = read_executor(data, src)
        default_qsize = data.get("queue_size")
        default_qpolicy = data.get("queue_policy")
        nodes = data.get("nodes")
        if nodes is None:
            raise ConfigError("the graph has no 'nodes:' list", location=self.loc(src, data),
                              hint="add 'nodes:' with at least one node")
        if not isinstance(nodes, list):
            raise ConfigError(f"'nodes' must be a list, got {type(nodes).__name__}",
                              location=self.loc(src, data, "nodes"), hint="write each node as '- calculator: Name'")
        used: set[str] = set()
        for i, raw in enumerate(nodes):
            loc = self.loc(src, nodes, i)
            if not isinstance(raw, dict):
                raise ConfigError(f"node #{i + 1} must be a mapping, got {type(raw).__name__}", location=loc,
                                  hint="write '- calculator: Name' with inputs/outputs below it")
            self.node_count += 1
            if self.node_count > MAX_NODES:
                raise ConfigError(f"more than {MAX_NODES} nodes", location=loc)
            self.node(raw, i, src, base, spec, prefix, stack, used, default_qsize, default_qpolicy, data)
        for name, oloc in spec.optional_input_streams:
            for node in spec.nodes:
                if any(o.stream == prefix + name for o in node.outputs):
                    raise ConfigError(f"optional input stream '{name}' is also produced by node '{node.name}'",
                                      location=oloc, node=node.name,
                                      hint="an input stream is fed from outside the graph: rename one of the two")
        return spec

    def graph_options(self, data: dict[str, Any], src: str, given: dict[str, Any]) -> dict[str, Any]:
        declared = data.get("options", {}) or {}
        if not isinstance(declared, dict):
            raise ConfigError("'options' must be a mapping of name: default", location=self.loc(src, data, "options"))
        unknown = [k for k in given if k not in declared]
        if unknown:
            raise ConfigError(f"graph option '{unknown[0]}' is not declared by this graph",
                              location=self.loc(src, data, "options"),
                              hint=f"declared options: {', '.join(map(str, declared)) or '(none)'}")
        merged = dict(declared)
        merged.update(given)
        return merged

    # -- node -------------------------------------------------------------------------------------------------
    def node(self, raw: dict[str, Any], i: int, src: str, base: Path | None, spec: GraphSpec, prefix: str,
             stack: list[str], used: set[str], default_qsize: Any, default_qpolicy: Any, graph_data: Any) -> None:
        loc = self.loc(src, raw)
        for key in raw:
            if key not in NODE_KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), sorted(NODE_KEYS), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"node keys: {', '.join(sorted(NODE_KEYS))}"
                raise ConfigError(f"unknown node key '{key}'", location=self.loc(src, raw, key), hint=hint)
        has_calc, has_sub = "calculator" in raw, "subgraph" in raw
        if has_calc == has_sub:
            raise ConfigError(f"node #{i + 1} needs exactly one of 'calculator' or 'subgraph'", location=loc,
                              hint="name the calculator (e.g. 'calculator: PassThrough') or a subgraph file")
        kind_key = "calculator" if has_calc else "subgraph"
        target = raw[kind_key]
        if not isinstance(target, str) or not target:
            raise ConfigError(f"'{kind_key}' must be a non-empty string", location=self.loc(src, raw, kind_key))
        name = raw.get("name")
        if name is None:
            stem = Path(target).stem if has_sub else target.rpartition(":")[2]
            if not _NAME_RE.match(stem):
                odd = ", ".join(f"U+{ord(c):04X}" for c in stem if not (c.isascii() and c.isprintable()))
                raise ConfigError(f"{kind_key} {target!r} is not a valid name", location=self.loc(src, raw, kind_key),
                                  hint=(f"it contains {odd}; retype it" if odd else "names use letters, digits and _")
                                  + (" (or give the node a 'name:')" if has_sub else ""))
            name, k = stem, 2
            while name in used:
                name, k = f"{stem}_{k}", k + 1
        if not isinstance(name, str) or not _NAME_RE.match(name) or "/" in name:
            raise ConfigError(f"node name {name!r} is not valid", location=self.loc(src, raw, "name"),
                              hint="use letters, digits and _ (no '/': it separates subgraph levels)")
        if name in used:
            raise ConfigError(f"two nodes are named '{name}'", location=self.loc(src, raw, "name"),
                              hint="give each node a unique 'name:'")
        used.add(name)
        full_name = prefix + name
        options = raw.get("options", {}) or {}
        if not isinstance(options, dict):
            raise ConfigError("'options' must be a mapping", location=self.loc(src, raw, "options"), node=full_name)
        resolved = {k: self.resolve_refs(v, spec.options, src, options, k, full_name) for k, v in options.items()}
        group = read_node_group(raw, src, spec.groups, full_name)
        if has_sub:
            self.subgraph(raw, target, full_name, resolved, src, base, spec, prefix, stack, group)
            return
        node = NodeSpec(name=full_name, calculator=target, loc=loc, options=resolved,
                        option_locs={str(k): self.loc(src, options, k) for k in options},
                        allow_imports=self.caller_allow,
                        description=str(raw.get("description", "") or ""), group=group)
        policy = raw.get("input_policy")
        if policy is not None and policy not in INPUT_POLICIES:
            raise ConfigError(f"input_policy '{policy}' is not one of {', '.join(INPUT_POLICIES)}",
                              location=self.loc(src, raw, "input_policy"), node=full_name)
        node.input_policy = policy
        qsize = raw.get("queue_size", default_qsize)
        qpolicy = raw.get("queue_policy", default_qpolicy)
        self.check_queue(qsize, qpolicy, self.loc(src, raw, "queue_size" if "queue_size" in raw else None), full_name)
        node.inputs = self.inputs(raw, src, full_name, prefix, qsize, qpolicy, node)
        node.outputs = [OutputSpec(tag, idx, s, l) for tag, idx, s, l in self.stream_map(raw, "outputs", src,
                                                                                          full_name, prefix, node)]
        node.side_inputs = [SideInputSpec(tag, idx, s, l) for tag, idx, s, l in self.stream_map(
            raw, "side_inputs", src, full_name, prefix, node)]
        spec.nodes.append(node)

    def check_queue(self, qsize: Any, qpolicy: Any, loc: str, node: str) -> None:
        if qsize is not None and (not isinstance(qsize, int) or isinstance(qsize, bool)
                                  or not 1 <= qsize <= MAX_QUEUE_SIZE):
            raise ConfigError(f"queue_size must be an integer from 1 to {MAX_QUEUE_SIZE}, got {qsize!r}",
                              location=loc, node=node, hint="e.g. queue_size: 100 (or 1 for live video)")
        if qpolicy is not None and qpolicy not in QUEUE_POLICIES:
            raise ConfigError(f"queue_policy '{qpolicy}' is not one of {', '.join(QUEUE_POLICIES)}",
                              location=loc, node=node, hint="block waits for space; the others drop and count")

    def resolve_refs(self, value: Any, scope: dict[str, Any], src: str, container: Any, key: Any, node: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            if value.startswith("$$"):
                return value[1:]
            ref = value[1:]
            if ref not in scope:
                raise ConfigError(f"option reference '{value}' names no option of this graph",
                                  location=self.loc(src, container, key), node=node,
                                  hint=f"declare '{ref}' under the graph's 'options:' (declared: "
                                       f"{', '.join(map(str, scope)) or 'none'})")
            return scope[ref]
        if isinstance(value, list):
            return [self.resolve_refs(v, scope, src, value, j, node) for j, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.resolve_refs(v, scope, src, value, k, node) for k, v in value.items()}
        return value

    def stream_map(self, raw: dict[str, Any], key: str, src: str, node: str, prefix: str,
                   spec: NodeSpec | None) -> list[tuple[str, int, str, str]]:
        """Entries (tag, index, stream, loc) of an inputs/outputs/side_inputs mapping (plain stream names)."""
        mapping = raw.get(key, {}) or {}
        if not isinstance(mapping, dict):
            raise ConfigError(f"'{key}' must be a mapping of TAG: stream", location=self.loc(src, raw, key),
                              node=node, hint=f"write {key}: {{TAG: stream_name}}")
        out = []
        for tag, value in mapping.items():
            loc = self.loc(src, mapping, tag)
            if not isinstance(tag, str) or not _TAG_RE.match(tag):
                raise ConfigError(f"'{key}' tag {tag!r} is not a valid identifier", location=loc, node=node)
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list) and spec is not None:
                spec.multiple_tags.add(tag)
            for idx, v in enumerate(values):
                if isinstance(v, dict) and key == "inputs":
                    continue  # handled by inputs()
                if not isinstance(v, str) or not _NAME_RE.match(v):
                    raise ConfigError(f"{key} '{tag}' must name a stream, got {v!r}", location=loc, node=node,
                                      hint="stream names start with a letter: letters, digits, _ . / -")
                out.append((tag, idx, prefix + v, loc))
        return out

    def inputs(self, raw: dict[str, Any], src: str, node: str, prefix: str, qsize: Any, qpolicy: Any,
               spec: NodeSpec) -> list[InputSpec]:
        mapping = raw.get("inputs", {}) or {}
        if not isinstance(mapping, dict):
            raise ConfigError("'inputs' must be a mapping of TAG: stream", location=self.loc(src, raw, "inputs"),
                              node=node, hint="write inputs: {TAG: stream_name}")
        out: list[InputSpec] = []
        for tag, value in mapping.items():
            loc = self.loc(src, mapping, tag)
            if not isinstance(tag, str) or not _TAG_RE.match(tag):
                raise ConfigError(f"input tag {tag!r} is not a valid identifier", location=loc, node=node)
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list):
                spec.multiple_tags.add(tag)
            for idx, v in enumerate(values):
                item = InputSpec(tag, idx, "", loc, qsize, qpolicy)
                if isinstance(v, dict):
                    for k in v:
                        if k not in INPUT_KEYS:
                            raise ConfigError(f"unknown key '{k}' in input '{tag}'", location=self.loc(src, v, k),
                                              node=node, hint=f"input keys: {', '.join(sorted(INPUT_KEYS))}")
                    stream = v.get("stream")
                    item.queue_size = v.get("queue_size", qsize)
                    item.queue_policy = v.get("queue_policy", qpolicy)
                    self.check_queue(item.queue_size, item.queue_policy, self.loc(src, v), node)
                    back = v.get("back_edge", False)
                    if not isinstance(back, bool):
                        raise ConfigError("back_edge must be true or false", location=self.loc(src, v, "back_edge"),
                                          node=node)
                    item.back_edge = back
                    if "initial" in v:
                        init = v["initial"]
                        item.initial = list(init) if isinstance(init, list) else [init]
                else:
                    stream = v
                if not isinstance(stream, str) or not _NAME_RE.match(stream):
                    raise ConfigError(f"input '{tag}' must name a stream, got {stream!r}", location=loc, node=node,
                                      hint="stream names start with a letter: letters, digits, _ . / -")
                item.stream = prefix + stream
                out.append(item)
        return out

    # -- subgraph ---------------------------------------------------------------------------------------------
    def subgraph(self, raw: dict[str, Any], target: str, full_name: str, options: dict[str, Any], src: str,
                 base: Path | None, spec: GraphSpec, prefix: str, stack: list[str], group: str | None) -> None:
        loc = self.loc(src, raw, "subgraph")
        path = Path(target)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        path = path.resolve()
        if str(path) in stack:
            chain = " -> ".join(Path(p).name for p in [*stack, str(path)])
            raise ConfigError(f"subgraph includes itself: {chain}", location=loc, node=full_name,
                              hint="a subgraph cannot contain itself, directly or indirectly")
        if len(stack) >= MAX_SUBGRAPH_DEPTH:
            raise ConfigError(f"subgraphs nest deeper than {MAX_SUBGRAPH_DEPTH} levels", location=loc, node=full_name)
        if not path.exists():
            raise ConfigError(f"subgraph file '{target}' not found (looked at {path})", location=loc, node=full_name,
                              hint="paths are relative to the file that includes them")
        data = read_yaml_file(path)
        inner_prefix = full_name + "/"
        try:
            sub = self.graph(data, str(path), path.parent, options, inner_prefix, [*stack, str(path)])
        except ConfigError as exc:
            if "is not declared by this graph" in exc.bare_message:
                raise ConfigError(exc.bare_message, location=self.loc(src, raw, "options"), node=full_name,
                                  hint=exc.hint) from None
            raise
        # map the subgraph's boundary streams to the outer graph's streams
        renames: dict[str, str] = {}
        sub_optional = {n for n, _ in sub.optional_input_streams}
        own_optional = {prefix + n for n, _ in spec.optional_input_streams}  # this graph's, as streams
        for key, declared in (("inputs", sub.input_streams + sub.optional_input_streams),
                              ("outputs", sub.output_streams),
                              ("side_inputs", sub.input_side_packets)):
            names = {n for n, _ in declared}
            for tag, _idx, outer, tloc in self.stream_map(raw, key, src, full_name, prefix, None):
                if tag not in names:
                    kind = {"inputs": "input_streams", "outputs": "output_streams",
                            "side_inputs": "input_side_packets"}[key]
                    raise ConfigError(f"subgraph '{target}' has no {kind} entry '{tag}'", location=tloc,
                                      node=full_name, hint=f"its {kind}: {', '.join(sorted(names)) or '(none)'}")
                if key == "inputs" and outer in own_optional and tag not in sub_optional:
                    raise ConfigError(f"optional input stream '{outer[len(prefix):]}' feeds subgraph input '{tag}', "
                                      f"which '{target}' requires", location=tloc, node=full_name,
                                      hint=f"list '{tag}' under optional_input_streams in {target}, or make "
                                           f"'{outer[len(prefix):]}' a required input stream")
                renames[inner_prefix + tag] = outer
            if key == "inputs":
                for n, _ in declared:
                    if inner_prefix + n in renames:
                        continue
                    if n in sub_optional:
                        _leave_out_stream(sub, inner_prefix + n, n, loc)
                    else:
                        raise ConfigError(f"subgraph input stream '{n}' is not connected", location=loc,
                                          node=full_name, hint=f"add inputs: {{{n}: some_stream}}")
            if key == "side_inputs":
                for n, _ in declared:
                    if inner_prefix + n not in renames:
                        renames[inner_prefix + n] = prefix + n  # pass side packets through by name
        for name, declared_group in sub.groups.items():
            spec.groups.setdefault(name, declared_group)
        for node in sub.nodes:
            if group is not None:
                node.group = group  # a subgraph node's group applies to all of its nodes
            for i in node.inputs:
                i.stream = renames.get(i.stream, i.stream)
            for o in node.outputs:
                o.stream = renames.get(o.stream, o.stream)
            for s in node.side_inputs:
                s.name = renames.get(s.name, s.name)
            spec.nodes.append(node)
