"""YAML documents as plain data that still know where every value came from.

We read the parser's event stream and build plain dicts/lists/scalars from it,
recording the `line:col` of every value (and of every mapping key) under its
path, so later stages can say `file:line:col` for any value they complain about.

Why events and not ruamel's composer: the composer recurses once per nesting
level (its C version overflows the C stack and kills the process at ~50,000
levels; the Python one raises RecursionError at ~1,000), and re-walking an alias
once per use makes a few hundred bytes of nested aliases expand exponentially.
Building from events keeps one explicit stack, so a hostile file is refused at
the event that crosses a bound, with its `file:line:col`:

- `MAX_DEPTH` nesting levels (a real spec uses fewer than ten);
- `MAX_ALIAS_VALUES` values produced by alias expansion per file (an alias is
  replayed from the recorded events of its anchor, so expansion is counted as
  it happens, not after it has exhausted memory);
- integers of at most `MAX_INT_DIGITS` digits, numbers that fit a float, and
  only the plain YAML types (no `!!binary`, `!!set` or application tags).

The events come from libyaml (ruamel.yaml.clib) when it can, which is as fast as
the C composer was. A file libyaml refuses is read again by ruamel's
pure-Python parser, which also decides what the error is: the bundled libyaml
0.1.7 rejects valid YAML such as IPv6 addresses in a flow list
(`ips: [fd00::10-fd00::50]`). Without the C extension, the pure one is all
there is. Neither parser recurses.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (AliasEvent, DocumentEndEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent,
                                ScalarEvent, SequenceEndEvent, SequenceStartEvent)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import Resolver

from ruamel.yaml import YAML

try:  # libyaml's parser; same events and marks, much faster
    from ruamel.yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on the installed wheel
    _CParser = None

from .errors import Location, SpecError

Path = tuple  # a path into the data: keys (str) and list indexes (int)

MAX_DEPTH = 100  # nesting levels of mappings and lists in one document
MAX_ALIAS_VALUES = 100_000  # values that aliases may expand to, per file
MAX_INT_DIGITS = 100  # Kubernetes integers are int64 (19 digits); Python refuses past 4,300


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
    if _CParser is not None:
        try:
            return _Builder(file, _c_events(text), _C_RESOLVER).run(), []
        except _Structural as exc:
            return [], exc.errors
        except YAMLError:
            pass  # libyaml (0.1.7 in ruamel.yaml.clib) refuses some valid YAML, e.g. IPv6 in a flow list
    yaml = YAML(typ="safe", pure=True)
    try:
        return _Builder(file, yaml.parse(text), yaml.resolver).run(), []
    except _Structural as exc:
        return [], exc.errors
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        problem = exc.problem or exc.context or "cannot parse"
        return [], [SpecError(where, "$", f"YAML syntax error: {problem}")]
    except YAMLError as exc:
        return [], [SpecError(Location(file, 1, 1), "$", f"YAML error: {exc}")]


_C_RESOLVER = Resolver()
_CONSTRUCTOR = YAML(typ="safe", pure=True).constructor  # for the scalars that are neither str nor plain int


def _c_events(text: str):
    parser = _CParser(text)
    try:
        while (event := parser.get_event()) is not None:
            yield event
    finally:
        parser.dispose()


class _Structural(YAMLError):
    """Well-formed YAML with problems of shape (duplicate keys, merge keys, bounds): reported as such."""

    def __init__(self, errors: list[SpecError]):
        super().__init__("structural problems")
        self.errors = errors


class _Frame:
    """A mapping or list being built, its path, and whether it is kept (not under a refused key)."""

    __slots__ = ("container", "path", "key", "keep")

    def __init__(self, container, path: Path, keep: bool):
        self.container, self.path, self.key, self.keep = container, path, _KEY, keep


# Where a mapping is between its entries: waiting for a key, building a refused (non-scalar) key,
# or waiting for a value to drop; otherwise `key` holds the accepted key whose value comes next.
_KEY, _IN_KEY, _DROP = object(), object(), object()
_ROOT = _Frame(None, (), True)  # the document itself: its one value becomes Document.data
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_STR, _INT, _FLOAT, _MERGE = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                              "tag:yaml.org,2002:merge")
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_CONSTRUCTED = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", _INT, _FLOAT}


class _Builder:
    """Plain data from one file's events, with one explicit stack and the bounds above."""

    def __init__(self, file: str, events, resolver):
        self.file, self.resolve = file, resolver.resolve
        self.sources = [iter(events)]  # the parser, then the recorded events of aliases being replayed
        self.errors: list[SpecError] = []
        self.documents: list[Document] = []
        self.expanded = 0  # values built by replaying aliases, in this file
        self.begin_document()

    def run(self) -> list[Document]:
        sources = self.sources
        while sources:
            for event in sources[-1]:
                replayed = len(sources) > 1
                if not replayed and getattr(event, "anchor", None) is not None and type(event) is not AliasEvent:
                    self.anchors_open.append((event.anchor, len(self.recorded), len(self.stack)))
                if self.anchors_open and not replayed:
                    self.recorded.append(event)
                kind = type(event)
                if kind is ScalarEvent:
                    self.scalar(event)
                elif kind is MappingStartEvent or kind is SequenceStartEvent:
                    self.start(event, kind is MappingStartEvent)
                elif kind is MappingEndEvent or kind is SequenceEndEvent:
                    frame = self.stack.pop()
                    self.deliver(frame.container)
                elif kind is AliasEvent:
                    self.alias(event, replayed)
                    break  # go on with the replay just pushed
                elif kind is DocumentStartEvent:
                    self.begin_document()
                elif kind is DocumentEndEvent:
                    self.documents.append(self.doc)
                while self.anchors_open and self.anchors_open[-1][2] == len(self.stack):
                    name, first, _ = self.anchors_open.pop()
                    self.anchors[name] = (first, len(self.recorded))
            else:
                sources.pop()
                if len(sources) == 1:
                    self.replaying = None
        if self.errors:
            raise _Structural(self.errors)
        return self.documents

    def begin_document(self) -> None:
        self.doc = Document(self.file, len(self.documents), None)
        self.stack: list[_Frame] = [_ROOT]
        self.anchors: dict[str, tuple[int, int]] = {}  # name -> its events in self.recorded
        self.anchors_open: list[tuple[str, int, int]] = []  # name, first event, stack depth at its start
        self.recorded: list = []  # the events of anchored values as written, while any anchor is open
        self.replaying = None  # the outermost alias being replayed

    def alias(self, event, replayed: bool) -> None:
        name = event.anchor
        if any(open_name == name for open_name, _, _ in self.anchors_open):
            self.fail(event, f"alias *{name} refers to the value that contains it")
        if name not in self.anchors:
            self.fail(event, f"alias *{name} has no anchor &{name} before it in this document")
        if not replayed:
            self.replaying = event
        first, last = self.anchors[name]
        self.sources.append(map(self.recorded.__getitem__, range(first, last)))

    # --- values -------------------------------------------------------------------------------

    def start(self, event, mapping: bool) -> None:
        if len(self.stack) > MAX_DEPTH:
            self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
        path, keep = self.place(event, "a mapping" if mapping else "a list")
        if keep and event.tag not in (None, "!", _MAP if mapping else _SEQ):
            self.report(event, path, f"unsupported YAML tag {_short(event.tag)}; "
                                     f"write a plain {'mapping' if mapping else 'list'}")
        self.stack.append(_Frame({} if mapping else [], path, keep))

    def scalar(self, event) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = str(self.resolve(ScalarNode, event.value, event.implicit))  # the pure resolver's Tag
            if tag == _TIMESTAMP:  # YAML 1.2's core schema has no dates: `2024-01-01` stays the text it is
                tag = _STR
        parent = self.stack[-1]
        if parent.key is _KEY and parent is not _ROOT and type(parent.container) is dict:
            self.key(event, tag, parent)
            return
        path, keep = self.place(event, "a scalar")
        self.deliver(self.convert(event, tag, path) if keep else None)

    def key(self, event, tag: str, parent: _Frame) -> None:
        parent.key = _DROP
        if not parent.keep:
            return
        if tag == _MERGE:
            return self.report(event, parent.path, "YAML merge keys (<<) are not supported; write the fields out")
        key = self.convert(event, tag, parent.path)
        if not isinstance(key, str):
            if key is not None or tag == "tag:yaml.org,2002:null":
                self.report(event, parent.path, f"mapping keys must be strings, got {'null' if key is None else repr(key)}")
            return
        child = parent.path + (key,)
        if key in parent.container:
            first = self.doc.keys[child]
            return self.report(event, child, f"duplicate key (first defined at line {first[0]})")
        self.doc.keys[child] = (event.start_mark.line + 1, event.start_mark.column + 1)
        parent.key = key

    def place(self, event, what: str) -> tuple[Path, bool]:
        """The path of a new value and whether it is kept; records its position."""
        if len(self.sources) > 1:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_VALUES:
                self.fail(self.replaying, f"aliases expand to more than {MAX_ALIAS_VALUES} values; "
                                          "write the values out")
        parent = self.stack[-1]
        if parent is _ROOT:
            path, keep = (), True
        elif type(parent.container) is list:
            path, keep = parent.path + (len(parent.container),), parent.keep
        elif parent.key is _KEY:  # a list or mapping used as a key
            if parent.keep:
                self.report(event, parent.path, f"mapping keys must be strings, got {what}")
            parent.key = _IN_KEY
            return parent.path, False
        elif parent.key is _DROP or parent.key is _IN_KEY:
            return parent.path, False
        else:
            path, keep = parent.path + (parent.key,), parent.keep
        if keep:
            self.doc.values[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
        return path, keep

    def deliver(self, value) -> None:
        parent = self.stack[-1]
        if parent is _ROOT:
            self.doc.data = value
        elif type(parent.container) is list:
            parent.container.append(value)
        elif parent.key is _IN_KEY:
            parent.key = _DROP  # the refused key is built; its value is dropped next
        else:
            if parent.key is not _DROP:
                parent.container[parent.key] = value
            parent.key = _KEY

    def convert(self, event, tag: str, path: Path) -> Any:
        """A scalar's value; None (and an error) when it cannot be one of the plain types."""
        value = event.value
        if tag == _STR:  # the common cases without the constructor's bookkeeping
            return value
        if tag == _INT and value.isdigit() and (value == "0" or value[0] != "0") and len(value) <= MAX_INT_DIGITS:
            return int(value)
        if tag not in _CONSTRUCTED:
            return self.report(event, path, f"unsupported YAML tag {_short(tag)}; "
                                            "write a plain string, number, boolean or null")
        if tag == _INT and len(value) > MAX_INT_DIGITS:  # int() refuses past 4,300 digits, slowly
            digits = sum(c.isdigit() for c in value)
            return self.report(event, path, f"an integer of {digits} digits is too large (at most {MAX_INT_DIGITS})")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ruamel warns about YAML 1.1 floats such as 1e999
                result = _CONSTRUCTOR.construct_object(ScalarNode(tag, value, event.start_mark, event.end_mark),
                                                       deep=True)
        except (ValueError, YAMLError):
            return self.report(event, path, f"cannot read {value!r} as {_short(tag)}")
        if isinstance(result, float) and math.isinf(result) and "inf" not in value.lower():
            return self.report(event, path, f"number {value} is out of range (too large for a float)")
        return result

    # --- errors -------------------------------------------------------------------------------

    def report(self, event, path: Path, message: str) -> None:
        mark = event.start_mark
        self.errors.append(SpecError(Location(self.file, mark.line + 1, mark.column + 1), format_path(path), message))

    def fail(self, event, message: str):
        """A bound crossed: report it at `event` (under the path its value would take) and stop reading."""
        parent = self.stack[-1]
        path = parent.path
        if parent is not _ROOT and type(parent.container) is list:
            path += (len(parent.container),)
        elif parent is not _ROOT and isinstance(parent.key, str):
            path += (parent.key,)
        mark = event.start_mark
        shown = format_path(path) if len(path) <= 8 else f"{format_path(path[:4])}...({len(path)} levels)"
        self.errors.append(SpecError(Location(self.file, mark.line + 1, mark.column + 1), shown, message))
        raise _Structural(self.errors)


def _short(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def format_path(path: Path) -> str:
    """`('spec', 'ippools', 0, 'gateway')` -> `spec.ippools[0].gateway`; `()` -> `$`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"
