"""Discovery and OpenAPI documents: how kubectl and the python client learn what is served.

`/api`, `/apis`, `/apis/<group>` and the `APIResourceList` of each group version follow the
legacy (unaggregated) discovery format, which every client falls back to when the server
answers plain `application/json`. Resource entries carry name, singularName, namespaced,
kind, verbs, shortNames and categories, plus `<plural>/status` entries.

`/openapi/v3` serves a minimal index and per-group-version documents that declare, for every
kind, a PATCH operation accepting the `fieldValidation` query parameter and no
strategic-merge body. That is what kubectl 1.31/1.33 look for: with it, `kubectl apply`
skips client-side schema validation (asking the server to validate with
`fieldValidation=Strict` instead) and computes strategic merge patches from its built-in
types, without warnings. No component schemas are served, so `kubectl explain` is not
supported; `/openapi/v2` answers 404, which kubectl tolerates.
"""

from __future__ import annotations

import hashlib
import json

from .registry import STANDARD_VERBS, Registry, ResourceType

# apiextensions-apiserver lists custom resources' verbs in this order
CUSTOM_RESOURCE_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")

SERVER_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "kubeapi-test-server",
    "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.3",
    "compiler": "gc", "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict:
    groups = [_group(g, vs) for g, vs in sorted(registry.group_versions().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource_entry(rt: ResourceType) -> dict:
    entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
             "kind": rt.kind, "verbs": list(STANDARD_VERBS if rt.builtin else CUSTOM_RESOURCE_VERBS)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entry["storageVersionHash"] = hashlib.sha256(rt.storage_key.encode()).hexdigest()[:11]
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict | None:
    types = sorted(registry.in_group_version(group, version), key=lambda rt: rt.plural)
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_resource_entry(rt))
        if rt.has_status:
            resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


# -- OpenAPI v3 -----------------------------------------------------------------------------------

def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict | None:
    types = sorted(registry.in_group_version(group, version), key=lambda rt: rt.plural)
    if not types:
        return None
    paths = {}
    for rt in types:
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        base = f"/{_gv_path(group, version)}{scope}/{rt.plural}"
        gvk = {"group": group, "version": version, "kind": rt.kind}

        def operation(action: str, verb: str, suffix: str = "", params: tuple = ()) -> dict:
            return {"operationId": f"{verb}{rt.kind}{suffix}", "x-kubernetes-action": action,
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                                   for p in params],
                    "responses": {"200": {"description": "OK"}}}

        write = ("dryRun", "fieldManager", "fieldValidation", "force")
        # the paths kube-apiserver publishes per kind: collection, item, status, all namespaces
        paths[base] = {"get": operation("list", "list"), "post": operation("post", "create"),
                       "delete": operation("deletecollection", "deleteCollection")}
        paths[base + "/{name}"] = {"get": operation("get", "read"), "put": operation("put", "replace"),
                                   "patch": operation("patch", "patch", params=write),
                                   "delete": operation("delete", "delete")}
        if rt.has_status:
            paths[base + "/{name}/status"] = {"get": operation("get", "read", "Status"),
                                              "put": operation("put", "replace", "Status"),
                                              "patch": operation("patch", "patch", "Status", write)}
        if rt.namespaced:
            paths[f"/{_gv_path(group, version)}/{rt.plural}"] = {"get": operation("list", "list", "ForAllNamespaces")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def openapi_v3_index(registry: Registry) -> dict:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = openapi_v3_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            gv = _gv_path(group, version)
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}
