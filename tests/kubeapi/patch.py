"""The three non-apply PATCH flavours: JSON merge patch, JSON patch and strategic merge patch.

Merge patch (RFC 7386) and JSON patch (RFC 6902) are complete. Strategic merge patch is the
apiserver's dialect for built-in types; kubectl's client-side apply sends it. Implemented:
maps merge recursively, `null` deletes, lists of objects merge by the Kubernetes merge key
of the field (`containers`/`env`/`volumes` by name, `ports` by containerPort or port,
`conditions` by type, `ownerReferences` by uid, ...), `finalizers` merges as a set, every
other list is replaced; the directives `$patch: replace|delete|merge`,
`$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>` and `$retainKeys` are honoured.
Simplification: merge keys are chosen by field name, not by the full Go type, which is what
the fields that matter to kubectl apply need.
"""

from __future__ import annotations

import copy
from typing import Any

# field name -> candidate merge keys (the first whose key the items carry wins)
MERGE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "containers": (("name",),),
    "initContainers": (("name",),),
    "ephemeralContainers": (("name",),),
    "env": (("name",),),
    "volumes": (("name",),),
    "volumeMounts": (("mountPath",),),
    "volumeDevices": (("devicePath",),),
    "imagePullSecrets": (("name",),),
    "hostAliases": (("ip",),),
    "conditions": (("type",),),
    "ownerReferences": (("uid",),),
    "ports": (("containerPort", "protocol"), ("port", "protocol")),
    "resourceClaims": (("name",),),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"),),
}
SET_FIELDS = {"finalizers"}


class PatchError(Exception):
    """A patch that cannot be applied; `invalid` distinguishes 422 from 400."""

    def __init__(self, message: str, *, invalid: bool = False):
        super().__init__(message)
        self.invalid = invalid


def merge_keys_for(field: str, items: list) -> tuple[str, ...] | None:
    for keys in MERGE_KEYS.get(field, ()):
        if any(isinstance(item, dict) and keys[0] in item for item in items):
            return keys
    return MERGE_KEYS[field][0] if field in MERGE_KEYS else None


# -- RFC 7386 -----------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- RFC 6902 -----------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"missing value at path: {path}", invalid=True)
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node = _container(doc, parts, path)
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node[int(last)]
    raise PatchError(f"missing value at path: {path}", invalid=True)


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    node = _container(doc, parts, path)
    last = parts[-1] if parts else ""
    if isinstance(node, dict) and last in node:
        return node.pop(last)
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node.pop(int(last))
    raise PatchError(f"unable to remove nonexistent key: {last}: missing value", invalid=True)


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    node = _container(doc, parts, path)
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        if last == "-":
            node.append(value)
        elif last.isdigit() and int(last) <= len(node):
            node.insert(int(last), value)
        else:
            raise PatchError(f"add operation index out of bounds: {last}", invalid=True)
    else:
        raise PatchError(f"missing value at path: {path}", invalid=True)
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed", invalid=True)
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# -- strategic merge patch ----------------------------------------------------------------------

def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    return _smp_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict, patch: dict) -> dict | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
    retain = patch.get("$retainKeys")
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(target.get(field), list):
                target[field] = [x for x in target[field] if x not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merged = _smp_map(target[key], value)
            if merged is None:
                target.pop(key)
            else:
                target[key] = merged
        elif isinstance(value, dict):
            merged = _smp_map({}, value)
            if merged is not None:
                target[key] = merged
        elif isinstance(value, list):
            target[key] = _smp_list(key, target.get(key), value)
        else:
            target[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(target.get(field), list):
            target[field] = _reorder(field, target[field], order)
    if isinstance(retain, list):
        for key in [k for k in target if k not in retain]:
            del target[key]
    return target


def _smp_list(field: str, current: Any, patch: list) -> list:
    current = copy.deepcopy(current) if isinstance(current, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if field in SET_FIELDS:
        return current + [copy.deepcopy(p) for p in patch if p not in current]
    keys = (merge_keys_for(field, patch + current) or ())[:1]  # SMP has one patchMergeKey
    if not keys or not all(isinstance(p, dict) for p in patch):
        return copy.deepcopy(patch)
    for item in patch:
        ident = tuple(item.get(k) for k in keys)
        index = next((i for i, c in enumerate(current)
                      if isinstance(c, dict) and tuple(c.get(k) for k in keys) == ident), None)
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
        elif index is None:
            current.append(_smp_map({}, item))
        else:
            current[index] = _smp_map(current[index], item)
    return current


def _reorder(field: str, items: list, order: list) -> list:
    keys = (merge_keys_for(field, items) or ())[:1] if field not in SET_FIELDS else None

    def ident(item: Any) -> Any:
        return tuple(item.get(k) for k in keys) if keys and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    placed = sorted((i for i in items if ident(i) in wanted), key=lambda i: wanted.index(ident(i)))
    return placed + [i for i in items if ident(i) not in wanted]
