"""Reads model YAML keeping the file, line and column of every key and value.

PyYAML forgets positions once it builds Python objects and silently keeps the last of two
equal keys; error messages need the first and reviewers need the second reported, so the
node tree is walked here instead.
"""

from __future__ import annotations

import math
import re
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
    at: Position | None = None  # an exact spot inside the value (a pasted character)


@dataclass
class SourceDocument:
    """A parsed document plus where each of its parts was written."""

    data: dict[str, Any]
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    readings: dict[Loc, Reading] = field(default_factory=dict)
    bad_values: set[Loc] = field(default_factory=set)  # reported here; the type checks stay quiet
    empty: bool = False

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


@dataclass(frozen=True)
class Reading:
    """A plain value that YAML 1.1 tools (PyYAML, many editors) read differently from this project."""

    position: Position
    text: str  # as written
    value: Any  # as this project reads it (YAML 1.2 core schema)
    yaml11: Any  # as a YAML 1.1 reader would

    def note(self) -> str:
        return (
            f"{self.position}: {self.text} is read as {_shown(self.value)} "
            f"(YAML 1.1 tools would read {_shown(self.yaml11)})"
        )


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    return f"the {type(value).__name__} {value}" if not isinstance(value, int | float) else f"the number {value}"


# ---- YAML 1.2 core schema -----------------------------------------------------------------
# PyYAML reads YAML 1.1: NO/yes/on/off become booleans, 1:30 becomes 90, 010 becomes 8, a
# bare date a date. People writing a country code or an answer mean text, so plain scalars
# are resolved here with the YAML 1.2 core schema; parsing stays in libyaml.

_STR, _NULL, _BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_CORE_RESOLVERS = (
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
)


class _CoreLoader(_Loader):  # type: ignore[valid-type,misc]
    yaml_implicit_resolvers: dict[Any, list[Any]] = {}


for _tag, _pattern, _first in _CORE_RESOLVERS:
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)

_YAML11 = yaml.resolver.Resolver()
_YAML11_CONSTRUCTOR = yaml.SafeLoader("")
_MAX_DIGITS = 300  # beyond ~1e308 a number is no longer a float the engine can add


class _BadValue(Exception):
    """A scalar that parses but is no number the engine can use."""


def _core_value(tag: str, text: str) -> Any:
    """A scalar's value under the YAML 1.2 core schema; other tags are refused."""
    if tag == _STR:
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _BadValue(f"{text!r} is not true or false")
    if tag == _INT:
        digits = text.lstrip("+-")
        if len(digits) > _MAX_DIGITS:
            raise _BadValue(f"{text[:20]}... is too large a number: a model's numbers must be finite")
        sign = -1 if text.startswith("-") else 1
        try:
            if digits.startswith("0o"):
                return sign * int(digits[2:], 8)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            return sign * int(digits, 10)
        except ValueError:
            raise _BadValue(f"{text!r} is not a whole number") from None
    if tag == _FLOAT:
        number = _float_of(text)
        if not math.isfinite(number):
            raise _BadValue(
                f"{text} is not a finite number: a score cannot be infinite or not-a-number; write a number like 100"
            )
        return number
    raise _BadValue(f"the YAML tag {tag!r} is not used in models; remove it")


def _float_of(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a number") from None


def _yaml11_value(text: str) -> Any:
    """How a YAML 1.1 reader (yaml.safe_load) reads the same plain scalar."""
    tag = _YAML11.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    try:
        return _YAML11_CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, text))
    except (yaml.YAMLError, ValueError):  # pragma: no cover - 1.1 resolvers only pick constructible tags
        return text


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


# ---- characters pasted from word processors -------------------------------------------------

_PASTED = {
    "\u201c": "a curly quote “",
    "\u201d": "a curly quote ”",
    "\u2018": "a curly quote ‘",
    "\u2019": "a curly quote ’",
    "\u00a0": "a non-breaking space (U+00A0)",
    "\u202f": "a narrow non-breaking space (U+202F)",
    "\u200b": "an invisible zero-width space (U+200B)",
    "\u200c": "an invisible zero-width non-joiner (U+200C)",
    "\u200d": "an invisible zero-width joiner (U+200D)",
    "\u2060": "an invisible word joiner (U+2060)",
    "\ufeff": "an invisible zero-width no-break space (U+FEFF)",
}
_PASTED_PATTERN = re.compile("[" + "".join(_PASTED) + "]")
_FREE_TEXT_KEYS = frozenset({"description", "label"})  # prose, where typographic quotes are fine


def _pasted_warning(value: str) -> str | None:
    found = _PASTED_PATTERN.search(value)
    if found is None:
        return None
    char = found.group()
    if char in "\u201c\u201d\u2018\u2019":
        return (
            f"{_PASTED[char]} in {value!r} (pasted from a word processor?) is part of the value, "
            "so it will not match; use straight quotes ' or \" or none"
        )
    if char in "\u00a0\u202f":
        return f"{_PASTED[char]} in {value!r} does not match a normal space; retype the space"
    return f"{_PASTED[char]} in {value!r} makes it differ from what it looks like; delete it"


# ---- plain-words syntax errors ----------------------------------------------------------------


def _source_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _excerpt(text: str, line: int, column: int) -> str:
    """The offending line with a caret under the column; tabs shown as → so the caret lines up."""
    shown = _source_line(text, line).replace("\t", "→")
    gutter = " " * len(str(line))
    return f"\n  {line} | {shown}\n  {gutter} | {' ' * (column - 1)}^"


def _syntax_error(error: yaml.MarkedYAMLError, text: str, file: str) -> YamlSyntaxError:
    problem = str(error.problem or "")
    context = str(error.context or "")
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    start = error.context_mark
    what = problem or context
    written = _source_line(text, line)
    if "tab" in problem or (column <= len(written) and written[column - 1 : column] == "\t"):
        what = "a tab is used for indentation; YAML indents with spaces only: replace the tab with spaces"
    elif "quoted scalar" in context and start is not None:
        line, column = start.line + 1, start.column + 1
        quote = _source_line(text, line)[column - 1 : column] or '"'
        what = f"this {quote} is never closed; end the text with {quote} on the same line"
    elif "flow sequence" in context or "flow mapping" in context:
        opening, closing = ("[", "]") if "sequence" in context else ("{", "}")
        if start is not None:
            line, column = start.line + 1, start.column + 1
        if "#" in _source_line(text, line)[column:]:
            what = (
                f"a comment inside {opening}...{closing}: '#' starts a comment up to the end of the line, "
                f"so the closing {closing} was read as part of it; put the comment after the {closing}"
            )
        else:
            what = f"this {opening} is never closed; add {closing} at the end of the " + (
                "list" if opening == "[" else "mapping"
            )
    elif "mapping values are not allowed" in problem:
        before = written[: column - 1]
        if re.fullmatch(r"\s*[\w.-]+\s*", before):
            column = len(before) - len(before.lstrip()) + 1
            what = (
                "this key is indented more than the keys above it; line it up with them "
                "(or, if it is part of the text above, put that text in quotes)"
            )
        else:
            written_value = re.match(r"^\s*(?:- )?([\w.-]+):\s+(.*?)\s*$", written)
            example = (
                f'{written_value.group(1)}: "{written_value.group(2)}"'
                if written_value and '"' not in written_value.group(2)
                else 'description: "Demo: straight to sales"'
            )
            what = f"a ': ' inside a value; put the whole value in quotes, like {example}"
    elif "expected '-' indicator" in problem:
        item = _source_line(text, start.line + 1) if start is not None else ""
        dash = item.find("-")
        key_column = dash + 1 + len(item[dash + 1 :]) - len(item[dash + 1 :].lstrip()) + 1
        column = len(written) - len(written.lstrip()) + 1
        what = (
            f"a key where a list item ('- ') is expected: indent it to column {key_column} to belong to "
            "the item above, or start a new item with '- '"
        )
    elif "block mapping" in context and "expected key" in problem:
        column = len(written) - len(written.lstrip()) + 1
        if written.lstrip().startswith("-"):
            what = (
                "a list item ('- ') where a key (name: value) is expected; "
                "a list goes under a key, indented below it (like `rules:` and then `  - id: ...`)"
            )
        else:
            what = "this line does not fit the lines above: check its indentation and brackets"
            column = mark.column + 1 if mark else column
    elif "alias" in problem or "anchor" in problem or "alphabetic or numeric" in problem:
        what = 'a value that starts with * or & must be in quotes, like "*/pricing"'
    elif "single document" in context:
        what = "one document per file: remove the '---' line, or split the file in two"
    elif "cannot start any token" in problem:
        char = written[column - 1 : column]
        what = f"a value cannot start with {char!r}; put the value in quotes"
    return YamlSyntaxError(Position(file, line, column), f"YAML syntax: {what}{_excerpt(text, line, column)}")


def _position(file: str, node: yaml.Node) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, file: str) -> SourceDocument:
    """Parse one YAML document into plain data and its position tables (YAML 1.2 core values)."""
    try:
        root = yaml.compose(text, Loader=_CoreLoader)
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, text, file) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(Position(file, 1, 1), f"YAML syntax: {error}") from None
    doc = SourceDocument(data={})
    if root is None:
        doc.empty = True
        return doc

    def where(index: int) -> Position:
        line = text.count("\n", 0, index) + 1
        return Position(file, line, index - text.rfind("\n", 0, index))

    def scalar(node: yaml.ScalarNode, loc: Loc) -> Any:
        try:
            value = _core_value(node.tag, node.value)
        except _BadValue as bad:
            doc.problems.append(Problem(loc, str(bad)))
            doc.bad_values.add(loc)
            return node.value
        if not node.style:
            yaml11 = _yaml11_value(node.value)
            if not _same(value, yaml11):
                doc.readings[loc] = Reading(_position(file, node), node.value, value, yaml11)
        if isinstance(value, str) and not (loc and loc[-1] in _FREE_TEXT_KEYS):
            message = _pasted_warning(value)
            if message is not None:
                found = _PASTED_PATTERN.search(text, node.start_mark.index, node.end_mark.index)
                at = where(found.start()) if found else _position(file, node)
                doc.warnings.append(Problem(loc, message, at=at))
        return value

    def key_of(node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return node.value  # a key is a name: kept as written (NO, yes, 010)
        return str(_YAML11_CONSTRUCTOR.construct_object(node, deep=True))

    def build(node: yaml.Node, loc: Loc) -> Any:
        doc.values[loc] = _position(file, node)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = key_of(key_node)
                child = (*loc, key)
                message = _pasted_warning(key)
                if message is not None:
                    doc.warnings.append(Problem(child, message, True))
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
        return scalar(node, loc)

    data = build(root, ())
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else "a single value"
        raise YamlSyntaxError(
            _position(file, root),
            f"this file is {what}, but a model file is a mapping of keys (sales_ready_score:, rules:, ...); "
            "if these are rules, put `rules:` on the line above and indent them under it",
        )
    doc.data = data
    return doc


# Keys whose lists concatenate and whose mappings merge when a model is split over files.
_LIST_KEYS = frozenset({"rules", "event_types"})
_MAP_KEYS = frozenset({"scores", "groups", "forms"})


def _shift(loc: Loc, prefix: Loc, offset: int) -> Loc:
    """Shift the list index under `prefix` by `offset` in one path."""
    depth = len(prefix)
    if loc[:depth] == prefix and len(loc) > depth and isinstance(loc[depth], int):
        return (*prefix, loc[depth] + offset, *loc[depth + 1 :])
    return loc


def _rebase(table: dict[Loc, Any], prefix: Loc, offset: int) -> dict[Loc, Any]:
    """Shift the list index under `prefix` by `offset` in every path of a position table."""
    return {_shift(loc, prefix, offset): value for loc, value in table.items()}


def _rebase_problem(problem: Problem, prefix: Loc, offset: int) -> Problem:
    first_at = _shift(problem.first_at, prefix, offset) if problem.first_at is not None else None
    return Problem(_shift(problem.loc, prefix, offset), problem.message, problem.on_key, first_at, problem.at)


def merge_documents(docs: list[SourceDocument]) -> SourceDocument:
    """Merge several files into one model: lists append, named sections merge, settings once."""
    if len(docs) == 1:
        return docs[0]
    merged = SourceDocument(data={})
    for doc in docs:
        keys, values, readings = doc.keys, doc.values, doc.readings
        problems, warnings, bad_values = list(doc.problems), list(doc.warnings), set(doc.bad_values)
        for key, value in doc.data.items():
            if key in _LIST_KEYS and isinstance(value, list) and isinstance(merged.data.get(key), list):
                prefix: Loc = (key,)
                offset = len(merged.data[key])
                keys, values, readings = (_rebase(t, prefix, offset) for t in (keys, values, readings))
                problems = [_rebase_problem(p, prefix, offset) for p in problems]
                warnings = [_rebase_problem(p, prefix, offset) for p in warnings]
                bad_values = {_shift(loc, prefix, offset) for loc in bad_values}
        merged.problems.extend(problems)
        merged.warnings.extend(warnings)
        merged.bad_values |= bad_values
        for key, value in doc.data.items():
            loc: Loc = (key,)
            if key not in merged.data:
                merged.data[key] = value
                continue
            if key in _LIST_KEYS and isinstance(value, list) and isinstance(merged.data[key], list):
                merged.data[key] = merged.data[key] + value
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
        for table, source in ((merged.keys, keys), (merged.values, values), (merged.readings, readings)):
            for loc, pos in source.items():
                table.setdefault(loc, pos)
    return merged


MODEL_SUFFIXES = (".yaml", ".yml")
# Files that belong in a model folder without being part of the model: the editor's schema.
_COMPANION_SUFFIXES = (".schema.json",)


def model_files(path: Path) -> list[Path]:
    """A model is one YAML file or every *.yaml / *.yml file of a folder, in name order."""
    if path.is_dir():
        return sorted(
            f
            for f in path.iterdir()
            if f.is_file() and f.suffix.lower() in MODEL_SUFFIXES and not f.name.startswith(".")
        )
    return [path]


def stray_files(path: Path) -> list[Path]:
    """Files of a model folder that are not read: notes, backups, editor files."""
    if not path.is_dir():
        return []
    read = set(model_files(path))
    return sorted(
        f for f in path.iterdir() if f.is_file() and f not in read and not f.name.lower().endswith(_COMPANION_SUFFIXES)
    )


def looks_like_model(text: str, keys: frozenset[str]) -> list[str]:
    """The model keys a file's top level has, if it parses as a YAML mapping; else []."""
    try:
        root = yaml.compose(text, Loader=_CoreLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    return [k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode) and k.value in keys]
