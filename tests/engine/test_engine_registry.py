"""Registry-wide checks: every declared calculator imports and has a sound contract; shipped graphs explain
every node."""

import dataclasses
from pathlib import Path

import pytest

from graphflow import Calculator
from graphflow.registry import RegistryError, _lazy_index, known_names, register_calculator, resolve, unregister

ROOT = Path(__file__).resolve().parents[2]


def test_duplicate_names_are_refused():
    @register_calculator("TestDuplicateName")
    class One(Calculator):
        def process(self, ctx):
            pass

    try:
        with pytest.raises(RegistryError, match="already registered"):

            @register_calculator("TestDuplicateName")
            class Two(Calculator):
                def process(self, ctx):
                    pass
    finally:
        unregister("TestDuplicateName")


@pytest.mark.parametrize("name", sorted(_lazy_index()))
def test_every_declared_calculator_has_a_contract(name):
    cls = resolve(name)
    assert issubclass(cls, Calculator)
    assert dataclasses.is_dataclass(cls.Options), f"{name}.Options must be a dataclass"
    cls.Options()  # every option has a default
    doc = cls.__doc__ or ""
    assert doc.strip(), f"{name} needs a docstring"
    if cls.input_ports():
        assert "Inputs" in doc or "Input" in doc, f"{name}'s docstring should list its inputs"
    assert cls.output_ports() or "Sink" in name or cls.input_ports(), name
    assert cls.input_policy in ("default", "immediate")


def test_known_names_include_builtins_and_packages():
    names = set(known_names())
    assert {"PassThrough", "FlowLimiter", "PreviousLoopback"} <= names


@pytest.mark.parametrize("path", sorted((ROOT / "graphs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_node_says_why_it_exists(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith("- ") and ("calculator:" in stripped or "subgraph:" in stripped
                                          or stripped.startswith("- name:")):
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            assert j >= 0 and lines[j].lstrip().startswith("#"), (
                f"{path.name}:{i + 1}: put a comment above this node saying why it exists")
