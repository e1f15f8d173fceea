"""Test-side access to a real control plane, in the shape of `tests/kubeapi`'s helpers.

`RealCluster` answers `create / get / list / delete` with the same resource naming as the test
API server (`configmaps`, `deployments.apps`, `spiderippools.spiderpool.spidernet.io`), so a
test written against one runs against the other; `add_node` registers a Node that the scheduler
will bind pods to (Ready, with capacity, as a kubelet would report); `wipe()` puts the cluster
back to its first state between tests that share it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from .controlplane import ControlPlane
from .controlplane import request as _request

Object = dict[str, Any]

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Namespaced kinds tests create; wipe() deletes them in every namespace.
NAMESPACED_TEST_KINDS = (
    "deployments.apps", "statefulsets.apps", "daemonsets.apps", "replicasets.apps",
    "cronjobs.batch", "jobs.batch", "pods", "configmaps", "secrets", "serviceaccounts",
    "services", "events", "leases.coordination.k8s.io", "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
)
# API groups whose every object wipe() deletes (finalizers dropped first).
TEST_GROUPS = ("spiderpool.spidernet.io", "gitops.spidernet.io", "k8s.cni.cncf.io",
               "crd.projectcalico.org", "projectcalico.org", "example.com")
KEEP_CLUSTER_OBJECTS = {
    "serviceaccounts": {"default"},
    "configmaps": {"kube-root-ca.crt", "extension-apiserver-authentication",
                   "kube-apiserver-legacy-service-account-token-tracking"},
}


def request(cp: ControlPlane, method: str, path: str, body: Any = None,
            content_type: str = "application/json") -> tuple[int, Any]:
    """A helper request; 429 (a new CRD's storage still initialising, or flow control) is
    waited out for up to 30 s, as a client honouring Retry-After would."""
    deadline = time.monotonic() + 30
    while True:
        status, answer = _request(cp, method, path, body, content_type)
        if status != 429 or time.monotonic() > deadline:
            return status, answer
        time.sleep(0.1)


class APIError(RuntimeError):
    def __init__(self, status: int, body: Any, what: str):
        self.status = status
        self.body = body
        super().__init__(f"{what}: HTTP {status}: {(body or {}).get('message', body)}")


class RealCluster:
    def __init__(self, cp: ControlPlane):
        self.cp = cp
        self._resources: dict[str, tuple[str, bool, str]] = {}   # "plural.group" -> (prefix, namespaced, kind)
        self._kinds: dict[tuple[str, str], str] = {}             # (apiVersion, kind) -> "plural.group"
        self._audit = None

    @property
    def stats(self):
        """Requests the product (the kubeconfig's user) sent, read from the audit log."""
        if self._audit is None:
            from .audit import AuditStats

            self._audit = AuditStats(self)
        return self._audit

    @property
    def kubeconfig(self) -> Path:
        return self.cp.kubeconfig

    @property
    def url(self) -> str:
        return self.cp.url

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        return self.cp.write_kubeconfig(path, namespace=namespace)

    def client_ssl_context(self):
        """TLS for raw HTTP requests made as the kubeconfig's user (what the product and the
        tests' own API clients are, so `stats` counts them) rather than as the helpers' user."""
        import ssl

        from . import pki

        if getattr(self, "_client_ssl", None) is None:
            ctx = ssl.create_default_context(cafile=str(self.cp.pki.ca_cert))
            cert, key = self.cp.pki.clients[pki.ADMIN]
            ctx.load_cert_chain(str(cert), str(key))
            self._client_ssl = ctx
        return self._client_ssl

    # -- discovery -------------------------------------------------------------------------------

    def _discover(self) -> None:
        self._resources.clear()
        self._kinds.clear()
        gvs = [("", "v1", "/api/v1")]
        _, groups = request(self.cp, "GET", "/apis")
        for g in groups.get("groups", []):
            v = g["preferredVersion"]["version"]
            gvs.append((g["name"], v, f"/apis/{g['name']}/{v}"))
            for other in g["versions"]:
                if other["version"] != v:
                    gvs.append((g["name"], other["version"], f"/apis/{g['name']}/{other['version']}"))
        for group, version, prefix in gvs:
            status, body = request(self.cp, "GET", prefix)
            if status != 200:
                continue
            api_version = f"{group}/{version}" if group else version
            for res in body.get("resources", []):
                if "/" in res["name"]:
                    continue
                key = f"{res['name']}.{group}" if group else res["name"]
                self._resources.setdefault(key, (prefix, res["namespaced"], res["kind"]))
                self._kinds[(api_version, res["kind"])] = key
                self._resources.setdefault(f"{api_version}:{res['name']}", (prefix, res["namespaced"], res["kind"]))

    def resource(self, resource: str) -> tuple[str, bool, str]:
        if resource not in self._resources:
            self._discover()
        if resource not in self._resources:
            raise KeyError(f"resource {resource!r} is not served")
        return self._resources[resource]

    def _path(self, resource: str, namespace: str = "", name: str = "") -> str:
        prefix, namespaced, _ = self.resource(resource)
        plural = resource.split(".", 1)[0].split(":")[-1]
        path = prefix + (f"/namespaces/{namespace or 'default'}" if namespaced and namespace != "*" else "")
        path += f"/{plural}"
        return path + (f"/{name}" if name else "")

    def _resource_of(self, obj: Object) -> str:
        key = (obj["apiVersion"], obj["kind"])
        if key not in self._kinds:
            self._discover()
        if key not in self._kinds:
            raise KeyError(f"{obj['apiVersion']} {obj['kind']} is not served")
        return self._kinds[key]

    # -- the tests/kubeapi helper surface ------------------------------------------------------------

    def create(self, obj: Object, *, manager: str = "test-setup") -> Object:
        resource = self._resource_of(obj)
        namespace = obj.get("metadata", {}).get("namespace", "default")
        status, body = request(self.cp, "POST", self._path(resource, namespace) + f"?fieldManager={manager}", obj)
        if status not in (200, 201):
            raise APIError(status, body, f"create {obj['kind']} {obj['metadata'].get('name')}")
        return body

    def get(self, resource: str, name: str, namespace: str = "") -> Object | None:
        status, body = request(self.cp, "GET", self._path(resource, namespace, name))
        if status == 404:
            return None
        if status != 200:
            raise APIError(status, body, f"get {resource} {name}")
        return body

    def list(self, resource: str, namespace: str = "") -> list[Object]:
        status, body = request(self.cp, "GET", self._path(resource, namespace or "*"))
        if status != 200:
            raise APIError(status, body, f"list {resource}")
        kind = self.resource(resource)[2]
        api_version = body.get("apiVersion")
        for item in body["items"]:
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        return body["items"]

    def delete(self, resource: str, name: str, namespace: str = "") -> bool:
        status, body = request(self.cp, "DELETE", self._path(resource, namespace, name))
        if status == 404:
            return False
        if status not in (200, 202):
            raise APIError(status, body, f"delete {resource} {name}")
        return True

    def patch(self, resource: str, name: str, patch: Object, namespace: str = "", *,
              subresource: str = "") -> Object:
        path = self._path(resource, namespace, name) + (f"/{subresource}" if subresource else "")
        status, body = request(self.cp, "PATCH", path, patch, "application/merge-patch+json")
        if status != 200:
            raise APIError(status, body, f"patch {resource} {name}")
        return body

    # -- nodes ------------------------------------------------------------------------------------

    def add_node(self, name: str, labels: Mapping[str, str] | None = None, *,
                 address: str = "127.0.0.1") -> Object:
        """A Node as a kubelet registers it: Ready, with capacity, schedulable."""
        self.create({"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name, **dict(labels or {})}}})
        capacity = {"cpu": "8", "memory": "16Gi", "pods": "110"}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return self.patch("nodes", name, {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "test bed node", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
        }}, subresource="status")

    # -- reset ----------------------------------------------------------------------------------

    def wipe(self, *, crds: bool = False) -> None:
        """Delete what tests create: custom objects of the test groups, namespaced objects of the
        usual kinds, namespaces other than the system ones, and nodes. CRDs stay installed unless
        `crds`, which deletes every CRD and waits until each is gone."""
        if crds:
            self._delete_crds()
        self._discover()
        for key, (prefix, namespaced, _) in list(self._resources.items()):
            if ":" in key or "." not in key or key.split(".", 1)[1] not in TEST_GROUPS:
                continue
            self._delete_all(key)
        for kind in NAMESPACED_TEST_KINDS:
            if kind in self._resources:
                self._delete_all(kind)
        for ns in self.list("namespaces"):
            name = ns["metadata"]["name"]
            if name not in SYSTEM_NAMESPACES:
                self._delete_namespace(name)
        for node in self.list("nodes"):
            self._force_delete("nodes", node)

    def _delete_crds(self) -> None:
        resource = "customresourcedefinitions.apiextensions.k8s.io"
        names = [crd["metadata"]["name"] for crd in self.list(resource)]
        for name in names:
            self.delete(resource, name)
        deadline = time.monotonic() + 60
        while names and time.monotonic() < deadline:
            names = [n for n in names if self.get(resource, n) is not None]
            time.sleep(0.05)
        self._resources.clear()
        self._kinds.clear()

    def _delete_all(self, resource: str) -> None:
        for obj in self.list(resource):
            name = obj["metadata"]["name"]
            if name in KEEP_CLUSTER_OBJECTS.get(resource, ()):
                continue
            self._force_delete(resource, obj)

    def _force_delete(self, resource: str, obj: Object) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        if meta.get("finalizers"):
            try:
                self.patch(resource, meta["name"], {"metadata": {"finalizers": None}}, ns)
            except APIError as exc:
                if exc.status != 404:
                    raise
        status, body = request(self.cp, "DELETE", self._path(resource, ns, meta["name"]),
                               {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                "propagationPolicy": "Background"})
        if status not in (200, 202, 404):
            raise APIError(status, body, f"delete {resource} {meta['name']}")

    def _delete_namespace(self, name: str) -> None:
        request(self.cp, "DELETE", f"/api/v1/namespaces/{name}")
        status, ns = request(self.cp, "GET", f"/api/v1/namespaces/{name}")
        if status == 404:
            return
        ns["spec"]["finalizers"] = []
        request(self.cp, "PUT", f"/api/v1/namespaces/{name}/finalize", ns)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if request(self.cp, "GET", f"/api/v1/namespaces/{name}")[0] == 404:
                return
            time.sleep(0.05)

