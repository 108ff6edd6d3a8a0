"""Reads model YAML keeping the file, line and column of every key and value.

PyYAML forgets positions once it builds Python objects and silently keeps the last of two
equal keys; error messages need the first and reviewers need the second reported, so the
node tree is walked here instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is several times faster; fall back where libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class Problem:
    """One thing wrong with a model, located by its path in the merged document."""

    loc: Loc
    message: str
    on_key: bool = False  # point at the key itself rather than its value
    first_at: Loc | None = None  # for duplicates: where the first one was written


@dataclass
class SourceDocument:
    """A parsed document plus where each of its parts was written."""

    data: dict[str, Any]
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, loc: Loc, on_key: bool = False) -> Position | None:
        """The closest known position: the exact path, else its nearest ancestor."""
        probe = tuple(loc)
        while True:
            table = self.keys if on_key and probe in self.keys else self.values
            if probe in table:
                return table[probe]
            if not probe:
                return None
            probe = probe[:-1]
            on_key = False


class YamlSyntaxError(Exception):
    def __init__(self, position: Position, message: str):
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message


def _position(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, file: str) -> SourceDocument:
    """Parse one YAML document into plain data and its position tables."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        problem = str(error.problem or error.context)
        if "mapping values are not allowed" in problem:
            problem += " (a ': ' inside a value? put the value in quotes)"
        raise YamlSyntaxError(where, f"YAML syntax: {problem}") from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(Position(file, 1, 1), f"YAML syntax: {error}") from None
    doc = SourceDocument(data={})
    if root is None:
        return doc
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node, loc: Loc) -> Any:
        doc.values[loc] = _position(file, node)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                child = (*loc, key)
                if key in result:
                    first = doc.keys[child]
                    doc.problems.append(Problem(child, f"duplicate key '{key}' (first written at {first})", True))
                    doc.keys[child] = _position(file, key_node)
                    continue
                doc.keys[child] = _position(file, key_node)
                result[key] = build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*loc, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    data = build(root, ())
    if not isinstance(data, dict):
        raise YamlSyntaxError(
            _position(file, root), "a model file must be a mapping of keys (sales_ready_score:, rules:, ...)"
        )
    doc.data = data
    return doc


# Keys whose lists concatenate and whose mappings merge when a model is split over files.
_LIST_KEYS = frozenset({"rules", "event_types"})
_MAP_KEYS = frozenset({"scores", "groups", "forms"})


def _rebase(table: dict[Loc, Position], prefix: Loc, offset: int) -> dict[Loc, Position]:
    """Shift the list index under `prefix` by `offset` in every path of a position table."""
    depth = len(prefix)
    rebased = {}
    for loc, pos in table.items():
        if loc[:depth] == prefix and len(loc) > depth and isinstance(loc[depth], int):
            loc = (*prefix, loc[depth] + offset, *loc[depth + 1 :])
        rebased[loc] = pos
    return rebased


def merge_documents(docs: list[SourceDocument]) -> SourceDocument:
    """Merge several files into one model: lists append, named sections merge, settings once."""
    if len(docs) == 1:
        return docs[0]
    merged = SourceDocument(data={})
    for doc in docs:
        merged.problems.extend(doc.problems)
        keys, values = doc.keys, doc.values
        for key, value in doc.data.items():
            loc: Loc = (key,)
            if key not in merged.data:
                merged.data[key] = value
                continue
            if key in _LIST_KEYS and isinstance(value, list) and isinstance(merged.data[key], list):
                offset = len(merged.data[key])
                merged.data[key] = merged.data[key] + value
                keys, values = _rebase(keys, loc, offset), _rebase(values, loc, offset)
                continue
            if key in _MAP_KEYS and isinstance(value, dict) and isinstance(merged.data[key], dict):
                for name, item in value.items():
                    if name in merged.data[key]:
                        merged.problems.append(
                            Problem(
                                (key, name),
                                f"'{name}' is defined twice (also at {merged.keys[(key, name)]})",
                                True,
                            )
                        )
                        merged.keys[(key, name)] = keys[(key, name)]
                    else:
                        merged.data[key][name] = item
                continue
            merged.problems.append(Problem(loc, f"'{key}' is set in two files (also at {merged.keys[loc]})", True))
            merged.keys[loc] = keys[loc]
            continue
        for table, source in ((merged.keys, keys), (merged.values, values)):
            for loc, pos in source.items():
                table.setdefault(loc, pos)
    return merged


def model_files(path: Path) -> list[Path]:
    """A model is one YAML file or every *.yaml / *.yml file of a folder, in name order."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        return [f for f in files if not f.name.startswith(".")]
    return [path]
