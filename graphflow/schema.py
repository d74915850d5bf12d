"""The JSON Schema of graph files (for editors: ``# yaml-language-server: $schema=.../graph.schema.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import INPUT_POLICIES, QUEUE_POLICIES
from .groups import EXECUTORS

SCHEMA_PATH = Path(__file__).with_name("graph.schema.json")

_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_./-]*$"}
_QUEUE = {
    "queue_size": {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                   "description": "packets an input may hold (default 100)"},
    "queue_policy": {"enum": list(QUEUE_POLICIES),
                     "description": "block: back-pressure; drop_oldest / latest_only: drop and count"},
}


def graph_schema() -> dict[str, Any]:
    stream_ref = {
        "oneOf": [
            _NAME,
            {"type": "array", "items": _NAME},
            {"type": "object", "additionalProperties": False, "required": ["stream"],
             "properties": {"stream": _NAME, "back_edge": {"type": "boolean"}, "initial": {}, **_QUEUE}},
        ]
    }
    node = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["calculator"]}, {"required": ["subgraph"]}],
        "properties": {
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*$"},
            "description": {"type": "string"},
            "calculator": {"type": "string", "description": "registered name or package.module:Class"},
            "subgraph": {"type": "string", "description": "path of a YAML graph, relative to this file"},
            "inputs": {"type": "object", "additionalProperties": stream_ref},
            "outputs": {"type": "object", "additionalProperties": {"oneOf": [_NAME, {"type": "array",
                                                                                     "items": _NAME}]}},
            "side_inputs": {"type": "object", "additionalProperties": _NAME},
            "options": {"type": "object"},
            "input_policy": {"enum": list(INPUT_POLICIES)},
            "group": {"type": "string", "description": "the ray executor's group (declared under groups:)"},
            **_QUEUE,
        },
    }
    number = {"type": "number", "minimum": 0}
    group = {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "num_cpus": number, "num_gpus": number, "resources": {"type": "object", "additionalProperties": number},
        "max_restarts": {"type": "integer", "minimum": -1}}}
    executor = {"oneOf": [{"enum": list(EXECUTORS)}, {
        "type": "object", "additionalProperties": False, "required": ["type"],
        "properties": {"type": {"enum": list(EXECUTORS)}, "address": {"type": "string", "minLength": 1}}}]}
    names = {"type": "array", "items": _NAME, "uniqueItems": True}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://graphflow.dev/graph.schema.json",
        "title": "graphflow graph",
        "type": "object",
        "additionalProperties": False,
        "required": ["nodes"],
        "properties": {
            "description": {"type": "string"},
            "input_streams": names,
            "optional_input_streams": names,
            "output_streams": names,
            "input_side_packets": names,
            "options": {"type": "object"},
            "allow_imports": {"type": "array", "items": {"type": "string"}},
            "nodes": {"type": "array", "items": node},
            "groups": {"type": "object", "additionalProperties": group},
            "executor": executor,
            **_QUEUE,
        },
    }


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(graph_schema(), indent=2) + "\n")
    return path
