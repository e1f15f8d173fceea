"""The chart's RBAC, checked against what the product asks the real API server for.

Why it exists: a Role is right when it grants exactly what the code calls. The control plane
audits every request of a service account outside kube-system (tests/cluster/controlplane.py);
the test runs the controller and the agent as the chart's service accounts, with tokens from
the TokenRequest API, through their scenarios, and reads back what they asked for.

A `Grant` is one atom of a rule: (namespace or None for cluster-wide, API group, resource,
verb, resource name or None). RBAC only adds, so a grant is *needed* exactly when some
recorded request is covered by it and by no other grant: without it that request is 403.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tests.cluster.controlplane import ControlPlane
from tests.cluster.controlplane import request as cp_request


@dataclass(frozen=True, order=True)
class Request:
    verb: str
    group: str
    resource: str          # with "/subresource" when there is one
    namespace: str
    name: str
    code: int

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}{named}{where} -> {self.code}"


@dataclass(frozen=True, order=True)
class Grant:
    namespace: str | None  # None: a ClusterRole bound cluster-wide
    group: str
    resource: str
    verb: str
    name: str | None       # a resourceNames entry, None: any

    def covers(self, r: Request) -> bool:
        if (self.group, self.resource, self.verb) != (r.group, r.resource, r.verb):
            return False
        if self.namespace is not None and self.namespace != r.namespace:
            return False
        # RBAC sees no name on create, list and watch (a resourceNames rule never covers them)
        name = "" if r.verb in ("create", "list", "watch", "deletecollection") else r.name
        return self.name is None or self.name == name

    def __str__(self) -> str:
        scope = f"Role in {self.namespace}" if self.namespace is not None else "ClusterRole"
        named = f" (resourceNames: {self.name})" if self.name else ""
        return f"{scope}: {self.verb} {self.resource}{'.' + self.group if self.group else ''}{named}"


def grants_of(objects: list[dict], service_account: str, namespace: str) -> dict[Grant, tuple[str, str]]:
    """Every grant the rendered chart gives `namespace/service_account` -> (role kind, role name)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects
             if o["kind"] in ("Role", "ClusterRole")}
    out: dict[Grant, tuple[str, str]] = {}
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == service_account and s["namespace"] == namespace
                   for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles[(ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])]
        for rule in role["rules"]:
            assert not rule.get("nonResourceURLs"), "the chart grants no non-resource URLs"
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert "*" not in (group, resource, verb), f"a wildcard in {role['metadata']['name']}"
                        for name in rule.get("resourceNames") or [None]:
                            out[Grant(scope, group, resource, verb, name)] = (role["kind"], role["metadata"]["name"])
    return out


def recorded(cp: ControlPlane, username: str, *, since: int = 0) -> list[Request]:
    """The resource requests `username` made (from audit log byte offset `since`), each once."""
    out = []
    with open(cp.audit_log, "rb") as log:
        log.seek(since)
        for line in log:
            event = json.loads(line)
            if event.get("user", {}).get("username") != username:
                continue
            stage, verb = event.get("stage"), event.get("verb", "")
            if (verb == "watch") != (stage == "ResponseStarted") or stage not in ("ResponseStarted", "ResponseComplete"):
                continue
            ref = event.get("objectRef")
            if not ref:
                continue  # discovery (/api, /apis): every authenticated user may read it
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            code = (event.get("responseStatus") or {}).get("code", 0)
            r = Request(verb, ref.get("apiGroup", ""), resource, ref.get("namespace", ""), ref.get("name", ""), code)
            out.append(r)
            if verb == "patch" and code == 201:
                # a server-side apply that creates the object is authorized as a create as well;
                # the audit event names only the patch
                out.append(Request("create", r.group, r.resource, r.namespace, r.name, code))
    return out


def audit_offset(cp: ControlPlane) -> int:
    return cp.audit_log.stat().st_size


def needed(grants: Iterable[Grant], requests: Iterable[Request]) -> dict[Grant, list[Request]]:
    """grant -> the recorded requests that only it covers (empty: the grant is not needed)."""
    grants = list(grants)
    out: dict[Grant, list[Request]] = {g: [] for g in grants}
    for r in set(requests):
        covering = [g for g in grants if g.covers(r)]
        if len(covering) == 1:
            out[covering[0]].append(r)
    return out


def uncovered(grants: Iterable[Grant], requests: Iterable[Request]) -> list[Request]:
    grants = list(grants)
    return sorted({r for r in requests if not any(g.covers(r) for g in grants)})


# -- credentials ---------------------------------------------------------------------------------

def token_for(cp: ControlPlane, namespace: str, service_account: str) -> str:
    """A token from the TokenRequest API, signed by the API server's service-account key."""
    status, body = cp_request(cp, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 3600}})
    assert status == 201, (status, body)
    return body["status"]["token"]


def token_kubeconfig(cp: ControlPlane, path: Path, token: str, *, namespace: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "real", "cluster": {
            "server": cp.url, "certificate-authority-data": base64.b64encode(cp.pki.ca_cert.read_bytes()).decode()}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "real", "user": "sa", "namespace": namespace}}],
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def access_review(cp: ControlPlane, username: str, groups: list[str], r: Request) -> bool:
    """The real authorizer's answer: may `username` make request `r`?"""
    resource, _, sub = r.resource.partition("/")
    attrs = {"verb": r.verb, "group": r.group, "resource": resource, "subresource": sub,
             "namespace": r.namespace}
    if r.verb not in ("create", "list", "watch") and r.name:
        attrs["name"] = r.name
    status, body = cp_request(cp, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": username, "groups": groups, "resourceAttributes": attrs}})
    assert status == 201, (status, body)
    return bool(body["status"].get("allowed"))
