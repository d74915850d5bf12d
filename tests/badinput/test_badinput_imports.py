"""Hostile graph files and imports, through the real command line: a graph file cannot make ``graphflow
validate`` or ``run`` import a module (from the current directory or the standard library); only the caller's
``--allow-import`` or an installed entry point can."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphflow import Graph

REPO = Path(__file__).resolve().parents[2]

EVIL_MODULE = """
from pathlib import Path
Path(__file__).with_name("pwned").touch()
from graphflow import Calculator, Input, Output


class Echo(Calculator):
    IN = Input(object)
    OUT = Output(object)

    def process(self, ctx):
        ctx.emit_packet("OUT", ctx.packet("IN"))
"""


def graph(module: str, declare: bool) -> str:
    return ((f"allow_imports: [{module}]\n" if declare else "")
            + f"input_streams: [a]\noutput_streams: [b]\nnodes:\n  - calculator: '{module}:Echo'\n"
            "    inputs: {IN: a}\n    outputs: {OUT: b}\n")


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "graphflow", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def evil_dir(tmp_path: Path) -> Path:
    (tmp_path / "evilmod.py").write_text(EVIL_MODULE)
    return tmp_path


@pytest.mark.parametrize("declare", [False, True])
def test_validate_imports_nothing_a_graph_file_names(evil_dir, declare):
    (evil_dir / "evil.yaml").write_text(graph("evilmod", declare))
    proc = cli(evil_dir, "validate", "evil.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "--allow-import evilmod" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "evil.yaml:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (evil_dir / "pwned").exists()


def test_the_caller_can_permit_a_module(evil_dir):
    (evil_dir / "evil.yaml").write_text(graph("evilmod", True))
    proc = cli(evil_dir, "validate", "--allow-import", "evilmod", "evil.yaml")
    assert proc.returncode == 0 and "evil.yaml: ok" in proc.stdout, proc.stderr
    assert (evil_dir / "pwned").exists()  # permitted, so it was imported


def test_a_standard_library_module_is_not_imported_either(tmp_path):
    (tmp_path / "zen.yaml").write_text(graph("this", True))
    proc = cli(tmp_path, "validate", "zen.yaml")
    assert proc.returncode == 2
    assert "Beautiful is better than ugly" not in proc.stdout + proc.stderr
    assert "--allow-import this" in proc.stderr


def test_modules_of_installed_entry_points_need_no_flag():
    spec = {"input_streams": ["c"], "nodes": [{"calculator": "calculators.io.jsonl_sink:JsonlSinkCalculator",
                                               "inputs": {"CLASSES": "c"}, "options": {"path": "x.jsonl"}}]}
    assert Graph.from_yaml(spec).validated.nodes[0].cls.__name__ == "JsonlSinkCalculator"
