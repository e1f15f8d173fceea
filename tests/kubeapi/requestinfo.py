"""What a request is about: the apiserver's RequestInfo, parsed from method, path and query.

`/api/v1/namespaces/ns/configmaps/name/status` becomes group "", version v1, namespace ns,
resource configmaps, name, subresource status and a Kubernetes verb (get, list, watch,
create, update, patch, delete, deletecollection). Paths that are not resources (discovery,
/version, /openapi) are marked non-resource. `/namespaces/<name>/status|finalize` stays a
namespace subresource; any other word after a namespace name is a namespaced resource.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class RequestInfo:
    is_resource: bool
    verb: str
    path: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""


def _truthy(query: dict, key: str) -> bool:
    return (query.get(key) or [""])[0].lower() in ("1", "true")


def parse(method: str, path: str, query: dict) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(False, method.lower(), path)
    if not rest:
        return RequestInfo(False, method.lower(), path)
    watch = _truthy(query, "watch")
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces":
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = "/".join(rest[2:])
    verb = _verb(method, bool(name), watch)
    return RequestInfo(True, verb, path, group, version, namespace, resource, name, subresource)


def _verb(method: str, named: bool, watch: bool) -> str:
    if method == "GET":
        return "watch" if watch else ("get" if named else "list")
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
