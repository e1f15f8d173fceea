"""Typed views of the objects pools are chosen *for*: pods, namespaces, nodes,
StatefulSets and SpiderEndpoints.

Only the fields allocation, release and garbage collection read are kept.
Timestamps become timezone-aware datetimes; nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

STATEFULSET = "StatefulSet"


def parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    uid: str
    node: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    deletion_timestamp: datetime | None = None
    owner_kind: str | None = None  # the top controller, e.g. StatefulSet, Deployment
    owner_name: str | None = None
    restart_policy: str = "Always"  # spec.restartPolicy (the API server's default)
    reason: str = ""  # status.reason, e.g. "Evicted"
    owner_ref: tuple[str, str] | None = None  # (apiVersion, uid) of the controller ownerReference itself

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], *, owner: tuple[str, str] | None = None) -> "PodInfo":
        """`owner` overrides the controller ownerRef (e.g. Deployment resolved through its ReplicaSet)."""
        meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        ref = next((r for r in meta.get("ownerReferences") or () if r.get("controller")), None)
        if owner is None:
            owner = (ref["kind"], ref["name"]) if ref else None
        return cls(
            namespace=meta.get("namespace", "default"), name=meta.get("name", ""), uid=meta.get("uid", ""),
            node=spec.get("nodeName", ""), labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}), phase=status.get("phase", "Pending"),
            deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
            owner_kind=owner[0] if owner else None, owner_name=owner[1] if owner else None,
            restart_policy=spec.get("restartPolicy") or "Always", reason=status.get("reason") or "",
            owner_ref=(str(ref.get("apiVersion", "")), str(ref.get("uid", ""))) if ref else None,
        )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def alive(self) -> bool:
        """Upstream's `IsPodAlive`: its sandbox may be (re)created at any time, so it keeps its IPs.

        Dead: terminating; Succeeded unless restartPolicy is Always; Failed with restartPolicy
        Never; Failed because it was evicted. A Failed pod that may still restart (OnFailure,
        Always) and a Succeeded pod with Always are alive: the kubelet runs them again.
        """
        if self.deletion_timestamp is not None:
            return False
        if self.phase == "Succeeded":
            return self.restart_policy == "Always"
        if self.phase == "Failed":
            return self.restart_policy != "Never" and self.reason != "Evicted"
        return True

    def why_dead(self) -> str:
        """Why `alive` is False, in a few words."""
        if self.deletion_timestamp is not None:
            return "terminating"
        if self.reason == "Evicted":
            return f"phase {self.phase}, evicted"
        return f"phase {self.phase}, restartPolicy {self.restart_policy}"

    @property
    def of_statefulset(self) -> bool:
        return self.owner_kind == STATEFULSET and bool(self.owner_name)


@dataclass(frozen=True)
class NamespaceInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "NamespaceInfo":
        meta = obj.get("metadata") or {}
        return cls(meta.get("name", ""), dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))


@dataclass(frozen=True)
class NodeInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "NodeInfo":
        meta = obj.get("metadata") or {}
        return cls(meta.get("name", ""), dict(meta.get("labels") or {}))


@dataclass(frozen=True)
class StatefulSetInfo:
    namespace: str
    name: str
    replicas: int = 1
    ordinal_start: int = 0
    terminating: bool = False

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "StatefulSetInfo":
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        replicas = spec.get("replicas")
        return cls(meta.get("namespace", "default"), meta.get("name", ""), 1 if replicas is None else int(replicas),
                   int((spec.get("ordinals") or {}).get("start") or 0), bool(meta.get("deletionTimestamp")))

    def wants(self, pod_name: str) -> bool:
        """Whether a pod of this name is within the set's ordinals (so its IP is kept)."""
        prefix, _, ordinal = pod_name.rpartition("-")
        if self.terminating or prefix != self.name or not ordinal.isdigit():
            return False
        return self.ordinal_start <= int(ordinal) < self.ordinal_start + self.replicas


@dataclass(frozen=True)
class EndpointNic:
    interface: str
    ipv4: str | None = None  # CIDR form, as written: "10.6.168.61/16"
    ipv4_pool: str | None = None
    ipv6: str | None = None
    ipv6_pool: str | None = None

    def address(self, version: int) -> tuple[str | None, str | None]:
        """(bare ip, pool) of one family."""
        cidr, pool = (self.ipv4, self.ipv4_pool) if version == 4 else (self.ipv6, self.ipv6_pool)
        return (cidr.partition("/")[0] if cidr else None), pool


@dataclass(frozen=True)
class Endpoint:
    """A SpiderEndpoint: one per pod (same name), NIC -> addresses, owner pod UID."""

    namespace: str
    name: str
    uid: str
    node: str = ""
    nics: tuple[EndpointNic, ...] = ()
    owner_kind: str | None = None
    owner_name: str | None = None
    resource_version: str = ""
    status: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "Endpoint":
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        current = status.get("current") or {}
        nics = tuple(
            EndpointNic(item.get("interface", ""), item.get("ipv4"), item.get("ipv4Pool"),
                        item.get("ipv6"), item.get("ipv6Pool"))
            for item in current.get("ips") or ())
        return cls(meta.get("namespace", "default"), meta.get("name", ""), current.get("uid", ""),
                   current.get("node", ""), nics, status.get("ownerControllerType"),
                   status.get("ownerControllerName"), str(meta.get("resourceVersion", "")), status)

    def nic(self, interface: str) -> EndpointNic | None:
        return next((n for n in self.nics if n.interface == interface), None)

    def interface_of(self, ip: str) -> str | None:
        for nic in self.nics:
            if ip in (nic.address(4)[0], nic.address(6)[0]):
                return nic.interface
        return None


def statefulset_keeps(namespace: str, pod_name: str, owner_name: str | None,
                      statefulsets: Mapping[tuple[str, str], StatefulSetInfo]) -> bool:
    """A StatefulSet pod's IP is kept while its set exists and the ordinal is in range.

    An unknown set (not in `statefulsets`) keeps nothing: the caller must supply the
    sets it knows; release and GC then follow upstream (§3.10-3.12).
    """
    sts = statefulsets.get((namespace, owner_name or ""))
    return sts is not None and sts.wants(pod_name)
