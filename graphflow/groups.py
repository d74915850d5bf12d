"""Placement keys of graph files: ``executor:``, ``groups:`` and a node's ``group:``.

    executor: ray                          # or {type: ray, address: auto}; default: threads (one process)
    groups:
      camera: {}                           # every option is optional
      models: {num_cpus: 1, num_gpus: 1, resources: {gpu_box: 1}, max_restarts: 2}
    nodes:
      - calculator: PalmDetection
        group: models                      # runs in the 'models' actor; nodes without a group run in the driver

The in-process executors ignore groups (a grouped graph runs unchanged in one process); the Ray executor
(``graphflow.distributed``) runs each group as one actor. This module only reads and checks the keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .yaml_source import line_of

EXECUTORS = ("threads", "inline", "ray")
GROUP_KEYS = {
    "num_cpus": "CPUs Ray reserves for the group's actor (a number >= 0)",
    "num_gpus": "GPUs Ray reserves for the group's actor (a number >= 0)",
    "resources": "custom Ray resources the actor needs, e.g. {camera_host: 1}",
    "max_restarts": "times Ray restarts the actor after it dies (0: a death fails the graph; -1: forever)",
}
EXECUTOR_KEYS = {"type": "threads, inline or ray", "address": "Ray cluster address (auto, ray://host:port, ...)"}
_GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class GroupSpec:
    name: str
    loc: str
    num_cpus: float | None = None
    num_gpus: float | None = None
    resources: dict[str, float] = field(default_factory=dict)
    max_restarts: int = 0


@dataclass
class ExecutorSpec:
    type: str
    loc: str
    address: str | None = None


def _loc(src: str, container: Any, key: Any = None) -> str:
    line = line_of(container, key)
    return f"{src}:{line}" if line else src


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def read_executor(data: dict[str, Any], src: str) -> ExecutorSpec | None:
    """The graph's ``executor:`` key (None when absent)."""
    if "executor" not in data or data["executor"] is None:
        return None
    raw, loc = data["executor"], _loc(src, data, "executor")
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"'executor' must be a name or a mapping, got {type(raw).__name__}", location=loc,
                          hint="write executor: ray (or executor: {type: ray, address: auto})")
    for key in raw:
        if key not in EXECUTOR_KEYS:
            raise ConfigError(f"unknown executor key '{key}'", location=_loc(src, raw, key),
                              hint=f"executor keys: {', '.join(EXECUTOR_KEYS)}")
    kind = raw.get("type")
    if kind not in EXECUTORS:
        raise ConfigError(f"executor type {kind!r} is not one of {', '.join(EXECUTORS)}", location=loc,
                          hint="threads and inline run in one process; ray runs each group as an actor")
    address = raw.get("address")
    if address is not None and (not isinstance(address, str) or not address):
        raise ConfigError(f"executor address must be a non-empty string, got {address!r}", location=loc,
                          hint="e.g. address: auto (join the running cluster) or ray://head:10001")
    if address is not None and kind != "ray":
        raise ConfigError(f"executor '{kind}' takes no address", location=loc, hint="only executor ray joins a cluster")
    return ExecutorSpec(kind, loc, address)


def read_groups(data: dict[str, Any], src: str,
                refs: Callable[[Any, Any, Any], Any] = lambda v, c, k: v) -> dict[str, GroupSpec]:
    """The graph's ``groups:`` mapping, each option checked (``refs(value, container, key)`` resolves
    ``$option`` references)."""
    raw = data.get("groups")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'groups' must be a mapping of name: options, got {type(raw).__name__}",
                          location=_loc(src, data, "groups"), hint="write groups: {models: {num_cpus: 1}}")
    out: dict[str, GroupSpec] = {}
    for name, options in raw.items():
        loc = _loc(src, raw, name)
        if not isinstance(name, str) or not _GROUP_RE.match(name):
            raise ConfigError(f"group name {name!r} is not valid", location=loc,
                              hint="group names use letters, digits, _ and -")
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ConfigError(f"group '{name}' must map to options, got {type(options).__name__}", location=loc,
                              hint="write e.g. models: {num_cpus: 1} (or models: {})")
        group = GroupSpec(name, loc)
        for key, value in options.items():
            kloc = _loc(src, options, key)
            value = refs(value, options, key)
            if key not in GROUP_KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), list(GROUP_KEYS), n=1)
                raise ConfigError(f"unknown option '{key}' of group '{name}'", location=kloc,
                                  hint=f"did you mean '{close[0]}'?" if close else
                                  f"group options: {', '.join(GROUP_KEYS)}")
            if key in ("num_cpus", "num_gpus"):
                if not _number(value):
                    raise ConfigError(f"group '{name}': {key} must be a number >= 0, got {value!r}", location=kloc,
                                      hint=GROUP_KEYS[key])
                setattr(group, key, float(value))
            elif key == "resources":
                if not isinstance(value, dict) or not all(isinstance(k, str) and _number(v)
                                                          for k, v in value.items()):
                    raise ConfigError(f"group '{name}': resources must map names to numbers >= 0, got {value!r}",
                                      location=kloc, hint=GROUP_KEYS[key])
                group.resources = {k: float(v) for k, v in value.items()}
            else:  # max_restarts
                if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                    raise ConfigError(f"group '{name}': max_restarts must be an integer >= -1, got {value!r}",
                                      location=kloc, hint=GROUP_KEYS[key])
                group.max_restarts = value
        out[name] = group
    return out


def read_node_group(raw: dict[str, Any], src: str, groups: dict[str, GroupSpec], node: str) -> str | None:
    """A node's ``group:`` (None when absent); it must name a group the graph declares."""
    if "group" not in raw or raw["group"] is None:
        return None
    name, loc = raw["group"], _loc(src, raw, "group")
    if not isinstance(name, str):
        raise ConfigError(f"'group' must be a group name, got {name!r}", location=loc, node=node)
    if name not in groups:
        import difflib

        close = difflib.get_close_matches(name, list(groups), n=1)
        raise ConfigError(f"group '{name}' is not declared under the graph's 'groups:'", location=loc, node=node,
                          hint=f"did you mean '{close[0]}'?" if close else
                          f"add 'groups: {{{name}: {{}}}}' (declared: {', '.join(groups) or 'none'})")
    return name
