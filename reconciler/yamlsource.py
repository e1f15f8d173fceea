"""YAML documents as plain data that still know where every value came from.

ruamel.yaml composes each document into nodes that carry their start marks; this
module turns the nodes into plain dicts/lists/scalars and records the `line:col`
of every value (and of every mapping key) under its path, so later stages can say
`file:line:col` for any value they complain about.

We compose with ruamel's C composer (ruamel.yaml.clib) rather than the round-trip
loader: both keep marks, but round-trip loading is ~15x slower, which alone would
spend the whole time budget of a 2,000-pool spec. A file the C composer refuses
is read again by ruamel's pure-Python composer, which also decides what the
error is: the bundled libyaml 0.1.7 rejects valid YAML such as IPv6 addresses in
a flow list (`ips: [fd00::10-fd00::50]`). Without the C extension, the pure one
is all there is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ruamel.yaml import YAML

try:  # the C composer; same nodes and marks, much faster
    from ruamel.yaml.cyaml import CSafeLoader as _CLoader
except ImportError:  # pragma: no cover - depends on the installed wheel
    _CLoader = None

from .errors import Location, SpecError

Path = tuple  # a path into the data: keys (str) and list indexes (int)


@dataclass
class Document:
    """One YAML document: its data and the position of every value in it."""

    file: str
    index: int
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: Path, *, key: bool = False) -> Location:
        """Where `path` is written; falls back to the nearest enclosing value."""
        table = self.keys if key and path in self.keys else self.values
        while path not in table and path:
            path = path[:-1]
            table = self.values
        line, col = table.get(path, (1, 1))
        return Location(self.file, line, col)


def load_documents(text: str, file: str) -> tuple[list[Document], list[SpecError]]:
    """Parse every document of one file; syntax errors come back as SpecErrors."""
    try:
        return _compose(text, file, fast=True), []
    except _Structural as exc:
        return [], exc.errors
    except YAMLError:
        pass  # libyaml (0.1.7 in ruamel.yaml.clib) refuses some valid YAML, e.g. IPv6 in a flow list
    try:
        return _compose(text, file, fast=False), []
    except _Structural as exc:
        return [], exc.errors
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        problem = exc.problem or exc.context or "cannot parse"
        return [], [SpecError(where, "$", f"YAML syntax error: {problem}")]
    except YAMLError as exc:
        return [], [SpecError(Location(file, 1, 1), "$", f"YAML error: {exc}")]


def _compose(text: str, file: str, *, fast: bool) -> list[Document]:
    """Documents via the C composer (fast) or ruamel's pure-Python one (complete, ~20x slower)."""
    errors: list[SpecError] = []
    documents: list[Document] = []
    if fast and _CLoader is not None:
        loader = _CLoader(text)
        nodes = _c_nodes(loader)
        construct = loader.construct_object
    else:
        yaml = YAML(typ="safe", pure=True)
        nodes = yaml.compose_all(text)
        construct = yaml.constructor.construct_object
    for node in nodes:
        doc = Document(file, len(documents), None)
        doc.data = _build(construct, node, (), doc, errors)
        documents.append(doc)
    if errors:
        raise _Structural(errors)
    return documents


class _Structural(YAMLError):
    """Well-formed YAML with problems of shape (duplicate keys, merge keys): reported as such."""

    def __init__(self, errors: list[SpecError]):
        super().__init__("structural problems")
        self.errors = errors


def _c_nodes(loader):
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose:
            dispose()


def _build(construct, node, path: Path, doc: Document, errors: list[SpecError]) -> Any:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key_node.tag.endswith(":merge"):
                errors.append(SpecError(Location(doc.file, *key_pos), format_path(path),
                                        "YAML merge keys (<<) are not supported; write the fields out"))
                continue
            key = _scalar(construct, key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                errors.append(SpecError(Location(doc.file, *key_pos), format_path(path),
                                        f"mapping keys must be strings, got {key!r}"))
                continue
            child = path + (key,)
            if key in result:
                first = doc.keys[child]
                errors.append(SpecError(Location(doc.file, *key_pos), format_path(child),
                                        f"duplicate key (first defined at line {first[0]})"))
                continue
            doc.keys[child] = key_pos
            result[key] = _build(construct, value_node, child, doc, errors)
        return result
    if isinstance(node, SequenceNode):
        return [_build(construct, item, path + (i,), doc, errors) for i, item in enumerate(node.value)]
    return _scalar(construct, node)


_STR, _INT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"


def _scalar(construct, node) -> Any:
    tag = node.tag
    if tag == _STR:  # the common cases without the constructor's bookkeeping
        return node.value
    if tag == _INT and node.value.isdigit() and (node.value == "0" or node.value[0] != "0"):
        return int(node.value)
    return construct(node, deep=True)


def format_path(path: Path) -> str:
    """`('spec', 'ippools', 0, 'gateway')` -> `spec.ippools[0].gateway`; `()` -> `$`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"
