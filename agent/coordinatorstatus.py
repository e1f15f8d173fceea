"""The SpiderCoordinator status sync (`spiderpool controller`): discovered CIDRs into `default`'s status.

Why it exists: `coordinator.discovery` decides, from what the cluster says, which pod and service CIDRs
the coordinator should treat as the cluster's own and whether it is Synced; this module reads
those inputs (kubeadm-config, kube-controller-manager pods, Calico pools of both API groups,
cilium-config), and writes `status.phase/reason/overlayPodCIDR/serviceCIDR` through the status
subresource — only when they differ from what is there, so a steady cluster sees no writes.
It runs a pass at start and every `interval` (upstream resyncs every 60 s).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from agent import kube as k8s
from cni.allocation import SYSTEM_NAMESPACE
from coordinator.discovery import Discovery, Sources, cni_type_of, discover

from .coordinator import DEFAULT_COORDINATOR
from .logs import Log

COORDINATORS = k8s.COORDINATORS
CONFIGMAPS = k8s.Kind("", "v1", "configmaps", "ConfigMap", True)
CALICO_POOLS = (k8s.Kind("crd.projectcalico.org", "v1", "ippools", "IPPool", False),
                k8s.Kind("projectcalico.org", "v3", "ippools", "IPPool", False))
SYSTEM = SYSTEM_NAMESPACE


def read_sources(kube: k8s.Kube, *, cni_conf_dir: str | None = None) -> Sources:
    pods, _ = kube.list(k8s.PODS, namespace=SYSTEM, label_selector="component=kube-controller-manager")
    return Sources(kubeadm_config=kube.get(CONFIGMAPS, "kubeadm-config", SYSTEM),
                   controller_manager_pods=tuple(pods), calico_pools=tuple(_calico_pools(kube)),
                   cilium_config=kube.get(CONFIGMAPS, "cilium-config", SYSTEM),
                   cni_type=first_cni_type(cni_conf_dir) if cni_conf_dir else None)


def _calico_pools(kube: k8s.Kube) -> list[dict]:
    pools: list[dict] = []
    for kind in CALICO_POOLS:
        try:
            pools += kube.list(kind)[0]
        except k8s.NotFound:  # that API group is not served: Calico is not installed that way
            continue
    return pools


def first_cni_type(directory: str) -> str | None:
    """podCIDRType implied by the first CNI config in `directory` (as upstream's `auto`), None if none."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith((".conf", ".conflist", ".json")))
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(directory, name)) as handle:
                conf = json.load(handle)
        except (OSError, ValueError):
            continue
        plugins = conf.get("plugins") or [conf]
        return cni_type_of(str((plugins[0] or {}).get("type") or ""), str(conf.get("name") or ""))
    return None


def status_differs(current: dict[str, Any], discovery: Discovery) -> bool:
    wanted = discovery.status()
    return any((current.get(key) or ("" if key in ("phase", "reason") else [])) != value
               for key, value in wanted.items())


class CoordinatorStatusSync:
    def __init__(self, kube: k8s.Kube, *, interval: float = 60.0, cni_conf_dir: str | None = None,
                 log: Log | None = None):
        self.kube, self.interval, self.cni_conf_dir = kube, interval, cni_conf_dir
        self.log = log or Log("coordinator-status")
        self.writes = 0

    def sync_once(self) -> Discovery | None:
        """One pass: -> what was discovered, None when there is no SpiderCoordinator `default`."""
        coordinator = self.kube.get(COORDINATORS, DEFAULT_COORDINATOR)
        if coordinator is None:
            return None
        pod_cidr_type = str((coordinator.get("spec") or {}).get("podCIDRType") or "auto")
        discovery = discover(pod_cidr_type, read_sources(self.kube, cni_conf_dir=self.cni_conf_dir))
        current = coordinator.get("status") or {}
        if not status_differs(current, discovery):
            return discovery
        coordinator["status"] = {**current, **discovery.status()}
        self.kube.replace_status(COORDINATORS, coordinator)  # guarded by its resourceVersion
        self.writes += 1
        self.log.info("coordinator status updated", phase=discovery.phase, reason=discovery.reason,
                      pods=",".join(discovery.pod_cidrs), services=",".join(discovery.service_cidrs))
        return discovery

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
                wait = self.interval
            except k8s.Conflict:
                wait = 0.2  # changed under us: read again soon
            except k8s.ApiError as error:
                self.log.warning("coordinator status sync failed", error=str(error))
                wait = min(self.interval, 5.0)
            stop.wait(wait)
