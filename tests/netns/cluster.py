"""The bed's API side: the test API server with our CRDs, and the objects a kubelet and an operator touch.

Why it exists: the agent decides from what the API says (pools, nodes, pods and
their deletion state), so the bed must write those objects as the real actors do
and read back what the agent committed (pool records, SpiderEndpoints).

Pod deletion follows the kubelet: `kubectl delete` marks the pod terminating,
the kubelet tears the sandbox down (CNI DEL) and only then the object goes. The
test server deletes pods at once (it has no kubelet), so every bed pod carries a
finalizer standing for the kubelet: DELETE leaves it terminating with a
deletionTimestamp, `finalize_pod` lets it go.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping

IPPOOLS = "spiderippools.spiderpool.spidernet.io"
ENDPOINTS = "spiderendpoints.spiderpool.spidernet.io"
NADS = "network-attachment-definitions.k8s.cni.cncf.io"
KUBELET_FINALIZER = "netns-bed.spidernet.io/kubelet"
PAUSE = {"name": "app", "image": "registry.k8s.io/pause:3.9"}


class Cluster:
    """The bed's API side on `server`: a `tests.cluster.api.RealCluster` (the real control plane,
    wiped when the bed closes) or, when none is given, a `tests/kubeapi` server of its own."""

    def __init__(self, workdir: Path, server=None):
        from reconciler.kube import connect
        from reconciler.sync import install_crds
        from tests.kubeapi.fixtures import api_client_for
        from tests.kubeapi.server import KubeAPIServer

        self._own_server = server is None
        self.server = KubeAPIServer().start() if server is None else server
        self.kubeconfig = self.server.write_kubeconfig(workdir / "kubeconfig")
        self.client = None
        try:
            install_crds(connect(kubeconfig=str(self.kubeconfig)))
            self.client = api_client_for(self.server)
        except BaseException:
            self._release()
            raise

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self._release()

    def _release(self) -> None:
        if self._own_server:
            self.server.stop()
        else:
            self.server.wipe()

    # -- what an operator does --------------------------------------------------------------------

    def apply(self, spec: str | os.PathLike) -> str:
        """`spiderpool apply SPEC` -> its output; RuntimeError when it fails."""
        from reconciler.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["apply", str(spec), "--kubeconfig", str(self.kubeconfig)])
        if code != 0:
            raise RuntimeError(f"spiderpool apply {spec} exited {code}:\n{out.getvalue()}{err.getvalue()}")
        return out.getvalue()

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.server.create(obj)

    def get(self, resource: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.server.get(resource, name, namespace)

    def add_node(self, name: str, labels: Mapping[str, str]) -> None:
        if hasattr(self.server, "add_node"):   # the real server: Ready, with capacity, schedulable
            self.server.add_node(name, labels)
        else:
            self.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": dict(labels)}})

    def ensure_namespace(self, name: str, *, annotations: Mapping[str, str] | None = None,
                         labels: Mapping[str, str] | None = None) -> None:
        if self.get("namespaces", name) is None:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": name, "annotations": dict(annotations or {}), "labels": dict(labels or {})}})

    def nad_config(self, ref: str) -> str:
        """`spec.config` of the NetworkAttachmentDefinition `namespace/name`, as Multus reads it."""
        namespace, _, name = ref.rpartition("/")
        nad = self.get(NADS, name, namespace or "default")
        if nad is None:
            raise KeyError(f"no NetworkAttachmentDefinition {ref}")
        return nad["spec"]["config"]

    # -- what the kubelet does to pod objects ------------------------------------------------------

    def create_pod(self, *, name: str, namespace: str, node: str, annotations: Mapping[str, str] | None = None,
                   labels: Mapping[str, str] | None = None) -> str:
        """A pod bound to `node` -> its uid."""
        self.ensure_namespace(namespace)
        return self.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": namespace, "annotations": dict(annotations or {}),
            "labels": dict(labels or {}), "finalizers": [KUBELET_FINALIZER]},
            "spec": {"nodeName": node, "containers": [dict(PAUSE)]}})["metadata"]["uid"]

    def terminate_pod(self, name: str, namespace: str, *, grace_period_seconds: int | None = None) -> None:
        """`kubectl delete pod`: the pod becomes terminating (a no-op when it is gone)."""
        from kubernetes import client

        self._ignoring_404(lambda: client.CoreV1Api(self.client).delete_namespaced_pod(
            name, namespace, grace_period_seconds=grace_period_seconds))

    def finalize_pod(self, name: str, namespace: str) -> None:
        """The kubelet is done with the pod: the object goes (a no-op when it is gone)."""
        from kubernetes import client

        obj = self.get("pods", name, namespace)
        if obj is None:
            return
        if KUBELET_FINALIZER in obj["metadata"].get("finalizers", ()):
            rest = [f for f in obj["metadata"]["finalizers"] if f != KUBELET_FINALIZER]
            self._ignoring_404(lambda: client.CoreV1Api(self.client).patch_namespaced_pod(
                name, namespace, [{"op": "replace", "path": "/metadata/finalizers", "value": rest}]))
        # the kubelet confirms the deletion with a zero grace period (a real server waits for it)
        self.terminate_pod(name, namespace, grace_period_seconds=0)

    @staticmethod
    def _ignoring_404(call) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            call()
        except ApiException as exc:
            if exc.status != 404:
                raise

    def patch_pool_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Edit a pool's status as another writer would (a controller, a person with kubectl)."""
        from kubernetes import client

        client.CustomObjectsApi(self.client).patch_cluster_custom_object_status(
            "spiderpool.spidernet.io", "v2beta1", "spiderippools", name, {"status": dict(status)})

    # -- what the agent committed --------------------------------------------------------------------

    def pool(self, name: str) -> dict[str, Any] | None:
        return self.get(IPPOOLS, name)

    def allocations(self, pool: str) -> dict[str, dict[str, Any]]:
        """`status.allocatedIPs` of a SpiderIPPool, decoded: ip -> {"pod", "podUid", ...}."""
        obj = self.pool(pool)
        if obj is None:
            raise KeyError(f"no SpiderIPPool {pool}")
        raw = (obj.get("status") or {}).get("allocatedIPs") or "{}"
        return json.loads(raw) if isinstance(raw, str) else dict(raw)

    def records_of(self, *, uid: str, key: str) -> dict[str, str]:
        """Every IP any pool holds for a pod (by uid or by "ns/name"): ip -> pool."""
        held = {}
        for obj in self.server.list(IPPOOLS):
            name = obj["metadata"]["name"]
            for ip, record in self.allocations(name).items():
                if record.get("podUid") == uid or record.get("pod") == key:
                    held[ip] = name
        return held

    def endpoint(self, name: str, namespace: str) -> dict[str, Any] | None:
        return self.get(ENDPOINTS, name, namespace)
