"""Shapes of the CNI configuration sections this project writes and reads.

The reconciler renders them into NetworkAttachmentDefinitions; the IPAM plugin
and the coordinator read them back from the runtime's stdin. Keeping both sides
here means a field renamed in one place is renamed everywhere. Standard library
only: the plugins import this on every pod start.
"""

from __future__ import annotations

from typing import Any, Iterable

IPAM_TYPE = "spiderpool"
COORDINATOR_TYPE = "coordinator"

# NetworkSpec coordinator key -> key in the coordinator plugin's CNI config
# (upstream spells the NIC key `podDefaultRouteNic` in NADs).
COORDINATOR_KEYS = {
    "mode": "mode",
    "tunePodRoutes": "tunePodRoutes",
    "podDefaultRouteNIC": "podDefaultRouteNic",
    "hijackCIDR": "hijackCIDR",
    "policyRoutes": "policyRoutes",
    "podRPFilter": "podRPFilter",
    "txQueueLen": "txQueueLen",
    "podMACPrefix": "podMACPrefix",
    "hostRuleTable": "hostRuleTable",
    "detectGateway": "detectGateway",
    "detectIPConflict": "detectIPConflict",
    "vethMTU": "vethMTU",
    "vethLinkAddress": "vethLinkAddress",
    "podDefaultCniNic": "podDefaultCniNic",
}


def ipam_section(*, ipv4_pools: Iterable[str] = (), ipv6_pools: Iterable[str] = ()) -> dict[str, Any]:
    """`{"type": "spiderpool", "default_ipv4_ippool": [...], ...}`; empty lists are left out."""
    section: dict[str, Any] = {"type": IPAM_TYPE}
    if ipv4_pools:
        section["default_ipv4_ippool"] = list(ipv4_pools)
    if ipv6_pools:
        section["default_ipv6_ippool"] = list(ipv6_pools)
    return section


def coordinator_entry(values: dict[str, Any]) -> dict[str, Any]:
    """The chained coordinator plugin entry carrying only the values given."""
    entry: dict[str, Any] = {"type": COORDINATOR_TYPE}
    for spec_key, cni_key in COORDINATOR_KEYS.items():
        if spec_key in values:
            entry[cni_key] = values[spec_key]
    return entry
