"""Field paths and field sets: the vocabulary of server-side apply (structured-merge-diff).

Server-side apply records, per field manager, the set of fields it owns. A path is a tuple of
elements, spelled like the `fieldsV1` keys of `metadata.managedFields`:

    ("f", "spec")                     f:spec                  a map field
    ("k", '{"name":"nginx"}')         k:{"name":"nginx"}      an item of an associative list
    ("v", '"example.com/fin"')        v:"example.com/fin"     a member of a set list

Whether a list is associative (keyed), a set or atomic, and whether a map is atomic, comes
from a `Shape`: the CRD's structural schema (`x-kubernetes-list-type`, `-list-map-keys`,
`-map-type`) for custom resources, or the built-in merge keys for built-in types (and for
`metadata` everywhere). `leaves()` flattens an object to {path: value}; `encode()`/`decode()`
convert sets to and from `fieldsV1`; `path_string()` spells a path as conflict messages do
(`.spec.containers[name="nginx"].image`).
"""

from __future__ import annotations

import json
from typing import Any

from .patch import MERGE_KEYS, SET_FIELDS, merge_keys_for

Path = tuple
MAP = "<map>"  # marker: a map exists here (compare mode)
ITEM = "<item>"  # marker: a list item / set member exists here


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Shape:
    """The merge semantics of one position in an object."""

    def __init__(self, schema: dict | None, *, field: str = "", root: bool = False):
        self.schema = schema  # None: built-in rules
        self.field = field
        self.root = root

    def child(self, name: str) -> "Shape":
        if self.schema is None or (self.root and name == "metadata"):
            return Shape(None, field=name)
        props = self.schema.get("properties") or {}
        if name in props:
            return Shape(props[name], field=name)
        extra = self.schema.get("additionalProperties")
        return Shape(extra if isinstance(extra, dict) else {}, field=name)

    def item(self) -> "Shape":
        if self.schema is None:
            return Shape(None)
        return Shape(self.schema.get("items") or {})

    @property
    def atomic_map(self) -> bool:
        return bool(self.schema) and self.schema.get("x-kubernetes-map-type") == "atomic"

    def list_kind(self, items: list) -> tuple[str, tuple[str, ...]]:
        """("map", keys), ("set", ()) or ("atomic", ())."""
        if self.schema is None:
            if self.field in SET_FIELDS:
                return ("set", ())
            if self.field in MERGE_KEYS:
                return ("map", merge_keys_for(self.field, items))
            return ("atomic", ())
        kind = self.schema.get("x-kubernetes-list-type")
        if kind == "map":
            return ("map", tuple(self.schema.get("x-kubernetes-list-map-keys") or ()))
        if kind == "set":
            return ("set", ())
        return ("atomic", ())


def item_key(item: dict, keys: tuple[str, ...]) -> str:
    return canonical({k: item[k] for k in keys if k in item})


def _keyed(items: list, keys: tuple[str, ...]) -> bool:
    return bool(keys) and all(isinstance(i, dict) and keys[0] in i for i in items)


def leaves(obj: Any, shape: Shape, *, all_nodes: bool = False) -> dict[Path, Any]:
    """Flatten to {path: value}. Apply mode lists owned leaves only (maps only when empty);
    compare mode (`all_nodes`) also lists every map as a member, so new maps show as added."""
    out: dict[Path, Any] = {}
    _walk(obj, shape, (), out, all_nodes)
    return out


def _walk(value: Any, shape: Shape, path: Path, out: dict, all_nodes: bool) -> None:
    if isinstance(value, dict) and not shape.atomic_map:
        if path and (all_nodes or not value) and path != (("f", "metadata"),):
            out[path] = MAP if all_nodes else {}
        for key, child in value.items():
            _walk(child, shape.child(key), path + (("f", key),), out, all_nodes)
        return
    if isinstance(value, list) and value:
        kind, keys = shape.list_kind(value)
        if kind == "set" and all(not isinstance(v, (dict, list)) for v in value):
            for member in value:
                out[path + (("v", canonical(member)),)] = ITEM
            return
        if kind == "map" and _keyed(value, keys):
            item_shape = shape.item()
            for item in value:
                item_path = path + (("k", item_key(item, keys)),)
                out[item_path] = ITEM
                for key, child in item.items():
                    _walk(child, item_shape.child(key), item_path + (("f", key),), out, all_nodes)
            return
    if path:
        out[path] = value


# -- merging and removing (server-side apply) --------------------------------------------------

def apply_merge(live: Any, config: Any, shape: Shape) -> Any:
    """Merge an applied configuration into the live value, structured-merge-diff style."""
    if isinstance(config, dict) and isinstance(live, dict) and not shape.atomic_map:
        result = dict(live)
        for key, value in config.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = apply_merge(result[key], value, shape.child(key))
            else:
                result[key] = without_nulls(value)
        return result
    if isinstance(config, list) and isinstance(live, list):
        kind, keys = shape.list_kind(config + live)
        if kind == "set":
            return live + [v for v in config if v not in live]
        if kind == "map" and _keyed(config, keys) and _keyed(live, keys):
            result = list(live)
            index = {item_key(item, keys): i for i, item in enumerate(result)}
            for item in config:
                ident = item_key(item, keys)
                if ident in index:
                    result[index[ident]] = apply_merge(result[index[ident]], item, shape.item())
                else:
                    index[ident] = len(result)
                    result.append(without_nulls(item))
            return result
    return without_nulls(config)


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _step(node: Any, element: tuple) -> tuple[Any, Any]:
    """(container, locator) of `element` inside `node`, or (None, None) when absent."""
    kind, ident = element
    if kind == "f":
        return (node, ident) if isinstance(node, dict) and ident in node else (None, None)
    if not isinstance(node, list):
        return (None, None)
    if kind == "k":
        wanted = json.loads(ident)
        for i, item in enumerate(node):
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                return (node, i)
    if kind == "v":
        for i, item in enumerate(node):
            if canonical(item) == ident:
                return (node, i)
    return (None, None)


def remove_path(obj: dict, path: Path) -> None:
    node: Any = obj
    for element in path[:-1]:
        container, locator = _step(node, element)
        if container is None:
            return
        node = container[locator]
    container, locator = _step(node, path[-1])
    if container is not None:
        del container[locator]


def get_path(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        container, locator = _step(node, element)
        if container is None:
            return None
        node = container[locator]
    return node


# -- fieldsV1 and messages ---------------------------------------------------------------------

def _element_key(element: tuple) -> str:
    return f"{element[0]}:{element[1]}"


def encode(paths: set[Path]) -> dict:
    tree: dict = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(_element_key(element), {})
        node["."] = {}
    return _collapse(tree)


def _collapse(node: dict) -> dict:
    if set(node) == {"."}:
        return {}
    return {k: (v if k == "." else _collapse(v)) for k, v in sorted(node.items())}


def decode(fields: dict) -> set[Path]:
    """The set a fieldsV1 tree describes; raises ValueError when it is malformed."""
    out: set[Path] = set()
    _decode(fields, (), out)
    return out


def _decode(node: Any, path: Path, out: set) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"fieldsV1 node at {path_string(path)} is not an object")
    if not node and path:
        out.add(path)
    for key, child in node.items():
        if key == ".":
            out.add(path)
            continue
        kind, sep, ident = key.partition(":")
        if not sep or kind not in ("f", "k", "v", "i"):
            raise ValueError(f"invalid fieldsV1 key {key!r}")
        if kind in ("k", "v"):
            ident = canonical(json.loads(ident))
        _decode(child, path + ((kind, ident),), out)


def path_string(path: Path) -> str:
    parts = []
    for kind, ident in path:
        if kind == "f":
            parts.append("." + ident)
        elif kind == "k":
            keyed = json.loads(ident)
            parts.append("[" + ",".join(f"{k}={canonical(v)}" for k, v in keyed.items()) + "]")
        elif kind == "v":
            parts.append(f"[={ident}]")
        else:
            parts.append(f"[{ident}]")
    return "".join(parts)
