"""What an allocation gives one interface (addresses, gateway, routes) and the
SpiderEndpoint status that records it.

Routes per interface (upstream §3.5, §2): a default route via each pool's
gateway unless `cleangateway`; the pool's `spec.routes`; and the pod's
`ipam.spidernet.io/routes` entries whose gateway lies in the subnet of an address
on this interface (the others belong to another interface or to none, and are
only noted). The first route for a destination wins; later ones are noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from netaddr import IPAddress, IPNetwork

from .model import Pool, RouteSpec
from .workload import Endpoint, PodInfo

DEFAULT_DST = {4: "0.0.0.0/0", 6: "::/0"}


@dataclass(frozen=True)
class Address:
    version: int
    ip: str
    cidr: str  # ip/prefix of the pool's subnet, e.g. "10.6.168.61/16"
    pool: str
    gateway: str | None
    vlan: int = 0


@dataclass(frozen=True)
class Route:
    dst: str
    gw: str


@dataclass(frozen=True)
class NicResult:
    nic: str
    addresses: tuple[Address, ...]  # IPv4 first
    routes: tuple[Route, ...]
    clean_gateway: bool

    def address(self, version: int) -> Address | None:
        return next((a for a in self.addresses if a.version == version), None)


@dataclass(frozen=True)
class EndpointChange:
    """Create, update or delete the pod's SpiderEndpoint (namespaced, named after the pod)."""

    namespace: str
    name: str
    status: Mapping[str, Any] | None  # None: delete the endpoint
    owner_pod_uid: str | None = None  # ownerReference to the pod; None for StatefulSet pods (it must outlive them)
    resource_version: str | None = None  # of the endpoint this was decided on; None: it does not exist yet

    @property
    def delete(self) -> bool:
        return self.status is None


def address_of(pool: Pool, ip: str) -> Address:
    return Address(pool.version, ip, f"{ip}/{pool.prefix}", pool.name, pool.gateway, pool.vlan)


def plan_routes(nic: str, held: list[tuple[Address, Pool]], wanted: tuple[RouteSpec, ...],
                clean_gateway: bool) -> tuple[tuple[Route, ...], list[str]]:
    routes: list[Route] = []
    notes: list[str] = []
    for address, pool in held:
        if address.gateway and not clean_gateway:
            routes.append(Route(DEFAULT_DST[address.version], address.gateway))
        routes.extend(Route(r.dst, r.gw) for r in pool.routes)
    subnets = [IPNetwork(pool.subnet) for _, pool in held]
    for spec in wanted:
        gw = IPAddress(spec.gw)
        if any(gw.version == s.version and gw in s for s in subnets):
            routes.append(Route(spec.dst, spec.gw))
        else:
            notes.append(f"route {spec.dst} via {spec.gw}: the gateway is in no subnet of {nic}; not attached to {nic}")
    unique: dict[str, Route] = {}
    for route in routes:
        if route.dst in unique and unique[route.dst] != route:
            notes.append(f"route {route.dst} via {route.gw} ignored on {nic}: {route.dst} already goes via "
                         f"{unique[route.dst].gw}")
        unique.setdefault(route.dst, route)
    return tuple(unique.values()), notes


def endpoint_entry(result: NicResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"interface": result.nic}
    for address in result.addresses:
        family = f"ipv{address.version}"
        entry[family], entry[f"{family}Pool"] = address.cidr, address.pool
        if address.gateway:
            entry[f"{family}Gateway"] = address.gateway
    entry["vlan"] = result.addresses[0].vlan if result.addresses else 0
    entry["cleanGateway"] = result.clean_gateway
    custom = [{"dst": r.dst, "gw": r.gw} for r in result.routes if r.dst not in DEFAULT_DST.values()]
    if custom:
        entry["routes"] = custom
    return entry


def endpoint_change(pod: PodInfo, result: NicResult, existing: Endpoint | None, *,
                    keep_other_nics: bool) -> EndpointChange | None:
    """The endpoint after this NIC's result; None when the existing one already says so."""
    entry = endpoint_entry(result)
    entries = []
    if existing is not None and keep_other_nics:  # keep the other NICs in place, replace this one
        entries = [entry if e.get("interface") == result.nic else dict(e)
                   for e in (existing.status.get("current") or {}).get("ips") or ()]
    if entry not in entries:
        entries.append(entry)
    status = {
        "current": {"uid": pod.uid, "node": pod.node, "ips": entries},
        "ownerControllerType": pod.owner_kind or "Pod",
        "ownerControllerName": pod.owner_name or pod.name,
    }
    if existing is not None and existing.status == status:
        return None
    return EndpointChange(pod.namespace, pod.name, status, None if pod.of_statefulset else pod.uid,
                          existing.resource_version if existing else None)
