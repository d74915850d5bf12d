"""Read YAML safely while remembering the line of every mapping key and list item.

Only ``yaml.SafeLoader`` is used: no Python object tags, ever. Mappings become ``LineDict`` (a dict with
``.line`` and ``.key_lines``), sequences ``LineList`` (a list with ``.line`` and ``.item_lines``); lines are 1-based.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


class LineDict(dict):  # type: ignore[type-arg]
    line: int = 0
    key_lines: dict[str, int]


class LineList(list):  # type: ignore[type-arg]
    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping keys must be plain scalars, found {type(key).__name__}", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

MAX_GRAPH_FILE_BYTES = 8 * 1024 * 1024
MAX_NESTING = 64  # mappings/lists inside each other; graph files need about 6
MAX_VALUES = 200_000  # scalars and collections after expanding aliases (a "billion laughs" file has ~10**9)


def _check_shape(text: str, source: str) -> None:
    """Refuse, at file:line, YAML nested too deeply or whose aliases expand to too many values, before building it.

    Works on the parser's event stream (no recursion): each collection's expanded size is summed as it closes and
    remembered under its anchor, so an alias costs the size of what it points to.
    """
    sizes: list[int] = [0]  # expanded size of each open collection (the outermost is the document)
    anchors: list[str | None] = [None]
    anchored: dict[str, int] = {}
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(sizes) > MAX_NESTING:
                raise ConfigError(f"YAML nesting is deeper than {MAX_NESTING} levels", location=f"{source}:{line}",
                                  hint="graph files nest a few levels; flatten this value")
            sizes.append(1)
            anchors.append(event.anchor)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size = sizes.pop()
            anchor = anchors.pop()
            if anchor is not None:
                anchored[anchor] = size
            sizes[-1] += size
        elif isinstance(event, yaml.ScalarEvent):
            sizes[-1] += 1
            if event.anchor is not None:
                anchored[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            sizes[-1] += anchored.get(event.anchor, 1)
        else:
            continue
        if sizes[-1] > MAX_VALUES or sum(sizes) > MAX_VALUES:
            raise ConfigError(f"YAML aliases expand to more than {MAX_VALUES} values", location=f"{source}:{line}",
                              hint="a graph file this large is almost certainly malformed or hostile "
                                   "(nested '*alias' references)")


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; syntax errors become a ConfigError at ``source:line``."""
    if len(text) > MAX_GRAPH_FILE_BYTES:
        raise ConfigError(f"graph text is {len(text)} bytes, over the {MAX_GRAPH_FILE_BYTES} byte limit",
                          location=source)
    try:
        _check_shape(text, source)
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives from SafeLoader
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        line = text.count("\n", 0, max(0, exc.position)) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        raise ConfigError(f"YAML error: character U+{code:04X} is not allowed in YAML", location=f"{source}:{line}",
                          hint="remove the control character (binary data in a text file?)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", location=f"{source}:{line}",
                          hint="fix the YAML syntax (indentation, quotes, colons)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", location=source) from None
    except RecursionError:
        raise ConfigError("YAML nesting is too deep", location=source) from None


def read_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"graph file '{path}' does not exist", hint="check the path") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(f"graph file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}: {exc.reason})",
                          location=f"{path}:{line}", hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read graph file '{path}': {exc.strerror}") from None
    return load_yaml(text, str(path))


def line_of(container: Any, key: str | int | None = None) -> int:
    """Best line number for ``container[key]`` (or the container itself)."""
    if isinstance(container, LineDict):
        if key is not None and str(key) in container.key_lines:
            return container.key_lines[str(key)]
        return container.line
    if isinstance(container, LineList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return 0
