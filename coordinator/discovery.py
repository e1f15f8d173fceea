"""Cluster CIDR discovery: which pod and service CIDRs the SpiderCoordinator status reports.

Why it exists: the coordinator (overlay mode) must keep traffic to the cluster's own pod and
service CIDRs on the overlay NIC, and upstream learns those CIDRs from the cluster rather than
asking the operator (reference §1.6/§6). This module is pure: it takes what the controller read
(`Sources`) and the coordinator's `podCIDRType`, and says what the status should be
(`Discovery`). The reading and the status write live in `agent.coordinatorstatus`.

Sources, by `podCIDRType`:

    cluster  pods and services from kube-system/kubeadm-config (ClusterConfiguration
             networking.podSubnet / serviceSubnet), else from the kube-controller-manager pod's
             --cluster-cidr / --service-cluster-ip-range
    calico   pods from the Calico IPPools not disabled; services as for `cluster`
    cilium   pods from kube-system/cilium-config (cluster-pool CIDRs; `ipam: kubernetes` -> as
             for `cluster`); services as for `cluster`
    none     nothing is needed: Synced, no pod CIDR; services reported when found
    auto     the CNI named by the first CNI config (when the caller knows it), else calico when
             enabled Calico pools exist, cilium when cilium-config exists, otherwise cluster

Nothing found where something is needed -> phase NotReady with a reason naming what was looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import yaml
from netaddr import AddrFormatError, IPNetwork

SYNCED, NOT_READY = "Synced", "NotReady"
POD_CIDR_TYPES = ("auto", "cluster", "calico", "cilium", "none")
Object = Mapping[str, Any]


@dataclass(frozen=True)
class Sources:
    """What the controller read from the cluster (raw objects; absent ones are None / empty)."""

    kubeadm_config: Object | None = None  # ConfigMap kube-system/kubeadm-config
    controller_manager_pods: tuple[Object, ...] = ()  # kube-system pods component=kube-controller-manager
    calico_pools: tuple[Object, ...] = ()  # IPPools of either Calico API group
    cilium_config: Object | None = None  # ConfigMap kube-system/cilium-config
    cni_type: str | None = None  # "calico"/"cilium"/"cluster"/"none" from the first CNI config, if known


@dataclass(frozen=True)
class Discovery:
    phase: str
    reason: str = ""
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()

    def status(self) -> dict[str, Any]:
        """The SpiderCoordinator status fields this discovery owns."""
        return {"phase": self.phase, "reason": self.reason, "overlayPodCIDR": list(self.pod_cidrs),
                "serviceCIDR": list(self.service_cidrs)}


@dataclass(frozen=True)
class _Found:
    cidrs: tuple[str, ...] = ()
    source: str = ""
    looked: tuple[str, ...] = field(default_factory=tuple)


def discover(pod_cidr_type: str, sources: Sources) -> Discovery:
    kind = resolve_type(pod_cidr_type, sources)
    services = _cluster_cidrs(sources, "service")
    if kind == "none":
        return Discovery(SYNCED, "", (), services.cidrs)
    if kind not in ("cluster", "calico", "cilium"):
        return Discovery(NOT_READY, f"unknown podCIDRType {pod_cidr_type!r} (want one of {', '.join(POD_CIDR_TYPES)})")
    pods = {"cluster": lambda: _cluster_cidrs(sources, "pod"), "calico": lambda: _calico_cidrs(sources),
            "cilium": lambda: _cilium_cidrs(sources)}[kind]()
    missing = [f"no pod CIDR ({'; '.join(pods.looked)})"] if not pods.cidrs else []
    if not services.cidrs:
        missing.append(f"no service CIDR ({'; '.join(services.looked)})")
    if missing:
        return Discovery(NOT_READY, f"podCIDRType {kind}: " + "; ".join(missing), pods.cidrs, services.cidrs)
    return Discovery(SYNCED, "", pods.cidrs, services.cidrs)


def resolve_type(pod_cidr_type: str, sources: Sources) -> str:
    if pod_cidr_type != "auto":
        return pod_cidr_type
    if sources.cni_type:
        return sources.cni_type
    if _enabled_calico_pools(sources.calico_pools):
        return "calico"
    if sources.cilium_config is not None:
        return "cilium"
    return "cluster"


def cni_type_of(plugin_type: str, name: str = "") -> str:
    """The podCIDRType a CNI config's first plugin implies (upstream's `auto` rule)."""
    if plugin_type == "calico" or name == "k8s-pod-network":
        return "calico"
    if plugin_type.startswith("cilium"):
        return "cilium"
    return "cluster" if plugin_type == "flannel" else "none"


# -- kubeadm-config and kube-controller-manager ---------------------------------------------------

_KUBEADM_KEYS = {"pod": "podSubnet", "service": "serviceSubnet"}
_KCM_FLAGS = {"pod": "--cluster-cidr", "service": "--service-cluster-ip-range"}


def _cluster_cidrs(sources: Sources, which: str) -> _Found:
    key, flag = _KUBEADM_KEYS[which], _KCM_FLAGS[which]
    looked = []
    if sources.kubeadm_config is None:
        looked.append("no kube-system/kubeadm-config")
    else:
        cidrs = canonical(_split(kubeadm_networking(sources.kubeadm_config).get(key)))
        if cidrs:
            return _Found(cidrs, "kubeadm-config")
        looked.append(f"kubeadm-config has no networking.{key}")
    for pod in sorted(sources.controller_manager_pods, key=lambda p: (p.get("metadata") or {}).get("name", "")):
        cidrs = canonical(_split(_flag(pod, flag)))
        if cidrs:
            return _Found(cidrs, "kube-controller-manager")
    looked.append(f"no kube-controller-manager pod with {flag}" if sources.controller_manager_pods
                  else "no kube-controller-manager pod")
    return _Found((), "", tuple(looked))


def kubeadm_networking(configmap: Object) -> Mapping[str, Any]:
    """ClusterConfiguration.networking from the ConfigMap (YAML; a regex when the YAML is broken)."""
    text = str((configmap.get("data") or {}).get("ClusterConfiguration") or "")
    try:
        doc = yaml.safe_load(text)
        networking = doc.get("networking") if isinstance(doc, dict) else None
        return networking if isinstance(networking, dict) else {}
    except yaml.YAMLError:
        found = {}
        for key in _KUBEADM_KEYS.values():
            match = re.search(rf"^\s*{key}:\s*['\"]?([^'\"\s#]+)", text, re.MULTILINE)
            if match:
                found[key] = match.group(1)
        return found


def _flag(pod: Object, flag: str) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or ():
        words = list(container.get("command") or ()) + list(container.get("args") or ())
        for index, word in enumerate(words):
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
            if word == flag and index + 1 < len(words):
                return words[index + 1]
    return None


# -- Calico and Cilium ----------------------------------------------------------------------------

def _enabled_calico_pools(pools: Iterable[Object]) -> list[Object]:
    enabled = [p for p in pools if not (p.get("spec") or {}).get("disabled")]
    return sorted(enabled, key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "",
                                          (p.get("metadata") or {}).get("name", "")))


def _calico_cidrs(sources: Sources) -> _Found:
    cidrs = canonical((p.get("spec") or {}).get("cidr") for p in _enabled_calico_pools(sources.calico_pools))
    looked = "no enabled Calico IPPool" if not cidrs else ""
    return _Found(cidrs, "calico", (looked,) if looked else ())


def _cilium_cidrs(sources: Sources) -> _Found:
    if sources.cilium_config is None:
        return _Found((), "", ("no kube-system/cilium-config",))
    data = sources.cilium_config.get("data") or {}
    mode = str(data.get("ipam") or "cluster-pool")
    if mode == "kubernetes":
        return _cluster_cidrs(sources, "pod")
    if mode != "cluster-pool":
        return _Found((), "", (f"cilium ipam mode {mode!r} is not supported",))
    cidrs = canonical(_split(data.get("cluster-pool-ipv4-cidr")) + _split(data.get("cluster-pool-ipv6-cidr")))
    return _Found(cidrs, "cilium", () if cidrs else ("cilium-config has no cluster-pool CIDR",))


# -- values ---------------------------------------------------------------------------------------

def _split(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").replace(" ", ",").split(",") if part.strip()]


def canonical(texts: Iterable[Any]) -> tuple[str, ...]:
    """Valid CIDRs as canonical networks, first occurrence order, no duplicates; others dropped."""
    seen: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        try:
            seen.setdefault(str(IPNetwork(str(text)).cidr), None)
        except (AddrFormatError, ValueError, TypeError):
            continue
    return tuple(seen)
