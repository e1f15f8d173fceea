"""Reading and writing Kubernetes objects as YAML streams (not spec files).

Objects go out block-style in the order they were built (apiVersion, kind,
metadata, spec), never wrapped, so the same objects are always the same bytes.
A state file comes in as a YAML/JSON stream or a `List` as `kubectl get -o yaml`
prints it.

These are machine-made documents with no positions to keep, so they go through
libyaml (PyYAML's C loader and dumper): dumping 2,500 objects takes ~0.25 s there
against ~3.5 s in ruamel's representer. Spec files, which need positions, are
read by `yamlsource` with ruamel.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import Any, Iterable

import yaml
from yaml import YAMLError

from .errors import StateError

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump_stream(objects: Iterable[dict[str, Any]]) -> str:
    return yaml.dump_all(list(objects), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         explicit_start=True, width=1 << 16, allow_unicode=True)


# Bounds on a --state file, which is read whole. The objects of a 2,000-pool spec are 1.6 MB as
# rendered, a few times that as kubectl prints them (status, managedFields); Kubernetes objects nest
# about 20 levels.
MAX_STATE_BYTES = 64 * 1024 * 1024
MAX_STATE_DEPTH = 100
_INT_DIGITS = 4300  # Python's own bound for int(str); past it json and PyYAML raise a bare ValueError


def load_state(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Kubernetes objects from a file; raises StateError saying what is wrong."""
    text = _read_state(path)
    try:
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):  # `kubectl get -o json`: JSON is YAML, but json is 20x faster
            try:
                documents = [json.loads(text)]
            except json.JSONDecodeError:
                documents = list(yaml.load_all(text, Loader=_Loader))
        else:
            documents = list(yaml.load_all(text, Loader=_Loader))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise StateError(f"{path}{where}: state file is not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:  # json's decoder: more than ~1,000 levels
        raise StateError(f"{path}{_deepest(text)}: state file is nested more than {MAX_STATE_DEPTH} levels deep") from None
    except ValueError:  # json and PyYAML refuse integers of more than 4,300 digits
        raise StateError(f"{path}{_long_number(text)}: state file holds an integer of more than {_INT_DIGITS} digits") from None
    _check_shape(documents, text, path)
    objects: list[dict[str, Any]] = []
    for number, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        for item in items or ():
            if not _is_object(item):
                raise StateError(f"{path}: document {number}: not a Kubernetes object "
                                 "(needs apiVersion, kind and metadata.name)")
            objects.append(item)
    return objects


def _read_state(path: str | os.PathLike) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))  # a FIFO must not hang us
    except OSError as exc:
        raise StateError(f"{path}: cannot read state file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateError(f"{path}: state file is not a regular file")
        data = stream.read(MAX_STATE_BYTES + 1)
    if len(data) > MAX_STATE_BYTES:
        raise StateError(f"{path}: state file is larger than {MAX_STATE_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{path}: state file is not UTF-8 text") from None


def _check_shape(documents: list[Any], text: str, path: str | os.PathLike) -> None:
    """Refuse values nested past MAX_STATE_DEPTH, and aliases that expand past the file's own size.

    Walks level by level, without recursing. A file without aliases cannot hold more lists and
    mappings than it has characters, so counting them bounds an alias bomb by the file size.
    """
    level = [doc for doc in documents if type(doc) is dict or type(doc) is list]
    seen = len(level)
    for _ in range(MAX_STATE_DEPTH):
        below = []
        for value in level:
            below += [child for child in (value.values() if type(value) is dict else value)
                      if type(child) is dict or type(child) is list]
        if not below:
            return
        seen += len(below)
        if seen > len(text):
            raise StateError(f"{path}{_first_anchor(text)}: state file expands to more values than it has characters (YAML aliases); "
                             "write it without anchors and aliases, as kubectl does")
        level = below
    raise StateError(f"{path}{_deepest(text)}: state file is nested more than {MAX_STATE_DEPTH} levels deep")


def _deepest(text: str) -> str:
    """`:line:col` where brackets first nest past MAX_STATE_DEPTH, for an error message (JSON or flow YAML)."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        depth += 1 if token in "[{" else -1 if token in "]}" else 0
        if depth > MAX_STATE_DEPTH:
            return _line_col(text, match.start())
    return ""


def _first_anchor(text: str) -> str:
    match = re.search(r"(?:^|[\s\[{,])(&[^\s,\[\]{}]+)", text)
    return _line_col(text, match.start(1)) if match else ""


def _long_number(text: str) -> str:
    match = re.search(r"\d{%d}" % (_INT_DIGITS + 1), text)
    return _line_col(text, match.start()) if match else ""


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f":{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _is_object(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("apiVersion"), str) and isinstance(item.get("kind"), str)
            and isinstance(item.get("metadata"), dict) and isinstance(item["metadata"].get("name"), str))
