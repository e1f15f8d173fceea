"""Server-side printing: the `meta.k8s.io/v1 Table` answers `kubectl get` asks for.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
columns the server returns. Custom resources get NAME plus the CRD version's
`additionalPrinterColumns` (cells from their JSONPath, typed like the apiextensions table
convertor; priority > 0 only shows with `-o wide`), or NAME and AGE when the CRD declares
none. A few built-ins get their familiar columns; the rest get NAME and AGE.

JSONPath support covers what printer columns use: `.a.b`, `['dotted.key']` with `\\.`
escapes, `[0]`, `[*]` and `[?(@.type=="Ready")]` filters; the first match is printed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable

from .registry import ResourceType

NAME_DEF = {"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace. Is required when creating "
                           "resources, although some resources may allow a client to request the "
                           "generation of an appropriate name automatically. Name is primarily "
                           "intended for creation idempotence and configuration definition."}
AGE_DEF = {"name": "Age", "type": "date", "format": "", "priority": 0,
           "description": "CreationTimestamp is a timestamp representing the server time when "
                          "this object was created."}

Column = tuple[dict, Callable[[dict], Any]]


# -- JSONPath ---------------------------------------------------------------------------------

_SEGMENT = re.compile(r"""\.(?P<name>[^.\[]+)|\[(?P<bracket>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\d+|\*|\?\(.*?\))\]""")


def jsonpath(obj: Any, path: str) -> list:
    """All matches of a simple JSONPath (`{.a.b}` braces optional)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    nodes, pos = [obj], 0
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if not match:
            return []
        pos = match.end()
        nodes = [n for node in nodes for n in _step(node, match)]
    return nodes


def _step(node: Any, match: re.Match) -> list:
    name = match.group("name")
    if name is None:
        bracket = match.group("bracket")
        if bracket[0] in "'\"":
            name = re.sub(r"\\(.)", r"\1", bracket[1:-1])
        elif bracket == "*":
            return list(node.values()) if isinstance(node, dict) else list(node) if isinstance(node, list) else []
        elif bracket.startswith("?("):
            return _filter(node, bracket[2:-1])
        else:
            index = int(bracket)
            return [node[index]] if isinstance(node, list) and index < len(node) else []
    if name == "*":
        return list(node.values()) if isinstance(node, dict) else []
    return [node[name]] if isinstance(node, dict) and name in node else []


def _filter(node: Any, expression: str) -> list:
    match = re.fullmatch(r"\s*@((?:\.[\w-]+)+)\s*(==|!=)\s*(['\"])(.*)\3\s*", expression)
    if not match or not isinstance(node, list):
        return []
    field, op, value = match.group(1), match.group(2), match.group(4)
    out = []
    for item in node:
        found = jsonpath(item, field)
        hit = bool(found) and str(found[0]) == value
        if hit == (op == "=="):
            out.append(item)
    return out


# -- cells ------------------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, (hours // 24) % 365
    if hours < 24 * 365 * 8 and days:
        return f"{years}y{days}d"
    return f"{years}y"


def age(timestamp: str | None) -> str | None:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return human_duration((datetime.now(timezone.utc) - then).total_seconds())


def _typed_cell(kind: str, value: Any) -> Any:
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() else None
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age(value)
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    return None


def _crd_column(spec: dict) -> Column:
    definition = {"name": spec["name"], "type": spec.get("type", "string"), "format": spec.get("format", ""),
                  "description": spec.get("description", ""), "priority": int(spec.get("priority", 0))}
    path = spec.get("jsonPath", "")

    def cell(obj: dict) -> Any:
        found = jsonpath(obj, path)
        return _typed_cell(definition["type"], found[0]) if found else None

    return definition, cell


def _col(name: str, kind: str, fn: Callable[[dict], Any], priority: int = 0) -> Column:
    return {"name": name, "type": kind, "format": "", "description": name, "priority": priority}, fn


def _get(path: str) -> Callable[[dict], Any]:
    return lambda obj: (jsonpath(obj, path) or [None])[0]


def _pod_ready(pod: dict) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _node_status(node: dict) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return {"True": "Ready", "False": "NotReady"}.get(cond.get("status"), "Unknown")
    return "Unknown"


_AGE: Column = (AGE_DEF, lambda o: age(o["metadata"].get("creationTimestamp")))
_DATA: Column = _col("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))

BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "namespaces": [_col("Status", "string", _get(".status.phase")), _AGE],
    "configmaps": [_DATA, _AGE],
    "secrets": [_col("Type", "string", _get(".type")), _DATA, _AGE],
    "pods": [_col("Ready", "string", _pod_ready), _col("Status", "string", lambda o: (o.get("status") or {}).get("phase")),
             _col("Restarts", "integer", lambda o: sum(s.get("restartCount", 0) for s in
                                                       (o.get("status") or {}).get("containerStatuses") or [])),
             _AGE, _col("IP", "string", _get(".status.podIP"), 1), _col("Node", "string", _get(".spec.nodeName"), 1)],
    "nodes": [_col("Status", "string", _node_status), _col("Roles", "string", lambda o: "<none>"), _AGE,
              _col("Version", "string", _get(".status.nodeInfo.kubeletVersion"))],
    "deployments": [_col("Ready", "string", lambda o: f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                                                     f"{(o.get('spec') or {}).get('replicas', 1)}"),
                    _col("Up-to-date", "integer", lambda o: (o.get("status") or {}).get("updatedReplicas", 0)),
                    _col("Available", "integer", lambda o: (o.get("status") or {}).get("availableReplicas", 0)),
                    _AGE],
    "customresourcedefinitions": [_col("Created At", "date", lambda o: o["metadata"].get("creationTimestamp"))],
}


def columns_for(rt: ResourceType) -> list[Column]:
    name: Column = (NAME_DEF, lambda o: o["metadata"].get("name"))
    if not rt.builtin:
        extra = [_crd_column(c) for c in rt.printer_columns] if rt.printer_columns else [_AGE]
        return [name, *extra]
    return [name, *BUILTIN_COLUMNS.get(rt.plural, [_AGE])]


def _partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def to_table(rt: ResourceType, objects: list[dict], *, include_object: str = "Metadata",
             list_meta: dict | None = None, api_version: str = "meta.k8s.io/v1") -> dict:
    columns = columns_for(rt)
    rows = []
    for obj in objects:
        row: dict = {"cells": [fn(obj) for _, fn in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": api_version, "metadata": list_meta or {},
            "columnDefinitions": [d for d, _ in columns], "rows": rows}
