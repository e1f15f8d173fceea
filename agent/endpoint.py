"""The SpiderEndpoint writes that follow a commit, and the CNI attachments they remember.

Upstream's SpiderEndpoint CRD has no status subresource, so the whole object,
`status` included, is created, replaced (resourceVersion-guarded) or deleted
through the main resource.

NO OWNER REFERENCE. Upstream points the endpoint at its pod AND holds it with a
finalizer until the agent has released the addresses: either way the endpoint
outlives the pod object. We get the same without the finalizer dance by writing
no ownerReference: the endpoint goes when its addresses go (CNI DEL or GC, the
IP garbage collector, which also sweeps endpoints left without records). That
matters because the endpoint is where a lost sandbox's container ID is found,
also after a force-deleted pod is gone:

CNI ATTACHMENTS. CNI GC names what to keep by (containerID, ifname) per network,
and neither upstream's pool records nor its endpoint status have a place for a
container ID. We keep them in one annotation of the endpoint (the CRD schema
would prune an unknown status field; annotations are free):

    gitops.spidernet.io/cni-attachments: {"eth0": {"containerID": "4f1c...", "network": "macvlan-ens192"}}

written with the same request that writes the endpoint's status, so it costs no
extra API write on ADD. An endpoint without it (written by upstream's agent) is
never touched by CNI GC; the IP garbage collector still covers it. Taking over
such an endpoint drops its ownerReferences to pods, so the cluster's collector
cannot take it away with an old pod.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from agent import kube as k8s
from cni.allocation import EndpointChange

from .cache import Cache
from .metrics import AgentMetrics

ATTACHMENTS = "gitops.spidernet.io/cni-attachments"


@dataclass(frozen=True)
class Attachment:
    nic: str
    container_id: str
    network: str


def attachments(raw: Mapping[str, Any] | None) -> dict[str, Attachment]:
    """The attachments an endpoint object records, by interface; {} when absent or unreadable."""
    text = (((raw or {}).get("metadata") or {}).get("annotations") or {}).get(ATTACHMENTS)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {nic: Attachment(nic, str(v.get("containerID", "")), str(v.get("network", "")))
            for nic, v in data.items() if isinstance(v, dict)}


def _encode(found: Mapping[str, Attachment]) -> str:
    return json.dumps({nic: {"containerID": a.container_id, "network": a.network} for nic, a in sorted(found.items())},
                      separators=(",", ":"))


def _nics(status: Mapping[str, Any]) -> set[str]:
    return {e.get("interface", "") for e in (status.get("current") or {}).get("ips") or ()}


class EndpointWriter:
    """Writes one EndpointChange (plus the attachment annotation). Conflicts are raised, not retried:
    the caller refreshes the endpoint (`refresh`) and decides again."""

    def __init__(self, kube: k8s.Kube, cache: Cache, metrics: AgentMetrics):
        self.kube, self.cache, self.metrics = kube, cache, metrics

    def after_add(self, change: EndpointChange | None, *, namespace: str, name: str, attach: Attachment) -> None:
        raw = self.cache.raw(k8s.ENDPOINTS, (namespace, name))
        if change is None:
            if raw is None or attachments(raw).get(attach.nic) == attach:
                return
            known = attachments(raw)
            known[attach.nic] = attach
            self._replace(raw, raw.get("status") or {}, known, raw["metadata"].get("resourceVersion"))
            return
        same_pod = raw is not None and ((raw.get("status") or {}).get("current") or {}).get("uid") == \
            (change.status.get("current") or {}).get("uid")
        known = {n: a for n, a in attachments(raw).items() if n in _nics(change.status)} if same_pod else {}
        known[attach.nic] = attach
        if change.resource_version is None:
            body = {"apiVersion": k8s.ENDPOINTS.api_version, "kind": k8s.ENDPOINTS.kind,
                    "metadata": {"name": change.name, "namespace": change.namespace,
                                 "annotations": {ATTACHMENTS: _encode(known)}},
                    "status": dict(change.status)}
            self.metrics.endpoint_writes.inc(verb="create")
            self.cache.offer(k8s.ENDPOINTS, self.kube.create(k8s.ENDPOINTS, body))
            return
        if raw is None:
            raise k8s.NotFound(f"SpiderEndpoint {namespace}/{name} is not in the cache", status=404)
        self._replace(raw, change.status, known, change.resource_version)

    def after_release(self, change: EndpointChange | None) -> None:
        if change is None:
            return
        if change.delete:
            self.metrics.endpoint_writes.inc(verb="delete")
            try:
                self.kube.delete(k8s.ENDPOINTS, change.name, change.namespace, resource_version=change.resource_version)
            except k8s.NotFound:
                pass
            self.cache.forget(k8s.ENDPOINTS, (change.namespace, change.name))
            return
        raw = self.cache.raw(k8s.ENDPOINTS, (change.namespace, change.name))
        if raw is None:
            raise k8s.NotFound(f"SpiderEndpoint {change.namespace}/{change.name} is not in the cache", status=404)
        left = {n: a for n, a in attachments(raw).items() if n in _nics(change.status)}
        self._replace(raw, change.status, left, change.resource_version)

    def forget_attachment(self, namespace: str, name: str, nic: str) -> None:
        """Drop one interface's attachment (its records are gone, the pod keeps the endpoint)."""
        raw = self.cache.raw(k8s.ENDPOINTS, (namespace, name))
        known = attachments(raw)
        if raw is None or nic not in known:
            return
        del known[nic]
        self._replace(raw, raw.get("status") or {}, known, raw["metadata"].get("resourceVersion"))

    def refresh(self, namespace: str, name: str) -> None:
        """Re-read one endpoint (after a conflict) into the cache."""
        obj = k8s.retrying(lambda: self.kube.get(k8s.ENDPOINTS, name, namespace), budget=5.0)
        if obj is None:
            self.cache.forget(k8s.ENDPOINTS, (namespace, name))
        else:
            self.cache.offer(k8s.ENDPOINTS, obj)

    def _replace(self, raw: dict, status: Mapping[str, Any], known: Mapping[str, Attachment],
                 version: str | None) -> None:
        meta = dict(raw["metadata"])
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != ATTACHMENTS}
        if known:
            annotations[ATTACHMENTS] = _encode(known)
        meta.update(annotations=annotations, resourceVersion=version)
        owners = [r for r in meta.get("ownerReferences") or () if r.get("kind") != "Pod"]
        if owners:
            meta["ownerReferences"] = owners
        else:
            meta.pop("ownerReferences", None)
        self.metrics.endpoint_writes.inc(verb="update")
        self.cache.offer(k8s.ENDPOINTS, self.kube.replace(k8s.ENDPOINTS, {**raw, "metadata": meta,
                                                                           "status": dict(status)}))

